import { randomUUID } from 'node:crypto';
import { signUp } from '../support/factories';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { createTestApp, TestApp } from '../support/test-app';
import { WsClient } from '../support/ws-client';

/**
 * Rules of message:send that only the slower, checked path (media, forwards) or a repeat reaches:
 * who may send into a chat, what may be forwarded, whose clientMessageId a repeat is, what a
 * read that moves nothing says. Each was found untested by mutation testing of the send path.
 */
describe('message:send rules', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  /** Sends a message:send of `fields` under a fresh clientMessageId and expects its refusal with `code`. */
  async function expectRefused(ws: WsClient, fields: Record<string, unknown>, code: string): Promise<void> {
    const clientMessageId = randomUUID();
    ws.send('message:send', { ...fields, clientMessageId });
    expect(await ws.waitFor('message:send:error')).toMatchObject({ code, clientMessageId });
  }
  const messageCount = (chatId: string) => t.backend.sql('SELECT count(*)::int AS n FROM messages WHERE chat_id = $1', [chatId]);

  it('refuses a forward of a group event (SYSTEM message) with FORWARD_NOT_ALLOWED and stores nothing', async () => {
    const [owner, a, b] = await Promise.all([signUp(t), signUp(t), signUp(t)]);
    const groupId = await createGroup(t, owner, [a, b]);
    await t.http().patch(`/api/chats/${groupId}/members/${a.id}/role`).set(owner.auth).send({ role: 'ADMIN' }).expect(200);
    const [event] = await t.backend.sql(`SELECT id FROM messages WHERE chat_id = $1 AND type = 'SYSTEM'`, [groupId]);
    const target = await openDirect(t, owner, b);
    const ows = await connect(t, owner);
    await expectRefused(ows, { chatId: target, text: null, forwardedFromId: event.id }, 'FORWARD_NOT_ALLOWED');
    expect(await messageCount(target)).toEqual([{ n: 0 }]);
    ows.close();
  });

  it('refuses a media type without a mediaUrl (VALIDATION_ERROR): no IMAGE row without its file', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const aws = await connect(t, a);
    for (const type of ['IMAGE', 'AUDIO']) await expectRefused(aws, { chatId, type, text: 'a caption, no file' }, 'VALIDATION_ERROR');
    expect(await messageCount(chatId)).toEqual([{ n: 0 }]);
    aws.close();
  });

  it('lets a group member send a forward (the checked path) though another member blocked them: blocks do not cut groups', async () => {
    const [a, b, c] = await Promise.all([signUp(t), signUp(t), signUp(t)]);
    const groupId = await createGroup(t, a, [b, c]);
    await t.http().post(`/api/users/${a.id}/block`).set(b.auth).expect((res) => expect(res.status).toBeLessThan(300));
    const aws = await connect(t, a);
    const plain = await send(aws, groupId, 'plain text goes the fast way');
    const forward = await send(aws, groupId, '', { text: null, forwardedFromId: plain.id });
    expect(forward).toMatchObject({ chatId: groupId, forwardedFromId: plain.id, text: 'plain text goes the fast way' });
    aws.close();
  });

  it('reading the message already read again announces nothing and answers readAt null', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const [aws, bws] = [await connect(t, a), await connect(t, b)];
    const m = await send(aws, chatId, 'read me');
    await bws.waitFor('message:new', (p) => p.id === m.id);
    const first = await t.http().post(`/api/messages/${m.id}/read`).set(b.auth).expect(200);
    expect(first.body.data.readAt).toEqual(expect.any(String));
    await aws.waitFor('message:read');
    const again = await t.http().post(`/api/messages/${m.id}/read`).set(b.auth).expect(200);
    expect(again.body.data).toEqual({ messageId: m.id, chatId, readAt: null });
    await aws.expectNo('message:read');
    aws.close();
    bws.close();
  });

  it('refuses a send from the direct-chat target who does not see the chat yet: CHAT_NOT_FOUND, nothing stored or revealed', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const bws = await connect(t, b);
    await expectRefused(bws, { chatId, text: 'I should not be here yet' }, 'CHAT_NOT_FOUND');
    expect(await messageCount(chatId)).toEqual([{ n: 0 }]);
    bws.close();
  });

  it("keeps clientMessageIds per sender: another member's send (checked path) with one already used in the chat is stored, not answered with their message", async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const [aws, bws] = [await connect(t, a), await connect(t, b)];
    const theirs = await send(aws, chatId, 'from a', { clientMessageId: 'm-1' });
    const mine = await send(bws, chatId, '', { text: null, forwardedFromId: theirs.id, clientMessageId: 'm-1' });
    expect(mine).toMatchObject({ forwardedFromId: theirs.id, sender: { id: b.id } });
    expect(mine.id).not.toBe(theirs.id);
    aws.close();
    bws.close();
  });
});
