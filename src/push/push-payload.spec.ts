import { MEDIA_BODY, PushableMessage, pushPayload, SECRET_BODY } from './push-payload';

describe('pushPayload', () => {
  const message = (over: Partial<PushableMessage> = {}): PushableMessage => ({
    chatId: 'c1',
    chatType: 'DIRECT',
    type: 'TEXT',
    text: 'hello',
    senderNickname: 'alice',
    senderFirstName: 'Alice',
    senderLastName: 'Liddell',
    senderAvatar: '/uploads/a.webp',
    ...over,
  });

  it('titles with the display name and links the avatar on the given origin', () => {
    expect(pushPayload(message(), 'https://chat.example.com')).toEqual({
      title: 'Alice Liddell',
      body: 'hello',
      icon: 'https://chat.example.com/uploads/a.webp',
      data: { chatId: 'c1' },
    });
  });

  it('falls back to the nickname, and leaves the icon out without an avatar or an origin', () => {
    expect(pushPayload(message({ senderFirstName: ' ', senderLastName: null, senderAvatar: null }), 'https://x.example')).toEqual({ title: 'alice', body: 'hello', data: { chatId: 'c1' } });
    expect(pushPayload(message(), null)).not.toHaveProperty('icon');
  });

  it('cuts the text to 200 characters without splitting an emoji', () => {
    const body = pushPayload(message({ text: '😀'.repeat(250) }), null).body;
    expect([...body]).toHaveLength(200);
    expect(body).toBe('😀'.repeat(200));
  });

  it('shows media as its caption or "📎 Media", and a secret chat as a fixed text', () => {
    expect(pushPayload(message({ type: 'IMAGE', text: null }), null).body).toBe(MEDIA_BODY);
    expect(pushPayload(message({ type: 'FILE', text: 'the report' }), null).body).toBe('the report');
    expect(pushPayload(message({ chatType: 'SECRET', text: null, type: 'TEXT' }), null).body).toBe(SECRET_BODY);
    expect(pushPayload(message({ chatType: 'SECRET', type: 'IMAGE', text: null }), null).body).toBe(SECRET_BODY);
  });
});
