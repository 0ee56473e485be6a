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

/**
 * Sends a text over the socket and resolves the stored message as it comes back to the sender;
 * rejects at once with the refusal's code when the server answers message:send:error instead.
 */
export async function send(ws: WsClient, chatId: string, text: string, extra: Record<string, unknown> = {}): Promise<any> {
  const clientMessageId = (extra.clientMessageId as string | undefined) ?? randomUUID();
  ws.send('message:send', { chatId, text, ...extra, clientMessageId });
  const answer = await ws.waitForFrame(
    (f) => (f.event === 'message:new' || f.event === 'message:send:error') && f.payload?.clientMessageId === clientMessageId,
    `'message:new' for ${clientMessageId}`,
  );
  if (answer.event === 'message:send:error') throw new Error(`message:send refused: ${answer.payload.code} ${answer.payload.message}`);
  return answer.payload;
}

/** Adds `n` made-up members to a group straight in the database (for the 200-member limit). */
export async function fillGroup(t: TestApp, chatId: string, n: number): Promise<void> {
  await t.backend.sql(
    `WITH u AS (
       INSERT INTO users (id, email, nickname)
       SELECT gen_random_uuid(), 'filler-' || r || '@example.com', 'filler' || r
         FROM (SELECT replace(gen_random_uuid()::text, '-', '') AS r FROM generate_series(1, $2)) s
       RETURNING id)
     INSERT INTO chat_members (chat_id, user_id, id, role) SELECT $1, u.id, gen_random_uuid(), 'MEMBER' FROM u`,
    [chatId, n],
  );
}
