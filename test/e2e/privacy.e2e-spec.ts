import { randomBytes } from 'node:crypto';
import { newId } from '../../src/core/database/ids';
import { PresenceRepository } from '../../src/presence/presence.repository';
import { eventually, signUp, TestUser } from '../support/factories';
import { ogg } from '../support/media-fixtures';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { createTestApp, TestApp } from '../support/test-app';
import { WsClient } from '../support/ws-client';
import { holdFirstCall } from '../support/races';

/**
 * What privacy settings and blocks keep from other users: read receipts as the reader's
 * showReadReceipts allows, nothing written or relayed across a block in a pair chat, no profile
 * updates or presence across a block, and nothing through a chat its target cannot see yet.
 */
describe('privacy', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  const get = (user: TestUser, path: string) => t.http().get(path).set(user.auth).expect(200);
  const putSettings = (user: TestUser, body: object) => t.http().put('/api/users/me/settings').set(user.auth).send(body).expect(200);
  const block = (blocker: TestUser, blocked: TestUser) => t.http().post(`/api/users/${blocked.id}/block`).set(blocker.auth).expect(200);
  const history = async (user: TestUser, chatId: string, q?: string) =>
    (await get(user, `/api/chats/${chatId}/messages${q ? `?q=${encodeURIComponent(q)}` : ''}`)).body.data.messages;
  const listed = async (user: TestUser, chatId: string) => (await get(user, '/api/chats')).body.data.chats.find((c: { id: string }) => c.id === chatId);
  const receiptsOf = (message: { readReceipts: Array<{ userId: string }> }) => message.readReceipts.map((r) => r.userId);

  /** Two users with a direct chat that has a message from each (so both see it), and a socket each. */
  async function pair(): Promise<{ a: TestUser; b: TestUser; chatId: string; aws: WsClient; bws: WsClient; fromA: any; fromB: any }> {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const [aws, bws] = [await connect(t, a), await connect(t, b)];
    const fromA = await send(aws, chatId, 'hello from a');
    const fromB = await send(bws, chatId, 'hello from b');
    await bws.waitFor('message:new', (p) => p.id === fromA.id);
    await aws.waitFor('message:new', (p) => p.id === fromB.id);
    return { a, b, chatId, aws, bws, fromA, fromB };
  }

  /**
   * Resolves once every event published to `user` before the call has reached `ws`: the user's
   * own user:updated travels the same bus after them. What did not arrive by then was not sent.
   */
  async function settle(user: TestUser, ws: WsClient): Promise<void> {
    const marker = `settle ${randomBytes(6).toString('hex')}`;
    await t.http().patch('/api/users/me').set(user.auth).send({ bio: marker }).expect(200);
    await ws.waitFor('user:updated', (p) => p.id === user.id && p.bio === marker);
  }

  /** Resolves once the server has handled every frame sent on `ws` so far (frames are handled in order). */
  async function handled(ws: WsClient): Promise<void> {
    ws.send('test:sentinel');
    await ws.waitFor('error', (p) => p.code === 'UNKNOWN_EVENT');
  }

  const unconsumed = (ws: WsClient, events: string[], predicate: (payload: any) => boolean = () => true) =>
    ws.frames.filter((f) => events.includes(f.event) && predicate(f.payload)).map((f) => f.event);

  /** A voice message of a real upload, stored directly (sending it is beside the point here). */
  async function voice(chatId: string, sender: TestUser): Promise<string> {
    const audio = (await t.http().post('/api/upload').set(sender.auth).attach('file', ogg(), 'v.ogg').expect(201)).body.data;
    const [row] = await t.backend.sql(
      `WITH s AS (UPDATE chats SET message_seq = message_seq + 1 WHERE id = $1 RETURNING message_seq)
       INSERT INTO messages (id, chat_id, sender_id, seq, type, media_url) SELECT $3, $1, $2, s.message_seq, 'AUDIO', $4 FROM s RETURNING id`,
      [chatId, sender.id, newId(), audio.url],
    );
    return row.id;
  }

  describe('read receipts', () => {
    it('leaves a reader with showReadReceipts off out of readReceipts in history, search, the chat list and message events; the reader still sees their own and other people\'s', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const probe = await send(aws, chatId, 'receipt probe');
      await putSettings(b, { showReadReceipts: false });
      await t.http().post(`/api/messages/${probe.id}/read`).set(b.auth).expect(200);

      // The sender sees no receipt from b, wherever the message appears.
      expect(receiptsOf((await history(a, chatId))[0])).toEqual([]);
      expect(receiptsOf((await history(a, chatId, 'probe'))[0])).toEqual([]);
      const searched = (await get(a, '/api/messages/search?q=probe')).body.data.messages.find((m: { id: string }) => m.id === probe.id);
      expect(receiptsOf(searched)).toEqual([]);
      expect(receiptsOf((await listed(a, chatId)).lastMessage)).toEqual([]);
      expect(receiptsOf((await get(a, `/api/chats/${chatId}`)).body.data.lastMessage)).toEqual([]);
      // The reader's own receipt is theirs to see.
      expect((await history(b, chatId))[0].readReceipts).toEqual([{ userId: b.id, readAt: expect.any(String) }]);

      // An edit answers and tells each member what they may see.
      const edited = (await t.http().patch(`/api/messages/${probe.id}`).set(a.auth).send({ text: 'receipt probe, edited' }).expect(200)).body.data;
      expect(receiptsOf(edited)).toEqual([]);
      expect(receiptsOf(await aws.waitFor('message:edited', (p) => p.id === probe.id))).toEqual([]);
      expect(receiptsOf(await bws.waitFor('message:edited', (p) => p.id === probe.id))).toEqual([b.id]);

      // So does a deletion that makes the probe the chat's last message again.
      const extra = await send(aws, chatId, 'to be deleted');
      await t.http().delete(`/api/messages/${extra.id}`).set(a.auth).expect(200);
      expect(receiptsOf((await aws.waitFor('message:deleted', (p) => p.messageId === extra.id)).newLastMessage)).toEqual([]);
      expect(receiptsOf((await bws.waitFor('message:deleted', (p) => p.messageId === extra.id)).newLastMessage)).toEqual([b.id]);

      // The setting hides what b reveals, not what b sees: a's receipts still reach b.
      const reply = await send(bws, chatId, 'reply');
      await t.http().post(`/api/messages/${reply.id}/read`).set(a.auth).expect(200);
      expect(await bws.waitFor('message:read', (p) => p.messageId === reply.id)).toMatchObject({ readBy: a.id });
      expect(receiptsOf((await history(b, chatId))[0])).toEqual([a.id]);
      aws.close();
      bws.close();
    });

    it('shows a `contacts` reader\'s receipts only to their contacts, and never across a block', async () => {
      const [owner, friend, other, reader] = await Promise.all([signUp(t), signUp(t), signUp(t), signUp(t)]);
      const groupId = await createGroup(t, owner, [friend, other, reader]);
      await putSettings(reader, { showReadReceipts: 'contacts' });
      await t.http().post(`/api/contacts/${friend.id}`).set(reader.auth).expect(200);
      await t.http().post(`/api/contacts/${owner.id}`).set(reader.auth).expect(200);
      await block(owner, reader);
      const [ows, fws, xws] = [await connect(t, owner), await connect(t, friend), await connect(t, other)];
      const m = await send(ows, groupId, 'group probe');

      await t.http().post(`/api/messages/${m.id}/read`).set(reader.auth).expect(200);
      expect(await fws.waitFor('message:read', (p) => p.messageId === m.id)).toMatchObject({ readBy: reader.id });
      await settle(owner, ows);
      await settle(other, xws);
      expect(unconsumed(ows, ['message:read'])).toEqual([]);
      expect(unconsumed(xws, ['message:read'])).toEqual([]);

      for (const [viewer, expected] of [
        [friend, [reader.id]],
        [other, []],
        [owner, []],
      ] as Array<[TestUser, string[]]>) {
        expect(receiptsOf((await history(viewer, groupId))[0])).toEqual(expected);
        expect(receiptsOf((await listed(viewer, groupId)).lastMessage)).toEqual(expected);
      }
      [ows, fws, xws].forEach((ws) => ws.close());
    });

    it('applies the same rule to voice listens: no message:listened and no voiceListens entry past a listener\'s setting or across a block', async () => {
      const [owner, open, quiet, blocker] = await Promise.all([signUp(t), signUp(t), signUp(t), signUp(t)]);
      const groupId = await createGroup(t, owner, [open, quiet, blocker]);
      await putSettings(quiet, { showReadReceipts: 'nobody' });
      await block(blocker, owner);
      const voiceId = await voice(groupId, owner);
      await t.backend.sql('UPDATE chats SET last_message_id = $2 WHERE id = $1', [groupId, voiceId]);
      const ows = await connect(t, owner);
      try {
        for (const listener of [quiet, blocker, open]) {
          const ws = await connect(t, listener);
          ws.send('message:listened', { messageId: voiceId, chatId: groupId });
          await handled(ws);
          ws.close();
        }
        // Each listen is stored; the owner hears of the open listener's alone.
        expect(await t.backend.sql('SELECT count(*)::int AS n FROM message_listens WHERE message_id = $1', [voiceId])).toEqual([{ n: 3 }]);
        expect(await ows.waitFor('message:listened', (p) => p.messageId === voiceId)).toMatchObject({ listenedBy: open.id });
        await settle(owner, ows);
        expect(unconsumed(ows, ['message:listened'])).toEqual([]);

        const listenersOf = (message: { voiceListens: Array<{ userId: string }> }) => message.voiceListens.map((l) => l.userId).sort();
        const voiceIn = async (viewer: TestUser) => (await history(viewer, groupId)).find((m: { id: string }) => m.id === voiceId);
        expect(listenersOf(await voiceIn(owner))).toEqual([open.id]);
        expect(listenersOf((await listed(owner, groupId)).lastMessage)).toEqual([open.id]);
        // A listener sees their own listen; the blocker's is kept from the user they blocked only.
        expect(listenersOf(await voiceIn(quiet))).toEqual([blocker.id, open.id, quiet.id].sort());
        expect(listenersOf(await voiceIn(open))).toEqual([blocker.id, open.id].sort());
      } finally {
        ows.close();
      }
    });
  });

  describe('blocks in direct and secret chats', () => {
    it('refuses the blocked user\'s edits, deletions, reactions and listens with BLOCKED; their reads move only their own watermark; the blocker hears of none', async () => {
      const { a, b, chatId, aws, bws, fromA, fromB } = await pair();
      const voiceId = await voice(chatId, a);
      await t.http().post(`/api/messages/${fromA.id}/reactions`).set(b.auth).send({ emoji: '👍' }).expect(200);
      await aws.waitFor('reaction:added');
      const [before] = await t.backend.sql('SELECT last_read_seq::int AS seq FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, b.id]);
      await block(a, b);

      const refused = [
        t.http().patch(`/api/messages/${fromB.id}`).set(b.auth).send({ text: 'rewritten after the block' }),
        t.http().delete(`/api/messages/${fromB.id}`).set(b.auth),
        t.http().post(`/api/messages/${fromA.id}/reactions`).set(b.auth).send({ emoji: '❤️' }),
        t.http().delete(`/api/messages/${fromA.id}/reactions/${encodeURIComponent('👍')}`).set(b.auth),
        t.http().patch(`/api/chats/${chatId}/pin`).set(b.auth).send({ messageId: fromA.id }),
      ];
      for (const res of await Promise.all(refused)) expect([res.status, res.body.code]).toEqual([403, 'BLOCKED']);
      expect(await t.backend.sql('SELECT pinned_message_id FROM chats WHERE id = $1', [chatId])).toEqual([{ pinned_message_id: null }]);
      bws.send('message:read', { messageId: voiceId, chatId });
      bws.send('message:listened', { messageId: voiceId, chatId });
      expect(await bws.waitFor('error')).toMatchObject({ code: 'BLOCKED' });

      expect(await t.backend.sql('SELECT text FROM messages WHERE id = $1', [fromB.id])).toEqual([{ text: 'hello from b' }]);
      expect(await t.backend.sql('SELECT emoji FROM reactions WHERE message_id = $1', [fromA.id])).toEqual([{ emoji: '👍' }]);
      const [voiceRow] = await t.backend.sql('SELECT seq::int AS seq FROM messages WHERE id = $1', [voiceId]);
      expect(voiceRow.seq).toBeGreaterThan(before.seq);
      expect(await t.backend.sql('SELECT last_read_seq::int AS seq FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, b.id])).toEqual([{ seq: voiceRow.seq }]);
      expect(await t.backend.sql('SELECT 1 FROM message_listens WHERE message_id = $1', [voiceId])).toEqual([]);
      await settle(a, aws);
      expect(unconsumed(aws, ['message:edited', 'message:deleted', 'reaction:added', 'reaction:removed', 'message:read', 'message:listened'])).toEqual([]);
      aws.close();
      bws.close();
    });

    it('refuses the blocker\'s writes too, and the blocked user hears of none', async () => {
      const { a, b, chatId, aws, bws, fromA, fromB } = await pair();
      await block(a, b);

      aws.send('message:send', { chatId, text: 'one last word', clientMessageId: newId() });
      expect(await aws.waitFor('message:send:error')).toMatchObject({ code: 'BLOCKED' });
      const refused = [
        t.http().patch(`/api/messages/${fromA.id}`).set(a.auth).send({ text: 'rewritten by the blocker' }),
        t.http().delete(`/api/messages/${fromA.id}`).set(a.auth),
        t.http().post(`/api/messages/${fromB.id}/reactions`).set(a.auth).send({ emoji: '😂' }),
        t.http().patch(`/api/chats/${chatId}/pin`).set(a.auth).send({ messageId: fromB.id }),
      ];
      for (const res of await Promise.all(refused)) expect([res.status, res.body.code]).toEqual([403, 'BLOCKED']);
      // Reading what came before the block clears the blocker's own unread count; no receipt crosses.
      await t.http().post(`/api/messages/${fromB.id}/read`).set(a.auth).expect(200);
      const [{ seq: fromBSeq }] = await t.backend.sql('SELECT seq::int AS seq FROM messages WHERE id = $1', [fromB.id]);
      expect(await t.backend.sql('SELECT last_read_seq::int AS seq FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, a.id])).toEqual([{ seq: fromBSeq }]);
      await settle(b, bws);
      expect(unconsumed(bws, ['message:new', 'message:edited', 'message:deleted', 'reaction:added', 'message:read', 'chat:updated'])).toEqual([]);
      // A banner pinned before the block can still be taken down, by either side.
      await t.backend.sql('UPDATE chats SET pinned_message_id = $2 WHERE id = $1', [chatId, fromB.id]);
      await t.http().patch(`/api/chats/${chatId}/pin`).set(a.auth).send({ messageId: null }).expect(200);
      expect(await t.backend.sql('SELECT pinned_message_id FROM chats WHERE id = $1', [chatId])).toEqual([{ pinned_message_id: null }]);
      aws.close();
      bws.close();
    });

    it('refuses writes across a block in a secret chat as well', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = newId();
      await t.backend.sql(`INSERT INTO chats (id, type, pair_key, message_seq) VALUES ($1, 'SECRET', $2, 1)`, [chatId, `SECRET:${[a.id, b.id].sort().join(':')}`]);
      await t.backend.sql(`INSERT INTO chat_members (chat_id, user_id, id, role) VALUES ($1, $2, $3, 'MEMBER'), ($1, $4, $5, 'MEMBER')`, [chatId, a.id, newId(), b.id, newId()]);
      const messageId = newId();
      await t.backend.sql(`INSERT INTO messages (id, chat_id, sender_id, seq, type, ciphertext, signal_type) VALUES ($1, $2, $3, 1, 'TEXT', 'b64==', 3)`, [messageId, chatId, b.id]);
      await block(a, b);

      const edit = await t.http().patch(`/api/messages/${messageId}`).set(b.auth).send({ ciphertext: 'c2Vjb25k', signalType: 1 });
      expect([edit.status, edit.body.code]).toEqual([403, 'BLOCKED']);
      const react = await t.http().post(`/api/messages/${messageId}/reactions`).set(a.auth).send({ emoji: '👍' });
      expect([react.status, react.body.code]).toEqual([403, 'BLOCKED']);
      expect(await t.backend.sql('SELECT ciphertext FROM messages WHERE id = $1', [messageId])).toEqual([{ ciphertext: 'b64==' }]);
    });

    it('relays no typing across the block, either way, while a group they share still does', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const groupId = await createGroup(t, a, [b]);
      await block(a, b);

      bws.send('typing:start', { chatId });
      await handled(bws);
      await settle(a, aws);
      expect(unconsumed(aws, ['typing:started'])).toEqual([]);
      aws.send('typing:start', { chatId });
      await handled(aws);
      await settle(b, bws);
      expect(unconsumed(bws, ['typing:started'])).toEqual([]);

      bws.send('typing:start', { chatId: groupId });
      expect(await aws.waitFor('typing:started')).toEqual({ chatId: groupId, userId: b.id, nickname: b.nickname });
      aws.close();
      bws.close();
    });

    it('sends no profile update across the block, either way, even to a group they share', async () => {
      const { a, b, aws, bws } = await pair();
      await createGroup(t, a, [b]);
      await block(a, b);

      await t.http().patch('/api/users/me').set(a.auth).send({ firstName: 'Blocker' }).expect(200);
      expect(await aws.waitFor('user:updated', (p) => p.id === a.id)).toMatchObject({ firstName: 'Blocker' });
      await t.http().patch('/api/users/me').set(b.auth).send({ firstName: 'Blocked' }).expect(200);
      await settle(b, bws);
      await settle(a, aws);
      expect(unconsumed(bws, ['user:updated'], (p) => p.id === a.id)).toEqual([]);
      expect(unconsumed(aws, ['user:updated'], (p) => p.id === b.id)).toEqual([]);
      aws.close();
      bws.close();
    });

    it('leaves the blocked user seeing the blocker offline when a block overtakes an unblock in flight', async () => {
      const [a, c] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, a, c);
      const aws = await connect(t, a);
      await send(aws, chatId, 'hi');
      const cws = await connect(t, c);
      await block(a, c);
      await cws.waitFor('user:offline', (p) => p.userId === a.id);
      // The unblock reads that c may see a again, then waits while a blocks c once more and tells c.
      const held = holdFirstCall(PresenceRepository.prototype, 'sight');
      try {
        const unblocking = t.http().delete(`/api/users/${c.id}/block`).set(a.auth).expect(200).then((res) => res);
        await eventually(async () => expect(held.calls()).toBeGreaterThanOrEqual(1));
        await block(a, c);
        held.release();
        await unblocking;
      } finally {
        held.restore();
      }
      await settle(c, cws);
      const last = cws.received.filter((f) => ['user:online', 'user:offline'].includes(f.event) && f.payload.userId === a.id).pop();
      expect(last).toMatchObject({ event: 'user:offline', payload: { userId: a.id, lastOnline: null } });
      expect((await get(c, `/api/users/${a.id}`)).body.data).toMatchObject({ isOnline: false });
      aws.close();
      cws.close();
    });

    it('sends no presence across the block, either way, and shows each side offline to the other', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, a, b);
      const aws = await connect(t, a);
      await send(aws, chatId, 'hi');
      await block(a, b);
      // The block ends a's sight of b's presence: b shows offline from now on, with no last-seen time.
      expect(await aws.waitFor('user:offline', (p) => p.userId === b.id)).toEqual({ userId: b.id, lastOnline: null });

      const bws = await t.ws({ cookie: b.cookie });
      expect((await bws.waitFor('auth:ok')).onlineUserIds).not.toContain(a.id);
      await bws.waitFor('presence:snapshot');
      for (const ws of [aws, bws]) {
        ws.send('presence:away');
        ws.send('presence:back');
        await handled(ws);
      }
      await settle(a, aws);
      await settle(b, bws);
      expect(unconsumed(aws, ['user:online', 'user:offline'], (p) => p.userId === b.id)).toEqual([]);
      expect(unconsumed(bws, ['user:online', 'user:offline'], (p) => p.userId === a.id)).toEqual([]);

      // Both are online now; neither sees the other so, in a profile or in the chat's members.
      expect((await get(a, `/api/users/${b.id}`)).body.data).toMatchObject({ isOnline: false, lastOnline: null });
      expect((await get(b, `/api/users/${a.id}`)).body.data).toMatchObject({ isOnline: false, lastOnline: null });
      const member = (await listed(a, chatId)).members.find((m: { userId: string }) => m.userId === b.id);
      expect(member.user).toMatchObject({ isOnline: false, lastOnline: null });
      aws.close();
      bws.close();
    });
  });

  describe('a hidden online status', () => {
    it('tells the members of a new group nothing of the online status of a user who shows it to nobody', async () => {
      const [hider, watcher] = await Promise.all([signUp(t), signUp(t)]);
      await putSettings(hider, { showOnlineStatus: 'nobody' });
      const [hws, wws] = [await connect(t, hider), await connect(t, watcher)];
      await createGroup(t, watcher, [hider]);
      await settle(watcher, wws);
      const told = wws.received.filter((f) => ['user:online', 'user:offline'].includes(f.event) && f.payload.userId === hider.id);
      expect(told.filter((f) => f.event === 'user:online')).toEqual([]);
      for (const frame of told) expect(frame.payload).toEqual({ userId: hider.id, lastOnline: null });
      expect((await get(watcher, `/api/users/${hider.id}`)).body.data).toMatchObject({ isOnline: false, lastOnline: null });
      hws.close();
      wws.close();
    });
  });

  describe('a direct chat its target cannot see yet', () => {
    it('relays typing and profile updates to its target only once the first message has revealed the chat', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, a, b);
      const [aws, bws] = [await connect(t, a), await connect(t, b)];

      aws.send('typing:start', { chatId });
      aws.send('typing:stop', { chatId });
      await handled(aws);
      await t.http().patch('/api/users/me').set(a.auth).send({ bio: 'unseen yet' }).expect(200);
      await settle(b, bws);
      expect(unconsumed(bws, ['typing:started', 'typing:stopped', 'user:updated'], (p) => p.userId === a.id || p.id === a.id)).toEqual([]);

      await send(aws, chatId, 'hello');
      await bws.waitFor('chat:new');
      aws.send('typing:start', { chatId });
      expect(await bws.waitFor('typing:started')).toEqual({ chatId, userId: a.id, nickname: a.nickname });
      await t.http().patch('/api/users/me').set(a.auth).send({ bio: 'seen now' }).expect(200);
      expect(await bws.waitFor('user:updated', (p) => p.id === a.id)).toMatchObject({ bio: 'seen now' });
      aws.close();
      bws.close();
    });
  });
});
