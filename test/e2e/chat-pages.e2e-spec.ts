import { connect, createGroup, openDirect, send } from '../support/chats';
import { signUp, TestUser } from '../support/factories';
import { ogg } from '../support/media-fixtures';
import { createTestApp, TestApp } from '../support/test-app';
import { WsClient } from '../support/ws-client';

/**
 * The chat list and the history pages read a message set each (src/messages/message-set.ts):
 * every state a message can be in must read the same through the chat list, GET /api/chats/:id,
 * history and the page around a date, for each viewer, as the events announced it.
 */
describe('chat list and history pages', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  const listed = async (user: TestUser, chatId: string): Promise<any> =>
    (await t.http().get('/api/chats?limit=30').set(user.auth).expect(200)).body.data.chats.find((c: { id: string }) => c.id === chatId);
  const chatOf = async (user: TestUser, chatId: string): Promise<any> => (await t.http().get(`/api/chats/${chatId}`).set(user.auth).expect(200)).body.data;
  const history = async (user: TestUser, chatId: string): Promise<any[]> => (await t.http().get(`/api/chats/${chatId}/messages`).set(user.auth).expect(200)).body.data.messages;
  const around = async (user: TestUser, chatId: string, date: string): Promise<any[]> =>
    (await t.http().get(`/api/chats/${chatId}/messages/around?date=${encodeURIComponent(date)}`).set(user.auth).expect(200)).body.data.messages;

  /** The chat's last message as `user` gets it from the list and GET /api/chats/:id, which must agree with each other and with the newest message of history and of the page around a date. */
  async function lastMessageOf(user: TestUser, chatId: string): Promise<any> {
    const [inList, inChat, page] = await Promise.all([listed(user, chatId), chatOf(user, chatId), history(user, chatId)]);
    expect(inChat.lastMessage).toEqual(inList.lastMessage);
    expect(page[0] ?? null).toEqual(inList.lastMessage);
    if (page.length) expect((await around(user, chatId, page[0].createdAt))[0]).toEqual(page[0]);
    return inList.lastMessage;
  }

  it('shows the last message after an edit, a reaction, a delete for everyone and a hide, to each member as they see it', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const [aws, bws] = await Promise.all([connect(t, a), connect(t, b)]);
    const first = await send(aws, chatId, 'first');
    const second = await send(aws, chatId, 'sceond');

    await t.http().patch(`/api/messages/${second.id}`).set(a.auth).send({ text: 'second' }).expect(200);
    const edited = await bws.waitFor('message:edited', (m) => m.id === second.id);
    const afterEdit = await lastMessageOf(b, chatId);
    expect(afterEdit).toMatchObject({ id: second.id, text: 'second', isEdited: true, createdAt: second.createdAt, updatedAt: edited.updatedAt });
    expect(afterEdit.updatedAt >= afterEdit.createdAt).toBe(true);
    expect(await lastMessageOf(a, chatId)).toMatchObject({ id: second.id, text: 'second', isEdited: true });

    await t.http().post(`/api/messages/${second.id}/reactions`).set(b.auth).send({ emoji: '👍' }).expect(200);
    await aws.waitFor('reaction:added', (r) => r.messageId === second.id);
    expect((await lastMessageOf(a, chatId)).reactions).toEqual([{ id: expect.any(String), messageId: second.id, userId: b.id, emoji: '👍', user: { nickname: b.nickname } }]);

    await t.http().delete(`/api/messages/${second.id}?forEveryone=true`).set(a.auth).expect(200);
    expect(await bws.waitFor('message:deleted', (m) => m.messageId === second.id)).toMatchObject({ newLastMessage: { id: first.id } });
    for (const user of [a, b]) expect(await lastMessageOf(user, chatId)).toMatchObject({ id: first.id, text: 'first', isEdited: false, reactions: [] });
    expect((await listed(b, chatId)).unread).toBe(1);

    // Delete for me: the hider's list falls back to nothing left; the other member keeps the message.
    await t.http().post(`/api/messages/${first.id}/hide`).set(b.auth).expect(200);
    expect(await bws.waitFor('message:deleted', (m) => m.messageId === first.id)).toMatchObject({ newLastMessage: null });
    expect(await lastMessageOf(b, chatId)).toBeNull();
    expect((await listed(b, chatId)).unread).toBe(0);
    expect(await lastMessageOf(a, chatId)).toMatchObject({ id: first.id });
    [aws, bws].forEach((s) => s.close());
  });

  const order = async (user: TestUser): Promise<string[]> => (await t.http().get('/api/chats').set(user.auth).expect(200)).body.data.chats.map((chat: { id: string }) => chat.id);

  /** `a`'s direct chats x (with b) and y (with c): x's first message, then y's only one, then x's newest; x on top of a's list. */
  async function twoChats(): Promise<{ a: TestUser; b: TestUser; x: string; y: string; newest: any; aws: WsClient }> {
    const [a, b, c] = await Promise.all([signUp(t), signUp(t), signUp(t)]);
    const [x, y] = [await openDirect(t, a, b), await openDirect(t, a, c)];
    const aws = await connect(t, a);
    await send(aws, x, 'x first');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await send(aws, y, 'y only');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const newest = await send(aws, x, 'x newest');
    expect(await order(a)).toEqual([x, y]);
    return { a, b, x, y, newest, aws };
  }

  it('orders the list by the last message left after a delete for everyone, as the client orders it by lastMessage', async () => {
    const { a, x, y, newest, aws } = await twoChats();
    await t.http().delete(`/api/messages/${newest.id}?forEveryone=true`).set(a.auth).expect(200);
    expect(await order(a)).toEqual([y, x]);
    aws.close();
  });

  it('orders the hider\'s list, page by page, by the last message they still see after a delete for me; nobody else\'s', async () => {
    const { a, b, x, y, newest, aws } = await twoChats();
    await t.http().post(`/api/messages/${newest.id}/hide`).set(a.auth).expect(200);
    expect(await order(a)).toEqual([y, x]);
    // The cursor follows the same order: one chat a page, each once.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = (await t.http().get(`/api/chats?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`).set(a.auth).expect(200)).body.data;
      paged.push(...page.chats.map((chat: { id: string }) => chat.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(paged).toEqual([y, x]);
    // b still sees x's newest message, and x on top of b's list.
    expect((await order(b))[0]).toBe(x);
    expect((await listed(b, x)).lastMessage).toMatchObject({ id: newest.id });
    aws.close();
  });

  it('shows read receipts and reply previews, of a kept and of a deleted original, on the last message and in history', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const [aws, bws] = await Promise.all([connect(t, a), connect(t, b)]);
    const original = await send(aws, chatId, 'question');
    const reply = await send(bws, chatId, 'answer', { replyToId: original.id });
    expect(await lastMessageOf(a, chatId)).toMatchObject({
      id: reply.id,
      replyToId: original.id,
      replyTo: { id: original.id, text: 'question', sender: { id: a.id, nickname: a.nickname }, isDeleted: false },
      readReceipts: [],
    });

    await t.http().post(`/api/messages/${reply.id}/read`).set(a.auth).expect(200);
    const read = await bws.waitFor('message:read', (r) => r.messageId === reply.id);
    expect((await lastMessageOf(b, chatId)).readReceipts).toEqual([{ userId: a.id, readAt: read.readAt }]);

    await t.http().delete(`/api/messages/${original.id}?forEveryone=true`).set(a.auth).expect(200);
    await bws.waitFor('message:deleted', (m) => m.messageId === original.id);
    for (const user of [a, b]) {
      expect((await lastMessageOf(user, chatId)).replyTo).toEqual({ id: original.id, text: null, sender: null, isDeleted: true });
    }
    [aws, bws].forEach((s) => s.close());
  });

  it('lists the listens of a voice message, once there is one', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const [aws, bws] = await Promise.all([connect(t, a), connect(t, b)]);
    const audio = (await t.http().post('/api/upload').set(a.auth).attach('file', ogg(), 'v.ogg').expect(201)).body.data;
    const voice = await send(aws, chatId, '', { mediaUrl: audio.url });
    expect(voice).toMatchObject({ type: 'AUDIO', voiceListens: [] });
    expect(await lastMessageOf(b, chatId)).not.toHaveProperty('voiceListens');

    bws.send('message:listened', { messageId: voice.id });
    await aws.waitFor('message:listened', (m) => m.messageId === voice.id);
    for (const user of [a, b]) expect((await lastMessageOf(user, chatId)).voiceListens).toEqual([{ userId: b.id }]);
    [aws, bws].forEach((s) => s.close());
  });

  it('shows the sender of a last message and of a replied-to message who left the group', async () => {
    const [owner, member, leaver] = await Promise.all([signUp(t), signUp(t), signUp(t)]);
    const chatId = await createGroup(t, owner, [member, leaver]);
    const [ows, lws] = await Promise.all([connect(t, owner), connect(t, leaver)]);
    const goodbye = await send(lws, chatId, 'bye all');
    await t.http().delete(`/api/chats/${chatId}/leave`).set(leaver.auth).expect(200);
    const left = await ows.waitFor('message:new', (m) => m.type === 'SYSTEM');
    expect(left).toMatchObject({ text: 'member_left', sender: { id: leaver.id } });

    const last = await lastMessageOf(member, chatId);
    expect(last).toMatchObject({ id: left.id, type: 'SYSTEM', sender: { id: leaver.id, nickname: leaver.nickname } });
    expect((await listed(member, chatId)).members.map((m: { userId: string }) => m.userId).sort()).toEqual([owner.id, member.id].sort());

    const quoted = await send(ows, chatId, 'farewell', { replyToId: goodbye.id });
    expect((await lastMessageOf(member, chatId)).replyTo).toEqual({
      id: goodbye.id,
      text: 'bye all',
      sender: { id: leaver.id, nickname: leaver.nickname, firstName: null, lastName: null, avatar: null },
      isDeleted: false,
    });
    expect((await history(member, chatId)).map((m) => m.id)).toEqual([quoted.id, left.id, goodbye.id]);
    [ows, lws].forEach((s) => s.close());
  });
});
