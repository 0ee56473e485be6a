import { randomUUID } from 'node:crypto';
import { TestUser } from './factories';
import { TestApp } from './test-app';
import { WsClient } from './ws-client';

/** Opens (or finds) the direct chat of two users through the API; resolves its id. */
export async function openDirect(t: TestApp, from: TestUser, to: TestUser): Promise<string> {
  const res = await t.http().post('/api/chats/direct').set(from.auth).send({ targetUserId: to.id }).expect(200);
  return res.body.data.id;
}

export async function createGroup(t: TestApp, owner: TestUser, members: TestUser[], name = 'Group'): Promise<string> {
  const res = await t.http().post('/api/chats/group').set(owner.auth).send({ name, memberIds: members.map((m) => m.id) }).expect(201);
  return res.body.data.id;
}

/** A socket authenticated by the user's cookie, past auth:ok and the snapshot. */
export async function connect(t: TestApp, user: TestUser): Promise<WsClient> {
  const ws = await t.ws({ cookie: user.cookie });
  await ws.waitFor('auth:ok');
  await ws.waitFor('presence:snapshot');
  return ws;
}

/** Sends a text over the socket and resolves the stored message as it comes back to the sender. */
export async function send(ws: WsClient, chatId: string, text: string, extra: Record<string, unknown> = {}): Promise<any> {
  const clientMessageId = (extra.clientMessageId as string | undefined) ?? randomUUID();
  ws.send('message:send', { chatId, text, ...extra, clientMessageId });
  return ws.waitFor('message:new', (m) => m.clientMessageId === clientMessageId);
}
