import { DataSource } from 'typeorm';
import { ChatViews } from '../../src/chats/chat-views';
import { ChatsRepository } from '../../src/chats/chats.repository';
import { RealtimePublisher } from '../../src/realtime/realtime-publisher';
import { eventually, signIn, signUp, TestUser } from '../support/factories';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { createSignalDevice } from '../support/signal';
import { createBackend, createTestApp, TestApp, TestBackend, twoInstances } from '../support/test-app';
import { WsClient } from '../support/ws-client';
import { holdFirstCall } from '../support/races';

const FOREVER = '9999-12-31T23:59:59.000Z';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * wire-contract-v2.2 §1.1-§4: the Chat additions, the full chat list and the archive, saved
 * messages, per-member mute / pin / archive, drafts, and the events the caller's devices get.
 */
describe('chat state (v2.2)', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  const users = async (n: number): Promise<TestUser[]> => Promise.all(Array.from({ length: n }, () => signUp(t)));
  const chatOf = async (user: TestUser, chatId: string) => (await t.http().get(`/api/chats/${chatId}`).set(user.auth).expect(200)).body.data;
  const listOf = async (user: TestUser, query = '') => (await t.http().get(`/api/chats${query}`).set(user.auth).expect(200)).body.data;
  const ids = (chats: Array<{ id: string }>) => chats.map((c) => c.id);
  /** The ids of the user's chat list read `limit` at a time, cursor after cursor. */
  async function pagedIds(user: TestUser, limit: number): Promise<string[]> {
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { chats: Array<{ id: string }>; nextCursor: string | null } = await listOf(user, `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...ids(page.chats));
      cursor = page.nextCursor;
    } while (cursor);
    return paged;
  }
  const rowOf = (chat: { members: Array<{ userId: string }> }, user: TestUser): any => chat.members.find((m) => m.userId === user.id);
  const memberRow = async (chatId: string, user: TestUser) =>
    (await t.backend.sql('SELECT pinned_at, muted_until, archived_at, draft_text, draft_reply_to_id, draft_updated_at FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, user.id]))[0];
  /** A direct chat both users see (it has a message), with the sender's socket closed again. */
  async function sharedDirect(a: TestUser, b: TestUser): Promise<string> {
    const chatId = await openDirect(t, a, b);
    const ws = await connect(t, a);
    await send(ws, chatId, 'hello');
    ws.close();
    return chatId;
  }
  const mute = (user: TestUser, chatId: string, body: unknown) => t.http().patch(`/api/chats/${chatId}/mute`).set(user.auth).send(body as object);
  const pin = (user: TestUser, chatId: string, pinned: boolean) => t.http().patch(`/api/chats/${chatId}/pin-chat`).set(user.auth).send({ pinned });
  const archive = (user: TestUser, chatId: string, archived: boolean) => t.http().patch(`/api/chats/${chatId}/archive`).set(user.auth).send({ archived });
  const putDraft = (user: TestUser, chatId: string, body: unknown) => t.http().put(`/api/chats/${chatId}/draft`).set(user.auth).send(body as object);

  describe('the Chat object', () => {
    it('carries numericId, description, pinnedMessageId, the caller\'s draft and archive time, and per-member pin and mute', async () => {
      const [owner, member] = await users(2);
      const first = await createGroup(t, owner, [member], 'One');
      const second = await createGroup(t, owner, [member], 'Two');
      const chat = await chatOf(owner, first);
      expect(chat).toEqual({
        id: first,
        type: 'GROUP',
        numericId: expect.any(Number),
        name: 'One',
        description: null,
        avatar: null,
        pinnedMessageId: null,
        createdAt: expect.stringMatching(ISO),
        members: expect.arrayContaining([
          { id: expect.any(String), userId: owner.id, chatId: first, role: 'OWNER', joinedAt: expect.stringMatching(ISO), pinnedAt: null, mutedUntil: null, user: expect.objectContaining({ id: owner.id }) },
          { id: expect.any(String), userId: member.id, chatId: first, role: 'MEMBER', joinedAt: expect.stringMatching(ISO), pinnedAt: null, mutedUntil: null, user: expect.objectContaining({ id: member.id }) },
        ]),
        lastMessage: null,
        unread: 0,
        draft: null,
        archivedAt: null,
      });
      expect(chat.members).toHaveLength(2);
      expect(Number.isInteger(chat.numericId)).toBe(true);
      // A group member's user carries no blockedByThem: that flag belongs to pair chats.
      expect(rowOf(chat, member).user).not.toHaveProperty('blockedByThem');
      const other = await chatOf(member, second);
      expect(other.numericId).not.toBe(chat.numericId);
      expect((await chatOf(member, first)).numericId).toBe(chat.numericId);
    });

    it('marks the partner of a direct chat blockedByThem for the user they blocked, and only for them', async () => {
      const [a, b] = await users(2);
      const chatId = await sharedDirect(a, b);
      expect(rowOf(await chatOf(a, chatId), b).user.blockedByThem).toBe(false);
      await t.http().post(`/api/users/${a.id}/block`).set(b.auth).expect((res) => expect(res.status).toBeLessThan(300));
      const seenByA = await chatOf(a, chatId);
      expect(rowOf(seenByA, b).user.blockedByThem).toBe(true);
      expect(rowOf(seenByA, a).user.blockedByThem).toBe(false);
      const seenByB = await chatOf(b, chatId);
      expect(rowOf(seenByB, a).user.blockedByThem).toBe(false);
      expect(rowOf((await listOf(a)).chats.find((c: { id: string }) => c.id === chatId), b).user.blockedByThem).toBe(true);
    });
  });

  describe('the chat list', () => {
    it('lists every chat when no limit is given (the web client never pages), and pages with a cursor when one is', async () => {
      const [me] = await users(1);
      const created: string[] = [];
      for (let i = 0; i < 32; i++) created.push(await createGroup(t, me, [], `g${i}`));
      const all = await listOf(me);
      expect(all.chats).toHaveLength(32);
      expect(all.nextCursor).toBeNull();
      expect(ids(all.chats)).toEqual([...created].reverse());
      const paged: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { chats: Array<{ id: string }>; nextCursor: string | null } = await listOf(me, `?limit=10${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.chats.length).toBeLessThanOrEqual(10);
        paged.push(...ids(page.chats));
        cursor = page.nextCursor;
      } while (cursor);
      expect(paged).toEqual(ids(all.chats));
    });

    it('puts pinned chats first, oldest pin first, then the rest by newest activity; pages keep that order', async () => {
      const [me, other] = await users(2);
      const [g1, g2, g3, g4] = [await createGroup(t, me, [other], '1'), await createGroup(t, me, [other], '2'), await createGroup(t, me, [other], '3'), await createGroup(t, me, [other], '4')];
      await pin(me, g2, true).expect(200);
      await pin(me, g1, true).expect(200);
      const expected = [g2, g1, g4, g3];
      expect(ids((await listOf(me)).chats)).toEqual(expected);
      const paged = await pagedIds(me, 1);
      expect(paged).toEqual(expected);
      // Pins are the pinner's own: the other member's list is by activity alone.
      expect(ids((await listOf(other)).chats)).toEqual([g4, g3, g2, g1]);
      expect((await t.http().get('/api/chats?cursor=MXwy').set(me.auth).expect(422)).body.code).toBe('VALIDATION_ERROR');
    });

    it('pages pinned chats pinned in the same microsecond by id, as its cursor does: none skipped, none twice', async () => {
      const [me, other] = await users(2);
      const groups = [await createGroup(t, me, [other], '1'), await createGroup(t, me, [other], '2'), await createGroup(t, me, [other], '3')];
      for (const chatId of groups) await pin(me, chatId, true).expect(200);
      // One pin time for all three, and activity in the reverse of id order (ties broken by activity would disagree with the cursor).
      const byId = [...groups].sort();
      await t.backend.sql(`UPDATE chat_members SET pinned_at = '2026-01-01T00:00:00Z' WHERE user_id = $1 AND chat_id = ANY($2::uuid[])`, [me.id, groups]);
      for (const [i, chatId] of byId.entries()) await t.backend.sql(`UPDATE chats SET last_activity_at = '2026-01-01T00:00:00Z'::timestamptz + $2 * interval '1 second' WHERE id = $1`, [chatId, i]);
      expect(ids((await listOf(me)).chats)).toEqual(byId);
      const paged = await pagedIds(me, 1);
      expect(paged).toEqual(byId);
    });
  });

  describe('saved messages', () => {
    it('creates the caller\'s SELF chat once (201, then 200), tells the caller\'s sockets, and lists it before any message', async () => {
      const [me] = await users(1);
      const ws = await connect(t, me);
      // The web client sends Content-Type: application/json with no body.
      const created = await t.http().post('/api/chats/saved').set(me.auth).set('Content-Type', 'application/json').expect(201);
      expect(created.body.data).toEqual({
        id: expect.any(String),
        type: 'SELF',
        numericId: expect.any(Number),
        name: null,
        description: null,
        avatar: null,
        pinnedMessageId: null,
        createdAt: expect.stringMatching(ISO),
        members: [{ id: expect.any(String), userId: me.id, chatId: created.body.data.id, role: 'OWNER', joinedAt: expect.stringMatching(ISO), pinnedAt: null, mutedUntil: null, user: expect.objectContaining({ id: me.id }) }],
        lastMessage: null,
        unread: 0,
        draft: null,
        archivedAt: null,
      });
      expect(await ws.waitFor('chat:new')).toMatchObject({ id: created.body.data.id, type: 'SELF' });
      const again = await t.http().post('/api/chats/saved').set(me.auth).expect(200);
      expect(again.body.data.id).toBe(created.body.data.id);
      await ws.expectNo('chat:new');
      expect((await listOf(me)).chats).toEqual([expect.objectContaining({ id: created.body.data.id, type: 'SELF' })]);
      ws.close();
    });

    it('gives one SELF chat per user however many requests race to create it', async () => {
      const [me, other] = await users(2);
      const answers = await Promise.all(Array.from({ length: 6 }, () => t.http().post('/api/chats/saved').set(me.auth)));
      expect(new Set(answers.map((r) => r.body.data.id)).size).toBe(1);
      expect(answers.filter((r) => r.status === 201)).toHaveLength(1);
      expect(answers.filter((r) => r.status === 200)).toHaveLength(5);
      const mine = await t.backend.sql(`SELECT c.id FROM chats c JOIN chat_members m ON m.chat_id = c.id WHERE c.type = 'SELF' AND m.user_id = $1`, [me.id]);
      expect(mine).toHaveLength(1);
      const theirs = (await t.http().post('/api/chats/saved').set(other.auth).expect(201)).body.data.id;
      expect(theirs).not.toBe(mine[0].id);
    });

    it('carries messages to the owner\'s devices only, with no delivered receipt, and stays invisible to everyone else', async () => {
      const [me, stranger] = await users(2);
      const chatId = (await t.http().post('/api/chats/saved').set(me.auth).expect(201)).body.data.id;
      const [phone, laptop, sws] = [await connect(t, me), await connect(t, me), await connect(t, stranger)];
      const sent = await send(phone, chatId, 'note to self');
      expect(sent).toMatchObject({ chatId, text: 'note to self', sender: expect.objectContaining({ id: me.id }) });
      expect(await laptop.waitFor('message:new', (m) => m.id === sent.id)).toMatchObject({ text: 'note to self' });
      await phone.expectNo('message:delivered');
      await sws.expectNo('message:new');
      const history = (await t.http().get(`/api/chats/${chatId}/messages`).set(me.auth).expect(200)).body.data.messages;
      expect(history.map((m: { id: string }) => m.id)).toEqual([sent.id]);
      expect((await listOf(me)).chats[0]).toMatchObject({ id: chatId, lastMessage: expect.objectContaining({ id: sent.id }), unread: 0 });
      await t.http().get(`/api/chats/${chatId}`).set(stranger.auth).expect(404);
      await t.http().get(`/api/chats/${chatId}/messages`).set(stranger.auth).expect(404);
      expect((await listOf(stranger)).chats).toEqual([]);
      [phone, laptop, sws].forEach((s) => s.close());
    });
  });

  describe('mute, pin-chat, archive', () => {
    it('mutes for the caller only, idempotently, and tells the caller\'s other devices with chat:updated', async () => {
      const [a, b] = await users(2);
      const chatId = await sharedDirect(a, b);
      const aOther = await signIn(t, a.email);
      const [aws, aws2, bws] = [await connect(t, a), await connect(t, aOther), await connect(t, b)];

      const res = await mute(a, chatId, { muted: true }).expect(200);
      expect(res.body.data).toEqual({ chatId, muted: true, mutedUntil: FOREVER });
      for (const socket of [aws, aws2]) {
        const update = await socket.waitFor('chat:updated', (c) => c.id === chatId);
        expect(rowOf(update, a).mutedUntil).toBe(FOREVER);
        expect(update).not.toHaveProperty('draft');
      }
      await bws.expectNo('chat:updated');
      expect(new Date((await memberRow(chatId, a)).muted_until).toISOString()).toBe(FOREVER);
      expect((await memberRow(chatId, b)).muted_until).toBeNull();

      // The member rows carry each viewer's own mute; nobody learns another member's.
      const seenByA = await chatOf(a, chatId);
      expect([rowOf(seenByA, a).mutedUntil, rowOf(seenByA, b).mutedUntil]).toEqual([FOREVER, null]);
      const seenByB = await chatOf(b, chatId);
      expect([rowOf(seenByB, a).mutedUntil, rowOf(seenByB, b).mutedUntil]).toEqual([null, null]);

      // A repeat changes nothing and tells nobody.
      expect((await mute(a, chatId, { muted: true }).expect(200)).body.data).toEqual({ chatId, muted: true, mutedUntil: FOREVER });
      await aws2.expectNo('chat:updated');

      expect((await mute(a, chatId, { muted: false }).expect(200)).body.data).toEqual({ chatId, muted: false, mutedUntil: null });
      expect(rowOf(await aws2.waitFor('chat:updated'), a).mutedUntil).toBeNull();
      expect((await memberRow(chatId, a)).muted_until).toBeNull();
      [aws, aws2, bws].forEach((s) => s.close());
    });

    it("leaves the caller's other devices on the stored mute when a mute and an unmute from two devices cross", async () => {
      const [a, b] = await users(2);
      const chatId = await sharedDirect(a, b);
      const aOther = await signIn(t, a.email);
      const watcher = await connect(t, aOther);
      // The mute reads its view to send, then waits while an unmute commits and is told.
      const held = holdFirstCall(ChatViews.prototype, 'one');
      try {
        const muting = mute(a, chatId, { muted: true }).expect(200).then((res) => res);
        await eventually(async () => expect(held.calls()).toBe(1));
        await mute(a, chatId, { muted: false }).expect(200);
        held.release();
        await muting;
      } finally {
        held.restore();
      }
      expect((await memberRow(chatId, a)).muted_until).toBeNull();
      await eventually(async () => {
        const updates = watcher.received.filter((f) => f.event === 'chat:updated' && f.payload.id === chatId);
        expect(rowOf(updates[updates.length - 1].payload, a).mutedUntil).toBeNull();
      });
      // And stays so: nothing later says otherwise.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const updates = watcher.received.filter((f) => f.event === 'chat:updated' && f.payload.id === chatId);
      expect(rowOf(updates[updates.length - 1].payload, a).mutedUntil).toBeNull();
      watcher.close();
    });

    it('refuses a mute, pin or archive body that is not a boolean of the right name with 422', async () => {
      const [a, b] = await users(2);
      const chatId = await sharedDirect(a, b);
      for (const body of [{}, { muted: 'true' }, { muted: 1 }, { muted: null }, { muted: true, until: 5 }, { pinned: true }]) {
        expect((await mute(a, chatId, body).expect(422)).body.code).toBe('VALIDATION_ERROR');
      }
      expect((await t.http().patch(`/api/chats/${chatId}/pin-chat`).set(a.auth).send({ pinned: 'yes' }).expect(422)).body.code).toBe('VALIDATION_ERROR');
      expect((await t.http().patch(`/api/chats/${chatId}/archive`).set(a.auth).send({}).expect(422)).body.code).toBe('VALIDATION_ERROR');
      expect((await memberRow(chatId, a)).muted_until).toBeNull();
    });

    it('keeps the first pin time on a repeat, unpins, and tells the caller\'s sockets', async () => {
      const [a, b] = await users(2);
      const chatId = await createGroup(t, a, [b]);
      const aws = await connect(t, a);
      const first = (await pin(a, chatId, true).expect(200)).body.data;
      expect(first).toEqual({ chatId, pinned: true, pinnedAt: expect.stringMatching(ISO) });
      expect(rowOf(await aws.waitFor('chat:updated', (c) => c.id === chatId), a).pinnedAt).toBe(first.pinnedAt);
      expect((await pin(a, chatId, true).expect(200)).body.data.pinnedAt).toBe(first.pinnedAt);
      await aws.expectNo('chat:updated');
      expect(rowOf(await chatOf(a, chatId), a).pinnedAt).toBe(first.pinnedAt);
      expect(rowOf(await chatOf(b, chatId), a).pinnedAt).toBeNull();
      expect((await pin(a, chatId, false).expect(200)).body.data).toEqual({ chatId, pinned: false, pinnedAt: null });
      expect((await memberRow(chatId, a)).pinned_at).toBeNull();
      aws.close();
    });

    it("shows the caller's pin and mute on their own member row only, not on the other members' rows", async () => {
      const [a, b] = await users(2);
      const chatId = await createGroup(t, a, [b]);
      const { pinnedAt } = (await pin(a, chatId, true).expect(200)).body.data;
      await mute(a, chatId, { muted: true }).expect(200);
      const listed = (await listOf(a)).chats.find((c: { id: string }) => c.id === chatId);
      for (const chat of [await chatOf(a, chatId), listed]) {
        expect(rowOf(chat, a)).toMatchObject({ pinnedAt, mutedUntil: FOREVER });
        expect(rowOf(chat, b)).toMatchObject({ pinnedAt: null, mutedUntil: null });
      }
    });

    it('refuses a sixth pinned chat with PIN_LIMIT, even when six pins race; archived chats have their own five', async () => {
      const [me] = await users(1);
      const chats: string[] = [];
      for (let i = 0; i < 8; i++) chats.push(await createGroup(t, me, [], `p${i}`));
      const answers = await Promise.all(chats.slice(0, 6).map((id) => pin(me, id, true)));
      expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 400]);
      expect(answers.find((r) => r.status === 400)!.body.code).toBe('PIN_LIMIT');
      const pinned = await t.backend.sql('SELECT chat_id FROM chat_members WHERE user_id = $1 AND pinned_at IS NOT NULL', [me.id]);
      expect(pinned).toHaveLength(5);
      const refused = answers.findIndex((r) => r.status === 400);
      expect((await memberRow(chats[refused], me)).pinned_at).toBeNull();

      // A pinned chat moved to the archive frees a place in the main list.
      const moved = (pinned as Array<{ chat_id: string }>)[0].chat_id;
      await archive(me, moved, true).expect(200);
      await pin(me, chats[6], true).expect(200);
      expect((await pin(me, chats[7], true).expect(400)).body.code).toBe('PIN_LIMIT');
      // Unpinning one makes room again.
      await pin(me, chats[6], false).expect(200);
      await pin(me, chats[7], true).expect(200);

      // Back from the archive into a full main list, the pinned chat arrives unpinned: never six.
      await archive(me, moved, false).expect(200);
      expect((await memberRow(moved, me)).pinned_at).toBeNull();
      const pinnedInMain = 'SELECT count(*)::int AS n FROM chat_members WHERE user_id = $1 AND pinned_at IS NOT NULL AND archived_at IS NULL';
      expect((await t.backend.sql(pinnedInMain, [me.id]))[0].n).toBe(5);
      // With room in the list it moves to, a pin moves with its chat and keeps its time.
      const kept = (await memberRow(chats[7], me)).pinned_at;
      await archive(me, chats[7], true).expect(200);
      await archive(me, chats[7], false).expect(200);
      expect((await memberRow(chats[7], me)).pinned_at).toEqual(kept);
    });

    it('moves a chat into the archive and back; a new message leaves it there; GET /api/chats/:id still answers', async () => {
      const [a, b] = await users(2);
      const chatId = await sharedDirect(b, a);
      const kept = await sharedDirect(a, (await users(1))[0]);
      const aws = await connect(t, a);
      const res = (await archive(a, chatId, true).expect(200)).body.data;
      expect(res).toEqual({ chatId, archived: true, archivedAt: expect.stringMatching(ISO) });
      expect((await aws.waitFor('chat:updated', (c) => c.id === chatId)).archivedAt).toBe(res.archivedAt);
      expect(ids((await listOf(a)).chats)).toEqual([kept]);
      expect(ids((await listOf(a, '?archived=true')).chats)).toEqual([chatId]);
      expect((await chatOf(a, chatId)).archivedAt).toBe(res.archivedAt);
      expect((await archive(a, chatId, true).expect(200)).body.data.archivedAt).toBe(res.archivedAt);
      // The other member's lists are theirs.
      expect(ids((await listOf(b)).chats)).toEqual([chatId]);

      const bws = await connect(t, b);
      await send(bws, chatId, 'are you there?');
      await aws.waitFor('message:new');
      expect(ids((await listOf(a)).chats)).toEqual([kept]);
      expect((await listOf(a, '?archived=true')).chats).toEqual([expect.objectContaining({ id: chatId, unread: 2 })]);

      expect((await archive(a, chatId, false).expect(200)).body.data).toEqual({ chatId, archived: false, archivedAt: null });
      expect(ids((await listOf(a)).chats)).toEqual([chatId, kept]);
      expect((await listOf(a, '?archived=true')).chats).toEqual([]);
      aws.close();
      bws.close();
    });

    it('works on the saved messages chat too', async () => {
      const [me] = await users(1);
      const chatId = (await t.http().post('/api/chats/saved').set(me.auth).expect(201)).body.data.id;
      await mute(me, chatId, { muted: true }).expect(200);
      await pin(me, chatId, true).expect(200);
      const chat = await chatOf(me, chatId);
      expect(chat.members[0]).toMatchObject({ mutedUntil: FOREVER, pinnedAt: expect.stringMatching(ISO) });
      await archive(me, chatId, true).expect(200);
      expect(ids((await listOf(me, '?archived=true')).chats)).toEqual([chatId]);
    });
  });

  describe('drafts', () => {
    it('a send clearing the draft while another device saves a new one leaves every device on the draft stored', async () => {
      const [a, b] = await users(2);
      const chatId = await sharedDirect(a, b);
      const [sender, other] = [await connect(t, a), await connect(t, a)];
      await putDraft(a, chatId, { text: 'old' }).expect(200);
      // The send's "draft cleared" is held before it goes out, while the other device saves anew.
      const original = RealtimePublisher.prototype.toUsers;
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      const spy = jest.spyOn(RealtimePublisher.prototype, 'toUsers').mockImplementation(async function (this: RealtimePublisher, ...args: Parameters<RealtimePublisher['toUsers']>) {
        const [, event, payload] = args as unknown as [unknown, string, { text?: string | null }];
        if (event === 'draft:updated' && payload.text === null) {
          holding();
          await released;
        }
        return original.apply(this, args);
      });
      try {
        const sending = send(sender, chatId, 'sent');
        await held;
        await putDraft(a, chatId, { text: 'newer' }).expect(200);
        release();
        await sending;
        const told = () => other.received.filter((f) => f.event === 'draft:updated' && f.payload.chatId === chatId).map((f) => f.payload.text);
        // The held "cleared" arrives after the newer draft; what the device is told last is what is stored.
        await eventually(async () => expect(told().lastIndexOf(null)).toBeGreaterThan(told().indexOf('newer')));
        await eventually(async () => expect(told().at(-1)).toBe('newer'));
      } finally {
        spy.mockRestore();
      }
      expect((await chatOf(a, chatId)).draft).toMatchObject({ text: 'newer' });
      [sender, other].forEach((ws) => ws.close());
    });

    it('stores the caller\'s draft, shows it to them alone, and tells all their sockets with draft:updated', async () => {
      const [a, b] = await users(2);
      const chatId = await sharedDirect(a, b);
      const other = await sharedDirect(a, (await users(1))[0]);
      const [aws, bws] = [await connect(t, a), await connect(t, b)];
      const message = await send(aws, chatId, 'reply to me');
      const elsewhere = await send(aws, other, 'another chat');

      const saved = (await putDraft(a, chatId, { text: '  half a thought  ', replyToId: message.id }).expect(200)).body.data;
      expect(saved).toEqual({ text: 'half a thought', replyToId: message.id, updatedAt: expect.stringMatching(ISO) });
      expect(await aws.waitFor('draft:updated')).toEqual({ chatId, text: 'half a thought', replyToId: message.id });
      await bws.expectNo('draft:updated');
      expect(await memberRow(chatId, a)).toMatchObject({ draft_text: 'half a thought', draft_reply_to_id: message.id });

      expect((await chatOf(a, chatId)).draft).toEqual({ text: 'half a thought', replyToId: message.id, updatedAt: saved.updatedAt });
      expect((await listOf(a)).chats.find((c: { id: string }) => c.id === chatId).draft).toEqual(saved);
      expect((await chatOf(b, chatId)).draft).toBeNull();

      // A reply to a message of another chat (or to no message at all) is stored as no reply.
      expect((await putDraft(a, chatId, { text: 'v2', replyToId: elsewhere.id }).expect(200)).body.data.replyToId).toBeNull();
      expect((await putDraft(a, chatId, { text: 'v3', replyToId: 'not-an-id' }).expect(200)).body.data.replyToId).toBeNull();
      expect((await putDraft(a, chatId, { text: 'v4' }).expect(200)).body.data).toMatchObject({ text: 'v4', replyToId: null });
      expect((await memberRow(chatId, a)).draft_text).toBe('v4');
      // A message the caller hid is gone from everything they get (§7.2): as a reply target too,
      // whether hidden before the draft is saved or after.
      const later = await send(aws, chatId, 'hidden later');
      expect((await putDraft(a, chatId, { text: 'v5', replyToId: later.id }).expect(200)).body.data.replyToId).toBe(later.id);
      await t.http().post(`/api/messages/${later.id}/hide`).set(a.auth).expect(200);
      expect((await chatOf(a, chatId)).draft).toMatchObject({ text: 'v5', replyToId: null });
      expect((await listOf(a)).chats.find((c: { id: string }) => c.id === chatId).draft).toMatchObject({ text: 'v5', replyToId: null });
      expect((await putDraft(a, chatId, { text: 'v6', replyToId: later.id }).expect(200)).body.data.replyToId).toBeNull();
      await putDraft(a, chatId, { text: 'v4' }).expect(200);

      aws.frames.length = 0;
      expect((await t.http().delete(`/api/chats/${chatId}/draft`).set(a.auth).set('Content-Type', 'application/json').expect(200)).body.data).toEqual({ chatId });
      expect(await aws.waitFor('draft:updated')).toEqual({ chatId, text: null, replyToId: null });
      expect(await memberRow(chatId, a)).toMatchObject({ draft_text: null, draft_reply_to_id: null, draft_updated_at: null });
      expect((await chatOf(a, chatId)).draft).toBeNull();
      // Deleting again is fine (the client retries DELETE) and says nothing new.
      expect((await t.http().delete(`/api/chats/${chatId}/draft`).set(a.auth).expect(200)).body.data).toEqual({ chatId });
      await aws.expectNo('draft:updated');
      aws.close();
      bws.close();
    });

    it("leaves the caller's devices on the stored draft when a save and a delete from two devices cross", async () => {
      const [a, b] = await users(2);
      const chatId = await sharedDirect(a, b);
      const watcher = await connect(t, a);
      // The save has stored its draft and waits, before telling, while a delete commits and is told.
      const held = holdFirstCall(ChatsRepository.prototype, 'saveDraft');
      try {
        const saving = putDraft(a, chatId, { text: 'half a thought' }).expect(200).then((res) => res);
        await eventually(async () => expect(held.calls()).toBe(1));
        await t.http().delete(`/api/chats/${chatId}/draft`).set(a.auth).expect(200);
        held.release();
        await saving;
      } finally {
        held.restore();
      }
      expect((await memberRow(chatId, a)).draft_text).toBeNull();
      await eventually(async () => {
        const told = watcher.received.filter((f) => f.event === 'draft:updated' && f.payload.chatId === chatId);
        expect(told[told.length - 1].payload).toEqual({ chatId, text: null, replyToId: null });
      });
      watcher.close();
    });

    it('refuses an empty, blank or over-long draft with 422 and keeps the stored one', async () => {
      const [a, b] = await users(2);
      const chatId = await sharedDirect(a, b);
      await putDraft(a, chatId, { text: 'keep me', replyToId: null }).expect(200);
      for (const body of [{}, { text: '' }, { text: '   ' }, { text: 'x'.repeat(10_001) }, { text: 5 }, { text: 'ok', replyToId: 7 }]) {
        expect((await putDraft(a, chatId, body).expect(422)).body.code).toBe('VALIDATION_ERROR');
      }
      expect((await memberRow(chatId, a)).draft_text).toBe('keep me');
      expect((await putDraft(a, chatId, { text: 'y'.repeat(10_000) }).expect(200)).body.data.text).toHaveLength(10_000);
    });

    it('refuses drafts in a secret chat with SECRET_CHAT_RESTRICTED and stores nothing', async () => {
      const [a, b] = await users(2);
      const device = await createSignalDevice({ preKeyCount: 1 });
      await t.http().post('/api/keys/bundle').set(b.auth).send(device.bundle).expect(201);
      const chatId = (await t.http().post('/api/chats/secret').set(a.auth).send({ targetUserId: b.id }).expect(200)).body.data.id;
      const aws = await connect(t, a);
      expect((await putDraft(a, chatId, { text: 'plaintext must not be kept', replyToId: null }).expect(400)).body.code).toBe('SECRET_CHAT_RESTRICTED');
      await aws.expectNo('draft:updated');
      expect((await memberRow(chatId, a)).draft_text).toBeNull();
      const stored = await t.backend.sql(`SELECT count(*)::int AS n FROM chat_members WHERE draft_text LIKE '%plaintext must not%'`);
      expect(stored[0].n).toBe(0);
      await t.http().delete(`/api/chats/${chatId}/draft`).set(a.auth).expect(200);
      aws.close();
    });

    it('clears the sender\'s draft when they send a message into the chat, and tells their other devices', async () => {
      const [a, b] = await users(2);
      const chatId = await sharedDirect(a, b);
      await putDraft(b, chatId, { text: 'b keeps this' }).expect(200);
      const aOther = await signIn(t, a.email);
      const [aws, aws2, bws] = [await connect(t, a), await connect(t, aOther), await connect(t, b)];
      await putDraft(a, chatId, { text: 'about to send' }).expect(200);
      await aws2.waitFor('draft:updated', (d) => d.text === 'about to send');

      await send(aws, chatId, 'about to send');
      expect(await aws2.waitFor('draft:updated', (d) => d.text === null)).toEqual({ chatId, text: null, replyToId: null });
      expect((await memberRow(chatId, a)).draft_text).toBeNull();
      expect((await chatOf(a, chatId)).draft).toBeNull();
      // The other member's draft is theirs.
      await bws.expectNo('draft:updated');
      expect((await memberRow(chatId, b)).draft_text).toBe('b keeps this');
      // A send with no draft to clear says nothing.
      await send(aws, chatId, 'again');
      await aws2.expectNo('draft:updated');
      [aws, aws2, bws].forEach((s) => s.close());
    });
  });

  it('answers 404 CHAT_NOT_FOUND to a non-member, to a target who does not see the chat yet, and to unknown or malformed ids', async () => {
    const [a, b, stranger, target] = await users(4);
    const shared = await sharedDirect(a, b);
    const unseen = await openDirect(t, a, target);
    const routes = (user: TestUser, chatId: string) => [
      () => mute(user, chatId, { muted: true }),
      () => pin(user, chatId, true),
      () => archive(user, chatId, true),
      () => putDraft(user, chatId, { text: 'x' }),
      () => t.http().delete(`/api/chats/${chatId}/draft`).set(user.auth),
    ];
    for (const call of [
      ...routes(stranger, shared),
      ...routes(target, unseen),
      ...routes(stranger, '01900000-0000-7000-8000-000000000000'),
      ...routes(stranger, 'not-a-uuid'),
    ]) {
      const res = await call();
      expect([res.status, res.body.code]).toEqual([404, 'CHAT_NOT_FOUND']);
    }
    expect(await memberRow(shared, a)).toMatchObject({ muted_until: null, pinned_at: null, archived_at: null, draft_text: null });
    expect(await memberRow(unseen, target)).toMatchObject({ muted_until: null, pinned_at: null, archived_at: null, draft_text: null });
  });

  it('lists the new routes in the API docs with their bodies and error codes', async () => {
    const doc = (await t.http().get('/api/docs-json').expect(200)).body;
    const op = (path: string, method: string) => doc.paths[path]?.[method];
    expect(Object.keys(op('/api/chats/saved', 'post').responses)).toEqual(expect.arrayContaining(['200', '201', '401']));
    for (const [path, method, codes] of [
      ['/api/chats/{id}/mute', 'patch', ['200', '401', '404', '422']],
      ['/api/chats/{id}/pin-chat', 'patch', ['200', '400', '401', '404', '422']],
      ['/api/chats/{id}/archive', 'patch', ['200', '401', '404', '422']],
      ['/api/chats/{id}/draft', 'put', ['200', '400', '401', '404', '422']],
      ['/api/chats/{id}/draft', 'delete', ['200', '401', '404']],
    ] as const) {
      expect(op(path, method)).toBeDefined();
      expect(Object.keys(op(path, method).responses)).toEqual(expect.arrayContaining([...codes]));
    }
    expect(op('/api/chats/{id}/pin-chat', 'patch').requestBody).toBeDefined();
    expect(JSON.stringify(op('/api/chats/{id}/pin-chat', 'patch').responses['400'])).toContain('PIN_LIMIT');
    expect(JSON.stringify(op('/api/chats/{id}/draft', 'put').responses['400'])).toContain('SECRET_CHAT_RESTRICTED');
    expect(doc.components.schemas.ChatDto.properties).toEqual(expect.objectContaining({ numericId: expect.anything(), draft: expect.anything(), pinnedMessageId: expect.anything() }));
  });
});

(TEST_REDIS_URL ? describe : describe.skip)('chat state across two instances', () => {
  const cluster = twoInstances();

  it('brings chat:updated and draft:updated to the caller\'s device on the other instance', async () => {
    const { one, two } = cluster;
    const [a, b] = [await signUp(one), await signUp(one)];
    const chatId = await openDirect(one, a, b);
    const phone: WsClient = await connect(one, a);
    await send(phone, chatId, 'hi');
    const laptop = await connect(two, await signIn(one, a.email));

    await one.http().patch(`/api/chats/${chatId}/mute`).set(a.auth).send({ muted: true }).expect(200);
    expect(rowOf(await laptop.waitFor('chat:updated', (c) => c.id === chatId), a).mutedUntil).toBe(FOREVER);
    await one.http().patch(`/api/chats/${chatId}/pin-chat`).set(a.auth).send({ pinned: true }).expect(200);
    expect(rowOf(await laptop.waitFor('chat:updated', (c) => c.id === chatId), a).pinnedAt).toEqual(expect.stringMatching(ISO));

    await one.http().put(`/api/chats/${chatId}/draft`).set(a.auth).send({ text: 'from the phone', replyToId: null }).expect(200);
    expect(await laptop.waitFor('draft:updated')).toEqual({ chatId, text: 'from the phone', replyToId: null });
    await send(phone, chatId, 'from the phone');
    expect(await laptop.waitFor('draft:updated')).toEqual({ chatId, text: null, replyToId: null });
    phone.close();
    laptop.close();
  });

  function rowOf(chat: { members: Array<{ userId: string }> }, user: TestUser): any {
    return chat.members.find((m) => m.userId === user.id);
  }
});

/**
 * A PostgreSQL whose TimeZone is east of UTC (Debian's initdb takes the host's): the server's
 * sessions run in UTC whatever the database's default, so the far-future mute (9999-12-31
 * 23:59:59 UTC, the year 10000 in Tokyo) reads back as the wire's timestamp.
 */
(TEST_DATABASE_URL ? describe : describe.skip)('chat state with the database in another time zone (PostgreSQL)', () => {
  let backend: TestBackend;
  let t: TestApp;
  beforeAll(async () => {
    backend = await createBackend();
    const [{ db }] = await backend.sql('SELECT current_database() AS db');
    await backend.sql(`ALTER DATABASE "${db}" SET timezone TO 'Asia/Tokyo'`);
    // A URL with options of its own (a provider's endpoint, a search_path): kept, the server's settings winning.
    const url = new URL(backend.env.DATABASE_URL!);
    url.searchParams.set('options', '-c statement_timeout=60000 -c TimeZone=Asia/Tokyo');
    t = await createTestApp({ backend, env: { DATABASE_URL: url.toString() } });
  });
  afterAll(async () => {
    await t.close();
    await backend.close();
  });

  it("runs the server's sessions in UTC (and without JIT: statements of milliseconds)", async () => {
    const [settings] = await t.app.get(DataSource).query(`SELECT current_setting('TimeZone') AS tz, current_setting('jit') AS jit, current_setting('statement_timeout') AS timeout`);
    expect(settings).toEqual({ tz: 'UTC', jit: 'off', timeout: '1min' });
  });

  it('mutes "forever", lists and shows the chat, and stores and sends every timestamp in UTC', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const chatId = await openDirect(t, a, b);
    const ws = await connect(t, a);
    const message = await send(ws, chatId, 'hello');
    expect(message.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect((await t.http().patch(`/api/chats/${chatId}/mute`).set(a.auth).send({ muted: true }).expect(200)).body.data.mutedUntil).toBe(FOREVER);
    const mine = (chat: { members: Array<{ userId: string; mutedUntil: string | null }> }) => chat.members.find((m) => m.userId === a.id)!.mutedUntil;
    expect(mine((await ws.waitFor('chat:updated')) as never)).toBe(FOREVER);
    expect(mine((await t.http().get(`/api/chats/${chatId}`).set(a.auth).expect(200)).body.data)).toBe(FOREVER);
    const [listed] = (await t.http().get('/api/chats').set(a.auth).expect(200)).body.data.chats;
    expect([listed.id, mine(listed), listed.lastMessage.createdAt]).toEqual([chatId, FOREVER, message.createdAt]);
    ws.close();
  });
});
