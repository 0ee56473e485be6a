import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createGroup, fillGroup, openDirect, send } from '../support/chats';
import { TEST_DATABASE_URL } from '../support/env';
import { eventually, signUp, TestUser } from '../support/factories';
import * as fixtures from '../support/media-fixtures';
import { createSignalDevice } from '../support/signal';
import { ChatsRepository } from '../../src/chats/chats.repository';
import { ChatsService } from '../../src/chats/chats.service';
import { createTestApp, TestApp } from '../support/test-app';
import { WsClient } from '../support/ws-client';
import { holdFirstCall, lockWaiters } from '../support/races';

type Role = 'OWNER' | 'ADMIN' | 'MEMBER';
type Caller = Role | 'stranger' | 'removed';

/**
 * wire-contract-v2.2 §5, §1.4, §17, §18.5-6: groups as the web client runs them. Roles, the
 * permission matrix (one case per route and caller), removal and leaving, deleting a group,
 * the pinned message, SYSTEM messages, the description and the group-invite privacy rule.
 */
describe('groups (v2.2 §5, §17)', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  const users = async (n: number): Promise<TestUser[]> => Promise.all(Array.from({ length: n }, () => signUp(t)));
  const setRole = (chatId: string, user: TestUser, role: Role) => t.backend.sql(`UPDATE chat_members SET role = $3 WHERE chat_id = $1 AND user_id = $2`, [chatId, user.id, role]);
  const roleOf = async (chatId: string, user: TestUser) => (await t.backend.sql(`SELECT role FROM chat_members WHERE chat_id = $1 AND user_id = $2`, [chatId, user.id]))[0]?.role ?? null;
  const systemTexts = async (chatId: string) => (await t.backend.sql(`SELECT text FROM messages WHERE chat_id = $1 AND type = 'SYSTEM' ORDER BY seq`, [chatId])).map((r) => r.text);
  const expectError = (res: { status: number; body: any }, status: number, code: string) =>
    expect({ status: res.status, success: res.body.success, code: res.body.code }).toEqual({ status, success: false, code });

  describe('the permission matrix (§17), one case per route and caller', () => {
    /**
     * A case that changes the group gets a fresh one: OWNER, two ADMINs (`admin` acts, `admin2`
     * is a target), two MEMBERs (`member` acts, `member2` is a target), a `removed` former member
     * and a `stranger`. A case that changes nothing another case sees (reads, the caller's own
     * state, reactions, read marks) runs in one shared group of the same cast.
     */
    let cast: Record<'owner' | 'admin' | 'admin2' | 'member' | 'member2' | 'removed' | 'stranger' | 'newcomer', TestUser>;
    let sockets: Record<Caller | 'admin2', WsClient>;
    beforeAll(async () => {
      const [owner, admin, admin2, member, member2, removed, stranger, newcomer] = await users(8);
      cast = { owner, admin, admin2, member, member2, removed, stranger, newcomer };
      const [os, as, a2s, ms, ss, rs] = await Promise.all([owner, admin, admin2, member, stranger, removed].map((u) => connect(t, u)));
      sockets = { OWNER: os, ADMIN: as, admin2: a2s, MEMBER: ms, stranger: ss, removed: rs };
    });
    afterAll(() => Object.values(sockets).forEach((ws) => ws.close()));

    interface Scene {
      chatId: string;
      /** A message by the OWNER and one by admin2. */
      ownerMessage: string;
      adminMessage: string;
      /** An active invite link the OWNER made. */
      linkId: string;
      code: string;
    }
    async function scene(): Promise<Scene> {
      const { owner, admin, admin2, member, member2, removed } = cast;
      const chatId = await createGroup(t, owner, [admin, admin2, member, member2, removed], 'Matrix');
      await setRole(chatId, admin, 'ADMIN');
      await setRole(chatId, admin2, 'ADMIN');
      await t.http().delete(`/api/chats/${chatId}/members/${removed.id}`).set(owner.auth).expect(200);
      const ownerMessage = (await send(sockets.OWNER, chatId, 'from the owner')).id;
      const adminMessage = (await send(sockets.admin2, chatId, 'from an admin')).id;
      const link = (await t.http().post(`/api/chats/${chatId}/invite`).set(owner.auth).send({}).expect(201)).body.data;
      return { chatId, ownerMessage, adminMessage, linkId: link.id, code: link.code };
    }
    let sharedScene: Promise<Scene> | undefined;
    const shared = (): Promise<Scene> => (sharedScene ??= scene());

    const who = (caller: Caller): TestUser => ({ OWNER: cast.owner, ADMIN: cast.admin, MEMBER: cast.member, stranger: cast.stranger, removed: cast.removed })[caller];
    const outsiders = { stranger: [404, 'CHAT_NOT_FOUND'], removed: [404, 'CHAT_NOT_FOUND'] } as const;
    const messageOutsiders = { stranger: [404, 'MESSAGE_NOT_FOUND'], removed: [404, 'MESSAGE_NOT_FOUND'] } as const;
    const members = { OWNER: [200], ADMIN: [200], MEMBER: [200] } as const;
    const routes: Array<{
      name: string;
      call: (s: Scene, user: TestUser) => Promise<{ status: number; body: any; headers: Record<string, string> }>;
      expect: Record<Caller, readonly [number, string?]>;
      /** Runs in the shared group: changes nothing that another case sees. */
      shared?: true;
      /** The answer is the export file itself (§14), not the envelope. */
      download?: true;
      /** What else the case must find after the answer. */
      then?: (s: Scene, user: TestUser, caller: Caller) => Promise<void>;
    }> = [
      {
        name: 'GET /chats/:id',
        call: (s, u) => t.http().get(`/api/chats/${s.chatId}`).set(u.auth),
        expect: { ...members, ...outsiders },
        shared: true,
      },
      {
        name: 'GET /chats/:id/messages',
        call: (s, u) => t.http().get(`/api/chats/${s.chatId}/messages`).set(u.auth),
        expect: { ...members, ...outsiders },
        shared: true,
      },
      {
        name: 'GET /chats/:id/messages/around',
        call: (s, u) => t.http().get(`/api/chats/${s.chatId}/messages/around?date=${new Date().toISOString()}`).set(u.auth),
        expect: { ...members, ...outsiders },
        shared: true,
      },
      {
        name: 'GET /chats/:id/shared',
        call: (s, u) => t.http().get(`/api/chats/${s.chatId}/shared`).set(u.auth),
        expect: { ...members, ...outsiders },
        shared: true,
      },
      {
        name: 'GET /chats/:id/export',
        call: (s, u) => t.http().get(`/api/chats/${s.chatId}/export?format=json`).set('Cookie', u.cookie),
        expect: { ...members, ...outsiders },
        shared: true,
        download: true,
      },
      {
        name: 'PATCH /chats/:id/mute',
        call: (s, u) => t.http().patch(`/api/chats/${s.chatId}/mute`).set(u.auth).send({ muted: true }),
        expect: { ...members, ...outsiders },
        shared: true,
      },
      {
        name: 'PATCH /chats/:id/pin-chat',
        call: (s, u) => t.http().patch(`/api/chats/${s.chatId}/pin-chat`).set(u.auth).send({ pinned: true }),
        expect: { ...members, ...outsiders },
        shared: true,
      },
      {
        name: 'PATCH /chats/:id/archive',
        call: (s, u) => t.http().patch(`/api/chats/${s.chatId}/archive`).set(u.auth).send({ archived: true }),
        expect: { ...members, ...outsiders },
        shared: true,
      },
      {
        name: 'PUT /chats/:id/draft',
        call: (s, u) => t.http().put(`/api/chats/${s.chatId}/draft`).set(u.auth).send({ text: 'unsent', replyToId: null }),
        expect: { ...members, ...outsiders },
        shared: true,
      },
      {
        name: 'DELETE /chats/:id/draft',
        call: (s, u) => t.http().delete(`/api/chats/${s.chatId}/draft`).set(u.auth),
        expect: { ...members, ...outsiders },
        shared: true,
      },
      {
        name: 'PATCH /chats/:id (name)',
        call: (s, u) => t.http().patch(`/api/chats/${s.chatId}`).set(u.auth).send({ name: 'Renamed' }),
        expect: { OWNER: [200], ADMIN: [200], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
      },
      {
        name: 'PATCH /chats/:id (description)',
        call: (s, u) => t.http().patch(`/api/chats/${s.chatId}`).set(u.auth).send({ description: 'About us' }),
        expect: { OWNER: [200], ADMIN: [200], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
      },
      {
        name: 'POST /chats/:id/members',
        call: (s, u) => t.http().post(`/api/chats/${s.chatId}/members`).set(u.auth).send({ userIds: [cast.newcomer.id] }),
        expect: { OWNER: [200], ADMIN: [200], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
      },
      {
        name: 'DELETE /chats/:id/members/:member',
        call: (s, u) => t.http().delete(`/api/chats/${s.chatId}/members/${cast.member2.id}`).set(u.auth),
        expect: { OWNER: [200], ADMIN: [200], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
      },
      {
        name: 'DELETE /chats/:id/members/:admin',
        call: (s, u) => t.http().delete(`/api/chats/${s.chatId}/members/${cast.admin2.id}`).set(u.auth),
        expect: { OWNER: [200], ADMIN: [403, 'FORBIDDEN'], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
      },
      {
        name: 'DELETE /chats/:id/members/:owner',
        call: (s, u) => t.http().delete(`/api/chats/${s.chatId}/members/${cast.owner.id}`).set(u.auth),
        expect: { OWNER: [403, 'FORBIDDEN'], ADMIN: [403, 'FORBIDDEN'], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
      },
      {
        name: 'DELETE /chats/:id/members/:non-member',
        call: (s, u) => t.http().delete(`/api/chats/${s.chatId}/members/${cast.stranger.id}`).set(u.auth),
        expect: { OWNER: [404, 'MEMBER_NOT_FOUND'], ADMIN: [404, 'MEMBER_NOT_FOUND'], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
      },
      {
        name: 'PATCH /chats/:id/members/:member/role ADMIN',
        call: (s, u) => t.http().patch(`/api/chats/${s.chatId}/members/${cast.member2.id}/role`).set(u.auth).send({ role: 'ADMIN' }),
        expect: { OWNER: [200], ADMIN: [403, 'FORBIDDEN'], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
      },
      {
        name: 'PATCH /chats/:id/members/:admin/role MEMBER',
        call: (s, u) => t.http().patch(`/api/chats/${s.chatId}/members/${cast.admin2.id}/role`).set(u.auth).send({ role: 'MEMBER' }),
        expect: { OWNER: [200], ADMIN: [403, 'FORBIDDEN'], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
      },
      {
        name: 'PATCH /chats/:id/members/:owner/role',
        call: (s, u) => t.http().patch(`/api/chats/${s.chatId}/members/${cast.owner.id}/role`).set(u.auth).send({ role: 'MEMBER' }),
        expect: { OWNER: [400, 'CANNOT_CHANGE_OWNER'], ADMIN: [403, 'FORBIDDEN'], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
      },
      {
        name: 'POST /chats/:id/invite',
        call: (s, u) => t.http().post(`/api/chats/${s.chatId}/invite`).set(u.auth).send({}),
        expect: { OWNER: [201], ADMIN: [201], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
        shared: true,
      },
      {
        name: 'GET /chats/:id/invite',
        call: (s, u) => t.http().get(`/api/chats/${s.chatId}/invite`).set(u.auth),
        expect: { OWNER: [200], ADMIN: [200], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
        shared: true,
      },
      {
        name: 'DELETE /chats/invite/:linkId',
        call: (s, u) => t.http().delete(`/api/chats/invite/${s.linkId}`).set(u.auth),
        expect: { OWNER: [200], ADMIN: [200], MEMBER: [403, 'FORBIDDEN'], stranger: [404, 'INVITE_NOT_FOUND'], removed: [404, 'INVITE_NOT_FOUND'] },
      },
      {
        name: 'GET /chats/join/:code',
        call: (s, u) => t.http().get(`/api/chats/join/${s.code}`).set(u.auth),
        // §6: any signed-in user previews by code; the code is the permission. Not someone a manager
        // removed: they are told what their join would answer.
        expect: { ...members, stranger: [200], removed: [403, 'FORBIDDEN'] },
        shared: true,
      },
      {
        name: 'POST /chats/join/:code',
        call: (s, u) => t.http().post(`/api/chats/join/${s.code}`).set(u.auth),
        // §6: members get the chat and count no use; anyone else joins as MEMBER, but for whoever
        // a manager removed: a link does not undo a removal (a manager adds them back).
        expect: { ...members, stranger: [200], removed: [403, 'FORBIDDEN'] },
        then: async (s, u, caller) => {
          const joined = caller === 'stranger';
          const [link] = await t.backend.sql('SELECT uses FROM invite_links WHERE id = $1', [s.linkId]);
          const role = joined ? 'MEMBER' : caller === 'removed' ? null : caller;
          expect({ role: await roleOf(s.chatId, u), uses: link.uses }).toEqual({ role, uses: joined ? 1 : 0 });
        },
      },
      {
        name: 'PATCH /chats/:id/pin',
        call: (s, u) => t.http().patch(`/api/chats/${s.chatId}/pin`).set(u.auth).send({ messageId: s.ownerMessage }),
        expect: { ...members, ...outsiders },
        shared: true,
      },
      {
        name: "DELETE /messages/:id of the OWNER's message",
        call: (s, u) => t.http().delete(`/api/messages/${s.ownerMessage}?forEveryone=true`).set(u.auth),
        expect: { OWNER: [200], ADMIN: [403, 'FORBIDDEN'], MEMBER: [403, 'FORBIDDEN'], stranger: [404, 'MESSAGE_NOT_FOUND'], removed: [404, 'MESSAGE_NOT_FOUND'] },
      },
      {
        name: "DELETE /messages/:id of another ADMIN's message",
        call: (s, u) => t.http().delete(`/api/messages/${s.adminMessage}?forEveryone=true`).set(u.auth),
        expect: { OWNER: [200], ADMIN: [200], MEMBER: [403, 'FORBIDDEN'], stranger: [404, 'MESSAGE_NOT_FOUND'], removed: [404, 'MESSAGE_NOT_FOUND'] },
      },
      {
        name: "PATCH /messages/:id of the OWNER's message",
        call: (s, u) => t.http().patch(`/api/messages/${s.ownerMessage}`).set(u.auth).send({ text: 'edited' }),
        expect: { OWNER: [200], ADMIN: [403, 'NOT_MESSAGE_AUTHOR'], MEMBER: [403, 'NOT_MESSAGE_AUTHOR'], ...messageOutsiders },
        shared: true,
      },
      {
        name: 'POST /messages/:id/reactions',
        call: (s, u) => t.http().post(`/api/messages/${s.ownerMessage}/reactions`).set(u.auth).send({ emoji: '👍' }),
        expect: { ...members, ...messageOutsiders },
        shared: true,
      },
      {
        name: 'DELETE /messages/:id/reactions/:emoji',
        call: (s, u) => t.http().delete(`/api/messages/${s.ownerMessage}/reactions/${encodeURIComponent('👍')}`).set(u.auth),
        expect: { ...members, ...messageOutsiders },
        shared: true,
      },
      {
        name: 'POST /messages/:id/read',
        call: (s, u) => t.http().post(`/api/messages/${s.ownerMessage}/read`).set(u.auth),
        expect: { ...members, ...messageOutsiders },
        shared: true,
      },
      {
        name: 'POST /messages/:id/hide',
        call: (s, u) => t.http().post(`/api/messages/${s.adminMessage}/hide`).set(u.auth),
        expect: { ...members, ...messageOutsiders },
        shared: true,
      },
      {
        name: 'DELETE /chats/:id',
        call: (s, u) => t.http().delete(`/api/chats/${s.chatId}`).set(u.auth),
        expect: { OWNER: [200], ADMIN: [403, 'FORBIDDEN'], MEMBER: [403, 'FORBIDDEN'], ...outsiders },
      },
      {
        name: 'DELETE /chats/:id/leave',
        call: (s, u) => t.http().delete(`/api/chats/${s.chatId}/leave`).set(u.auth),
        expect: { OWNER: [200], ADMIN: [200], MEMBER: [200], ...outsiders },
      },
    ];
    const cells = routes.flatMap((route) => (Object.keys(route.expect) as Caller[]).map((caller) => ({ route, caller })));

    it.each(cells.map((c) => [c.route.name, c.caller, c] as const))('%s as %s', async (_name, caller, { route }) => {
      const s = route.shared ? await shared() : await scene();
      const res = await route.call(s, who(caller));
      const [status, code] = route.expect[caller];
      if (code) expectError(res, status, code);
      else if (route.download) {
        expect({ status: res.status, disposition: res.headers['content-disposition'], chats: res.body.chats?.map((c: any) => c.id) }).toEqual({
          status,
          disposition: expect.stringMatching(/^attachment; filename="h2v-export-/),
          chats: [s.chatId],
        });
      } else expect({ status: res.status, success: res.body.success }).toEqual({ status, success: true });
      await route.then?.(s, who(caller), caller);
    });

    /**
     * Socket events in the shared group. A member's frame reaches admin2, another member; an
     * outsider's is refused on their own socket with the code and reaches nobody.
     */
    const events: Array<{
      name: string;
      /** Sends the frame as `user` on `ws`; resolves what admin2 hears when it is relayed. */
      emit: (s: Scene, ws: WsClient, user: TestUser, tag: string) => Promise<{ event: string; match: (payload: any) => boolean }>;
      /** Where the sender's socket hears a refusal (the frame's tag echoed, if any). */
      refusal: (tag: string) => { event: string; match: (payload: any) => boolean };
      expect: Record<Caller, 'relayed' | string>;
    }> = [
      {
        name: 'message:send',
        emit: async (s, ws, _u, tag) => {
          ws.send('message:send', { chatId: s.chatId, text: tag, clientMessageId: tag });
          return { event: 'message:new', match: (m) => m.chatId === s.chatId && m.text === tag };
        },
        refusal: (tag) => ({ event: 'message:send:error', match: (e) => e.clientMessageId === tag }),
        expect: { OWNER: 'relayed', ADMIN: 'relayed', MEMBER: 'relayed', stranger: 'CHAT_NOT_FOUND', removed: 'CHAT_NOT_FOUND' },
      },
      {
        name: 'message:read',
        emit: async (s, ws, u) => {
          const unread = await send(sockets.admin2, s.chatId, 'read me');
          ws.send('message:read', { messageId: unread.id, chatId: s.chatId });
          return { event: 'message:read', match: (r) => r.messageId === unread.id && r.readBy === u.id };
        },
        refusal: () => ({ event: 'error', match: () => true }),
        expect: { OWNER: 'relayed', ADMIN: 'relayed', MEMBER: 'relayed', stranger: 'MESSAGE_NOT_FOUND', removed: 'MESSAGE_NOT_FOUND' },
      },
      {
        name: 'typing:start',
        emit: async (s, ws, u) => {
          ws.send('typing:start', { chatId: s.chatId });
          return { event: 'typing:started', match: (p) => p.chatId === s.chatId && p.userId === u.id };
        },
        refusal: () => ({ event: 'error', match: () => true }),
        expect: { OWNER: 'relayed', ADMIN: 'relayed', MEMBER: 'relayed', stranger: 'CHAT_NOT_FOUND', removed: 'CHAT_NOT_FOUND' },
      },
    ];
    const eventCells = events.flatMap((event) => (Object.keys(event.expect) as Caller[]).map((caller) => ({ event, caller })));

    it.each(eventCells.map((c) => [c.event.name, c.caller, c] as const))('socket %s as %s', async (_name, caller, { event }) => {
      const s = await shared();
      const tag = randomUUID();
      const heard = await event.emit(s, sockets[caller], who(caller), tag);
      const expected = event.expect[caller];
      if (expected === 'relayed') {
        expect(await sockets.admin2.waitFor(heard.event, heard.match)).toMatchObject({ chatId: s.chatId });
        return;
      }
      const refusal = event.refusal(tag);
      expect(await sockets[caller].waitFor(refusal.event, refusal.match)).toMatchObject({ code: expected });
      await sockets.admin2.expectNo(heard.event, heard.match);
    });
  });

  describe('group-only routes in direct, secret and saved-messages chats (§5, §6, §18.5-6)', () => {
    type Kind = 'DIRECT' | 'SECRET' | 'SELF';
    /** `me` is in all three chats (SELF alone); `peer` is the other member of the direct and secret chats. */
    let me: TestUser;
    let peer: TestUser;
    let outsider: TestUser;
    let chats: Record<Kind, string>;
    const kinds: Kind[] = ['DIRECT', 'SECRET', 'SELF'];
    /** Each chat's members (id and role) and description, as `me` reads them. */
    const state = async () =>
      Promise.all(
        kinds.map(async (kind) => {
          const chat = (await t.http().get(`/api/chats/${chats[kind]}`).set(me.auth).expect(200)).body.data;
          return { kind, members: chat.members.map((m: any) => `${m.userId}:${m.role}`).sort(), description: chat.description ?? null };
        }),
      );
    let before: Awaited<ReturnType<typeof state>>;
    beforeAll(async () => {
      [me, peer, outsider] = await users(3);
      const device = await createSignalDevice({ preKeyCount: 1 });
      await t.http().post('/api/keys/bundle').set(peer.auth).send(device.bundle).expect(201);
      chats = {
        DIRECT: await openDirect(t, me, peer),
        SECRET: (await t.http().post('/api/chats/secret').set(me.auth).send({ targetUserId: peer.id }).expect(200)).body.data.id,
        SELF: (await t.http().post('/api/chats/saved').set(me.auth).expect(201)).body.data.id,
      };
      before = await state();
    });

    const otherMember = (kind: Kind): TestUser => (kind === 'SELF' ? me : peer);
    const groupOnly: Array<{ name: string; call: (chatId: string, target: TestUser) => Promise<{ status: number; body: any }> }> = [
      { name: 'PATCH /chats/:id/members/:userId/role', call: (id, target) => t.http().patch(`/api/chats/${id}/members/${target.id}/role`).set(me.auth).send({ role: 'ADMIN' }) },
      { name: 'DELETE /chats/:id/members/:userId', call: (id, target) => t.http().delete(`/api/chats/${id}/members/${target.id}`).set(me.auth) },
      { name: 'DELETE /chats/:id', call: (id) => t.http().delete(`/api/chats/${id}`).set(me.auth) },
      { name: 'PATCH /chats/:id (description)', call: (id) => t.http().patch(`/api/chats/${id}`).set(me.auth).send({ description: 'About us' }) },
      { name: 'POST /chats/:id/members', call: (id) => t.http().post(`/api/chats/${id}/members`).set(me.auth).send({ userIds: [outsider.id] }) },
      { name: 'POST /chats/:id/invite', call: (id) => t.http().post(`/api/chats/${id}/invite`).set(me.auth).send({}) },
      { name: 'GET /chats/:id/invite', call: (id) => t.http().get(`/api/chats/${id}/invite`).set(me.auth) },
    ];
    const cells = groupOnly.flatMap((route) => kinds.map((kind) => ({ route, kind })));

    it.each(cells.map((c) => [c.route.name, c.kind, c] as const))('%s in a %s chat answers NOT_A_GROUP', async (_name, kind, { route }) => {
      expectError(await route.call(chats[kind], otherMember(kind)), 400, 'NOT_A_GROUP');
    });

    it('left every chat as it was: the same members and roles, no description, no invite links', async () => {
      expect(await state()).toEqual(before);
      expect(before.map((c) => c.members.length)).toEqual([2, 2, 1]);
      expect(await t.backend.sql('SELECT 1 FROM invite_links WHERE chat_id = ANY($1)', [Object.values(chats)])).toHaveLength(0);
    });
  });

  describe('roles (§5.2)', () => {
    it('lets the OWNER make a member an ADMIN and back, each a role_changed group event and chat:updated to all members', async () => {
      const [owner, a, b] = await users(3);
      const chatId = await createGroup(t, owner, [a, b]);
      const [ows, bws] = [await connect(t, owner), await connect(t, b)];
      const res = await t.http().patch(`/api/chats/${chatId}/members/${a.id}/role`).set(owner.auth).send({ role: 'ADMIN' }).expect(200);
      expect(res.body.data.members.find((m: any) => m.userId === a.id).role).toBe('ADMIN');
      for (const ws of [ows, bws]) {
        expect(await ws.waitFor('message:new', (m) => m.type === 'SYSTEM')).toMatchObject({ chatId, type: 'SYSTEM', text: `role_changed:${a.id}:ADMIN`, sender: { id: owner.id } });
        expect((await ws.waitFor('chat:updated', (c) => c.id === chatId)).members.find((m: any) => m.userId === a.id).role).toBe('ADMIN');
      }
      // The same role again: 200, nothing changes, no event.
      await t.http().patch(`/api/chats/${chatId}/members/${a.id}/role`).set(owner.auth).send({ role: 'ADMIN' }).expect(200);
      expect(await systemTexts(chatId)).toEqual([`role_changed:${a.id}:ADMIN`]);
      await t.http().patch(`/api/chats/${chatId}/members/${a.id}/role`).set(owner.auth).send({ role: 'MEMBER' }).expect(200);
      expect(await roleOf(chatId, a)).toBe('MEMBER');
      expect(await systemTexts(chatId)).toEqual([`role_changed:${a.id}:ADMIN`, `role_changed:${a.id}:MEMBER`]);
      ows.close();
      bws.close();
    });

    it("refuses role 'OWNER', other values and no body with 422, unknown members with 404, and direct chats with NOT_A_GROUP", async () => {
      const [owner, a, outsider] = await users(3);
      const chatId = await createGroup(t, owner, [a]);
      for (const body of [{ role: 'OWNER' }, { role: 'admin' }, { role: 7 }, {}]) {
        expectError(await t.http().patch(`/api/chats/${chatId}/members/${a.id}/role`).set(owner.auth).send(body), 422, 'VALIDATION_ERROR');
      }
      expectError(await t.http().patch(`/api/chats/${chatId}/members/${outsider.id}/role`).set(owner.auth).send({ role: 'ADMIN' }), 404, 'MEMBER_NOT_FOUND');
      expectError(await t.http().patch(`/api/chats/${chatId}/members/not-a-uuid/role`).set(owner.auth).send({ role: 'ADMIN' }), 404, 'MEMBER_NOT_FOUND');
      const direct = await openDirect(t, owner, a);
      expectError(await t.http().patch(`/api/chats/${direct}/members/${a.id}/role`).set(owner.auth).send({ role: 'ADMIN' }), 400, 'NOT_A_GROUP');
      expectError(await t.http().delete(`/api/chats/${direct}/members/${a.id}`).set(owner.auth), 400, 'NOT_A_GROUP');
      expectError(await t.http().delete(`/api/chats/${direct}`).set(owner.auth), 400, 'NOT_A_GROUP');
      expectError(await t.http().patch(`/api/chats/${direct}`).set(owner.auth).send({ description: 'x' }), 400, 'NOT_A_GROUP');
      expect(await roleOf(chatId, a)).toBe('MEMBER');
    });
  });

  describe('removing a member (§5.3)', () => {
    it('tells the removed user chat:deleted and the others member_kicked, chat:member-left and chat:updated; the removed user reads, sends, reacts and sees typing no more', async () => {
      const [owner, admin, member, kicked] = await users(4);
      const chatId = await createGroup(t, owner, [admin, member, kicked]);
      await setRole(chatId, admin, 'ADMIN');
      const [mws, kws] = [await connect(t, member), await connect(t, kicked)];
      const earlier = await send(mws, chatId, 'before the removal');
      await kws.waitFor('message:new', (m) => m.id === earlier.id);
      await t.backend.sql(`UPDATE chat_members SET draft_text = 'unsent', draft_updated_at = now(), muted_until = now() + interval '1 day' WHERE chat_id = $1 AND user_id = $2`, [chatId, kicked.id]);

      const res = await t.http().delete(`/api/chats/${chatId}/members/${kicked.id}`).set(admin.auth).expect(200);
      expect(res.body).toEqual({ success: true, data: { chatId, userId: kicked.id } });
      expect(await kws.waitFor('chat:deleted')).toEqual({ chatId });
      const event = await mws.waitFor('message:new', (m) => m.type === 'SYSTEM');
      expect(event).toMatchObject({ chatId, type: 'SYSTEM', text: `member_kicked:${kicked.id}`, sender: { id: admin.id }, mediaUrl: null });
      expect(await mws.waitFor('chat:member-left')).toEqual({ chatId, userId: kicked.id });
      expect((await mws.waitFor('chat:updated', (c) => c.id === chatId)).members.map((m: any) => m.userId)).not.toContain(kicked.id);
      await kws.expectNo('message:new', (m) => m.type === 'SYSTEM');
      // The member they saw online through this group alone goes offline for them, and they for the member.
      expect(await kws.waitFor('user:offline', (p) => p.userId === member.id)).toMatchObject({ userId: member.id });
      expect(await mws.waitFor('user:offline', (p) => p.userId === kicked.id)).toMatchObject({ userId: kicked.id });
      // Their membership and its state are gone.
      expect(await t.backend.sql('SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, kicked.id])).toHaveLength(0);

      expectError(await t.http().get(`/api/chats/${chatId}/messages`).set(kicked.auth), 404, 'CHAT_NOT_FOUND');
      expectError(await t.http().post(`/api/messages/${earlier.id}/reactions`).set(kicked.auth).send({ emoji: '👍' }), 404, 'MESSAGE_NOT_FOUND');
      kws.send('message:send', { chatId, text: 'still here?', clientMessageId: 'kicked-1' });
      expect(await kws.waitFor('message:send:error')).toMatchObject({ code: 'CHAT_NOT_FOUND', clientMessageId: 'kicked-1' });
      kws.send('typing:start', { chatId });
      expect(await kws.waitFor('error')).toMatchObject({ code: 'CHAT_NOT_FOUND' });
      mws.send('typing:start', { chatId });
      await kws.expectNo('typing:started');
      expect(await t.backend.sql(`SELECT 1 FROM messages WHERE chat_id = $1 AND text = 'still here?'`, [chatId])).toHaveLength(0);
      mws.close();
      kws.close();
    });
  });

  describe('leaving (§5.4)', () => {
    it('hands an OWNER\'s group to the earliest ADMIN, else the earliest member; member_left and chat:member-left go to the rest, chat:deleted to the leaver\'s sockets', async () => {
      const [owner, early, admin, late] = await users(4);
      const chatId = await createGroup(t, owner, [early]);
      await t.http().post(`/api/chats/${chatId}/members`).set(owner.auth).send({ userIds: [admin.id, late.id] }).expect(200);
      await setRole(chatId, admin, 'ADMIN');
      const [ows, ews] = [await connect(t, owner), await connect(t, early)];
      await t.http().delete(`/api/chats/${chatId}/leave`).set(owner.auth).expect(200);
      expect(await ows.waitFor('chat:deleted')).toEqual({ chatId });
      expect(await ews.waitFor('message:new', (m) => m.type === 'SYSTEM')).toMatchObject({ text: 'member_left', sender: { id: owner.id } });
      expect(await ews.waitFor('chat:member-left')).toEqual({ chatId, userId: owner.id });
      const updated = await ews.waitFor('chat:updated', (c) => c.id === chatId && c.members?.length === 3);
      expect(Object.fromEntries(updated.members.map((m: any) => [m.userId, m.role]))).toEqual({ [early.id]: 'MEMBER', [admin.id]: 'OWNER', [late.id]: 'MEMBER' });
      // No ADMIN left: the earliest member.
      await t.http().delete(`/api/chats/${chatId}/leave`).set(admin.auth).expect(200);
      expect(await roleOf(chatId, early)).toBe('OWNER');
      expect(await systemTexts(chatId)).toEqual(['member_left', 'member_left']);
      await t.http().delete(`/api/chats/${chatId}/leave`).set(late.auth).expect(200);
      await t.http().delete(`/api/chats/${chatId}/leave`).set(early.auth).expect(200);
      expect(await t.backend.sql('SELECT 1 FROM chats WHERE id = $1', [chatId])).toHaveLength(0);
      expectError(await t.http().delete(`/api/chats/${chatId}/leave`).set(early.auth), 404, 'CHAT_NOT_FOUND');
      ows.close();
      ews.close();
    });

    it('a MEMBER or ADMIN leaving a group that has its OWNER promotes nobody', async () => {
      const [owner, admin, early, late] = await users(4);
      const chatId = await createGroup(t, owner, [admin, early]);
      await t.http().post(`/api/chats/${chatId}/members`).set(owner.auth).send({ userIds: [late.id] }).expect(200);
      await setRole(chatId, admin, 'ADMIN');
      const roles = async () =>
        Object.fromEntries((await t.backend.sql(`SELECT user_id, role FROM chat_members WHERE chat_id = $1`, [chatId])).map((r) => [r.user_id, r.role]));
      await t.http().delete(`/api/chats/${chatId}/leave`).set(late.auth).expect(200);
      expect(await roles()).toEqual({ [owner.id]: 'OWNER', [admin.id]: 'ADMIN', [early.id]: 'MEMBER' });
      await t.http().delete(`/api/chats/${chatId}/leave`).set(admin.auth).expect(200);
      expect(await roles()).toEqual({ [owner.id]: 'OWNER', [early.id]: 'MEMBER' });
    });
  });

  // Two connections at once: PGlite (the embedded mode) runs one statement at a time, so the interleaving cannot happen there.
  (TEST_DATABASE_URL ? describe : describe.skip)('roles changed while a request waits for the chat (§5.2-5.4)', () => {
    type Sql = (text: string, params: unknown[]) => Promise<unknown>;

    /**
     * Runs `change` in a transaction that holds the group's row, starts `request` (which waits
     * for that row), commits once it waits, and resolves its answer: the request must be decided
     * on the roles as committed, not as they were when it started waiting.
     */
    async function whileChanging(chatId: string, change: (sql: Sql) => Promise<void>, request: () => Promise<{ status: number; body: any }>) {
      const held = new Client({ connectionString: t.backend.env.DATABASE_URL });
      await held.connect();
      try {
        await held.query('BEGIN');
        await held.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [chatId]);
        await change((text, params) => held.query(text, params));
        // Promise.resolve takes the request's `then`, which sends it (a supertest request is sent when awaited).
        const answer = Promise.resolve(request());
        await lockWaiters(t);
        await held.query('COMMIT');
        return await answer;
      } finally {
        await held.end();
      }
    }

    /** The owner's leave, as it commits: the owner's row gone, the admin the owner. */
    const ownerLeftTo = (chatId: string, owner: TestUser, admin: TestUser) => async (sql: Sql) => {
      await sql(`DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2`, [chatId, owner.id]);
      await sql(`UPDATE chat_members SET role = 'OWNER' WHERE chat_id = $1 AND user_id = $2`, [chatId, admin.id]);
    };
    const demoted = (chatId: string, admin: TestUser) => async (sql: Sql) => {
      await sql(`UPDATE chat_members SET role = 'MEMBER' WHERE chat_id = $1 AND user_id = $2`, [chatId, admin.id]);
    };

    it.each([
      ['their own leave', (chatId: string, admin: TestUser) => t.http().delete(`/api/chats/${chatId}/leave`).set(admin.auth)],
      ['their account deletion', (_chatId: string, admin: TestUser) => t.http().delete('/api/users/me').set(admin.auth)],
    ])('an ADMIN made OWNER while %s waited hands the group on: it never stays without an OWNER', async (_what, request) => {
      const [owner, admin, member] = await users(3);
      const chatId = await createGroup(t, owner, [admin, member]);
      await setRole(chatId, admin, 'ADMIN');
      const res = await whileChanging(chatId, ownerLeftTo(chatId, owner, admin), () => request(chatId, admin));
      expect(res.status).toBe(200);
      expect(await t.backend.sql('SELECT user_id, role FROM chat_members WHERE chat_id = $1', [chatId])).toEqual([{ user_id: member.id, role: 'OWNER' }]);
    });

    it('an ADMIN demoted while their removal of a member waited is refused, and the member stays', async () => {
      const [owner, admin, member] = await users(3);
      const chatId = await createGroup(t, owner, [admin, member]);
      await setRole(chatId, admin, 'ADMIN');
      const res = await whileChanging(chatId, demoted(chatId, admin), () => t.http().delete(`/api/chats/${chatId}/members/${member.id}`).set(admin.auth));
      expectError(res, 403, 'FORBIDDEN');
      expect(await roleOf(chatId, member)).toBe('MEMBER');
    });

    it('an ADMIN demoted while their delete for everyone of a member\'s message waited is refused, and the message stays', async () => {
      const [owner, admin, member] = await users(3);
      const chatId = await createGroup(t, owner, [admin, member]);
      await setRole(chatId, admin, 'ADMIN');
      const mws = await connect(t, member);
      const message = await send(mws, chatId, 'mine to keep');
      mws.close();
      const res = await whileChanging(chatId, demoted(chatId, admin), () => t.http().delete(`/api/messages/${message.id}?forEveryone=true`).set(admin.auth));
      expectError(res, 403, 'FORBIDDEN');
      expect(await t.backend.sql('SELECT text FROM messages WHERE id = $1', [message.id])).toEqual([{ text: 'mine to keep' }]);
    });

    it('an ADMIN demoted while their invite link creation waited is refused, and no link is made', async () => {
      const [owner, admin] = await users(2);
      const chatId = await createGroup(t, owner, [admin]);
      await setRole(chatId, admin, 'ADMIN');
      const res = await whileChanging(chatId, demoted(chatId, admin), () => t.http().post(`/api/chats/${chatId}/invite`).set(admin.auth).send({}));
      expectError(res, 403, 'FORBIDDEN');
      expect(await t.backend.sql('SELECT 1 FROM invite_links WHERE chat_id = $1', [chatId])).toEqual([]);
    });

    /**
     * Holds the group's row, starts the owner's removal of `kicked` and then a message:send of
     * `text` on `ws`, each once the one before waits for the row, and lets them go: the removal
     * commits first, while the send's statement already read the members. Resolves the removal's
     * answer and the send's (message:new or message:send:error) frame.
     */
    async function sentWhileRemoving(chatId: string, owner: TestUser, kicked: TestUser, ws: WsClient, text: string) {
      return sentWhileChanging(chatId, () => t.http().delete(`/api/chats/${chatId}/members/${kicked.id}`).set(owner.auth), ws, text);
    }

    /** As sentWhileRemoving, with any change of the members (`change`, an HTTP request) in place of the removal. */
    async function sentWhileChanging(chatId: string, change: () => PromiseLike<{ status: number; body: any }>, ws: WsClient, text: string) {
      const held = new Client({ connectionString: t.backend.env.DATABASE_URL });
      await held.connect();
      const waiting = (n: number) => lockWaiters(t, n);
      try {
        await held.query('BEGIN');
        await held.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [chatId]);
        const removal = Promise.resolve(change());
        await waiting(1);
        const clientMessageId = randomUUID();
        ws.send('message:send', { chatId, text, clientMessageId });
        const answer = ws.waitForFrame((f) => (f.event === 'message:new' || f.event === 'message:send:error') && f.payload?.clientMessageId === clientMessageId, text);
        await waiting(2);
        await held.query('COMMIT');
        return { removal: await removal, answer: await answer };
      } finally {
        await held.end();
      }
    }

    it('a member removed while their message waited for the chat is refused, and nothing of theirs follows member_kicked', async () => {
      const [owner, kicked] = await users(2);
      const chatId = await createGroup(t, owner, [kicked]);
      const [ows, kws] = [await connect(t, owner), await connect(t, kicked)];
      const { removal, answer } = await sentWhileRemoving(chatId, owner, kicked, kws, 'sent as I was removed');
      expect(removal.status).toBe(200);
      expect(answer).toMatchObject({ event: 'message:send:error', payload: { code: 'CHAT_NOT_FOUND' } });
      expect(await t.backend.sql(`SELECT type, text FROM messages WHERE chat_id = $1 ORDER BY seq`, [chatId])).toEqual([{ type: 'SYSTEM', text: `member_kicked:${kicked.id}` }]);
      await ows.expectNo('message:new', (m) => m.text === 'sent as I was removed');
      ows.close();
      kws.close();
    });

    it('a message sent while another member was removed is stored after member_kicked and never reaches the removed member', async () => {
      const [owner, member, kicked] = await users(3);
      const chatId = await createGroup(t, owner, [member, kicked]);
      const [ows, mws, kws] = [await connect(t, owner), await connect(t, member), await connect(t, kicked)];
      const { removal, answer } = await sentWhileRemoving(chatId, owner, kicked, mws, 'after the removal');
      expect(removal.status).toBe(200);
      expect(answer).toMatchObject({ event: 'message:new', payload: { text: 'after the removal' } });
      expect(await t.backend.sql(`SELECT type, text FROM messages WHERE chat_id = $1 ORDER BY seq`, [chatId])).toEqual([
        { type: 'SYSTEM', text: `member_kicked:${kicked.id}` },
        { type: 'TEXT', text: 'after the removal' },
      ]);
      await ows.waitFor('message:new', (m) => m.id === answer.payload.id);
      await kws.expectNo('message:new', (m) => m.id === answer.payload.id);
      ows.close();
      mws.close();
      kws.close();
    });

    it('a member added while a message waited for the chat gets it live, as its history and unread count say', async () => {
      const [owner, member, added] = await users(3);
      const chatId = await createGroup(t, owner, [member]);
      const [mws, aws] = [await connect(t, member), await connect(t, added)];
      const { removal: addition, answer } = await sentWhileChanging(chatId, () => t.http().post(`/api/chats/${chatId}/members`).set(owner.auth).send({ userIds: [added.id] }), mws, 'welcome');
      expect(addition.status).toBe(200);
      expect(answer).toMatchObject({ event: 'message:new', payload: { text: 'welcome' } });
      // Stored after the addition: in the newcomer's history and unread, so it reaches them live too.
      expect((await t.http().get(`/api/chats/${chatId}`).set(added.auth).expect(200)).body.data.unread).toBe(1);
      expect(await aws.waitFor('message:new', (m) => m.id === answer.payload.id)).toMatchObject({ text: 'welcome' });
      mws.close();
      aws.close();
    });

    it('a user who joined while the group\'s deletion waited for it is told chat:deleted too', async () => {
      const [owner, member, joiner] = await users(3);
      const chatId = await createGroup(t, owner, [member]);
      const jws = await connect(t, joiner);
      const joined = (sql: Sql) => sql(`INSERT INTO chat_members (chat_id, user_id, id, role) VALUES ($1, $2, gen_random_uuid(), 'MEMBER')`, [chatId, joiner.id]).then(() => undefined);
      const res = await whileChanging(chatId, joined, () => t.http().delete(`/api/chats/${chatId}`).set(owner.auth));
      expect(res.status).toBe(200);
      expect(await jws.waitFor('chat:deleted')).toEqual({ chatId });
      jws.close();
    });

    it('adding a user whose account was deleted meanwhile answers USER_NOT_FOUND, not a 500, and adds nobody', async () => {
      const [owner, member, leaving] = await users(3);
      const chatId = await createGroup(t, owner, [member]);
      const res = await whileChanging(
        chatId,
        (sql) => sql(`DELETE FROM users WHERE id = $1`, [leaving.id]).then(() => undefined),
        () => t.http().post(`/api/chats/${chatId}/members`).set(owner.auth).send({ userIds: [leaving.id] }),
      );
      expectError(res, 404, 'USER_NOT_FOUND');
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM chat_members WHERE chat_id = $1', [chatId])).toEqual([{ n: 2 }]);
    });
  });

  describe('deleting a group (§5.1)', () => {
    it('deletes everything of the group, media files included, and tells every member, the OWNER\'s sockets too', async () => {
      const [owner, a, b] = await users(3);
      const uploadDir = join(t.backend.env.DATA_DIR!, 'uploads');
      const avatar = (await t.http().post('/api/upload').set(owner.auth).attach('file', await fixtures.image('png'), 'g.png').expect(201)).body.data.url;
      const photo = (await t.http().post('/api/upload').set(a.auth).attach('file', await fixtures.image('jpeg'), 'p.jpg').expect(201)).body.data.url;
      const chatId = (await t.http().post('/api/chats/group').set(owner.auth).send({ name: 'Doomed', memberIds: [a.id, b.id], avatar }).expect(201)).body.data.id;
      const [ows, aws, bws] = [await connect(t, owner), await connect(t, a), await connect(t, b)];
      const text = await send(aws, chatId, 'hello');
      await send(aws, chatId, '', { type: 'IMAGE', mediaUrl: photo });
      await t.http().post(`/api/messages/${text.id}/reactions`).set(b.auth).send({ emoji: '👍' }).expect(200);
      const code = (await t.http().post(`/api/chats/${chatId}/invite`).set(owner.auth).send({}).expect(201)).body.data.code;
      await t.http().put(`/api/chats/${chatId}/draft`).set(b.auth).send({ text: 'draft' }).expect(200);
      await t.http().patch(`/api/chats/${chatId}/pin-chat`).set(b.auth).send({ pinned: true }).expect(200);
      await t.http().patch(`/api/chats/${chatId}/pin`).set(b.auth).send({ messageId: text.id }).expect(200);
      await t.drainJobs();
      const stored = (url: string) => existsSync(join(uploadDir, url.split('/').pop()!));
      expect([stored(avatar), stored(photo)]).toEqual([true, true]);

      expect((await t.http().delete(`/api/chats/${chatId}`).set(owner.auth).expect(200)).body).toEqual({ success: true, data: { chatId } });
      for (const ws of [ows, aws, bws]) expect(await ws.waitFor('chat:deleted')).toEqual({ chatId });
      for (const table of ['chats WHERE id', 'chat_members WHERE chat_id', 'messages WHERE chat_id', 'invite_links WHERE chat_id']) {
        expect(await t.backend.sql(`SELECT 1 FROM ${table} = $1`, [chatId])).toHaveLength(0);
      }
      expect(await t.backend.sql('SELECT 1 FROM reactions WHERE message_id = $1', [text.id])).toHaveLength(0);
      expect(await t.backend.sql('SELECT 1 FROM uploads WHERE url = ANY($1)', [[avatar, photo]])).toHaveLength(0);
      expect((await t.http().get(photo)).status).toBe(404);
      await t.drainJobs();
      await eventually(async () => expect([stored(avatar), stored(photo)]).toEqual([false, false]));
      expectError(await t.http().post(`/api/chats/join/${code}`).set((await users(1))[0].auth), 404, 'INVITE_NOT_FOUND');
      expectError(await t.http().get(`/api/chats/${chatId}`).set(owner.auth), 404, 'CHAT_NOT_FOUND');
      for (const ws of [ows, aws, bws]) ws.close();
    });
  });

  describe('the pinned message (§5.5)', () => {
    it('pins for all members, the caller included, through chat:updated {id, pinnedMessageId}; unpins with null; deleting the message unpins it', async () => {
      const [owner, member] = await users(2);
      const chatId = await createGroup(t, owner, [member]);
      const [ows, mws] = [await connect(t, owner), await connect(t, member)];
      const message = await send(ows, chatId, 'pin me');
      const res = await t.http().patch(`/api/chats/${chatId}/pin`).set(member.auth).send({ messageId: message.id }).expect(200);
      expect(res.body.data).toMatchObject({ id: chatId, pinnedMessageId: message.id });
      for (const ws of [ows, mws]) expect(await ws.waitFor('chat:updated', (c) => 'pinnedMessageId' in c)).toEqual({ id: chatId, pinnedMessageId: message.id });
      expect((await t.http().get(`/api/chats/${chatId}`).set(owner.auth).expect(200)).body.data.pinnedMessageId).toBe(message.id);

      await t.http().patch(`/api/chats/${chatId}/pin`).set(owner.auth).send({ messageId: null }).expect(200);
      expect(await mws.waitFor('chat:updated', (c) => 'pinnedMessageId' in c && c.pinnedMessageId === null)).toEqual({ id: chatId, pinnedMessageId: null });
      // Unpinning again is idempotent (and tells the members the same again).
      await t.http().patch(`/api/chats/${chatId}/pin`).set(owner.auth).send({ messageId: null }).expect(200);
      await mws.waitFor('chat:updated', (c) => 'pinnedMessageId' in c && c.pinnedMessageId === null);

      await t.http().patch(`/api/chats/${chatId}/pin`).set(owner.auth).send({ messageId: message.id }).expect(200);
      await mws.waitFor('chat:updated', (c) => c.pinnedMessageId === message.id);
      await t.http().delete(`/api/messages/${message.id}?forEveryone=true`).set(owner.auth).expect(200);
      expect(await mws.waitFor('chat:updated', (c) => 'pinnedMessageId' in c && c.pinnedMessageId === null)).toEqual({ id: chatId, pinnedMessageId: null });
      expect(await t.backend.sql('SELECT pinned_message_id FROM chats WHERE id = $1', [chatId])).toEqual([{ pinned_message_id: null }]);
      ows.close();
      mws.close();
    });

    it('leaves the members on the pinned message stored when two pins cross', async () => {
      const [owner, member] = await users(2);
      const chatId = await createGroup(t, owner, [member]);
      const [ows, mws] = [await connect(t, owner), await connect(t, member)];
      const [first, second] = [await send(ows, chatId, 'pin one'), await send(ows, chatId, 'pin two')];
      const pin = (user: TestUser, messageId: string) => t.http().patch(`/api/chats/${chatId}/pin`).set(user.auth).send({ messageId }).expect(200).then((res) => res);
      // The first pin has committed and waits, before telling, while the second commits and is told.
      let armed = false;
      const held = holdFirstCall(ChatsRepository.prototype, 'memberIds', () => armed);
      try {
        // Armed once the first pin's own checks are past: its telling reads the members after the commit.
        jest.spyOn(ChatsService.prototype, 'announcePinned').mockImplementationOnce(async function (this: ChatsService, ...args) {
          armed = true;
          return ChatsService.prototype.announcePinned.apply(this, args);
        });
        const pinning = pin(member, first.id);
        await eventually(async () => expect(held.calls()).toBe(1));
        await pin(owner, second.id);
        held.release();
        await pinning;
      } finally {
        held.restore();
        jest.restoreAllMocks();
      }
      const [stored] = await t.backend.sql<{ pinned_message_id: string }>('SELECT pinned_message_id FROM chats WHERE id = $1', [chatId]);
      expect(stored.pinned_message_id).toBe(second.id);
      await eventually(async () => {
        const told = mws.received.filter((f) => f.event === 'chat:updated' && 'pinnedMessageId' in f.payload);
        expect(told[told.length - 1].payload.pinnedMessageId).toBe(stored.pinned_message_id);
      });
      ows.close();
      mws.close();
    });

    it('refuses a message of another chat, a SYSTEM message, a malformed id and a missing key; pins in direct chats too', async () => {
      const [owner, member, kicked] = await users(3);
      const chatId = await createGroup(t, owner, [member, kicked]);
      const direct = await openDirect(t, owner, member);
      const ows = await connect(t, owner);
      const elsewhere = await send(ows, direct, 'in the direct chat');
      await t.http().delete(`/api/chats/${chatId}/members/${kicked.id}`).set(owner.auth).expect(200);
      const [system] = await t.backend.sql(`SELECT id FROM messages WHERE chat_id = $1 AND type = 'SYSTEM'`, [chatId]);
      // A message the owner hid is gone from everything they get: not theirs to pin for everyone.
      const hidden = await send(ows, chatId, 'hidden by the owner');
      await t.http().post(`/api/messages/${hidden.id}/hide`).set(owner.auth).expect(200);
      for (const messageId of [elsewhere.id, system.id, hidden.id, 'nope', '01900000-0000-7000-8000-000000000000']) {
        expectError(await t.http().patch(`/api/chats/${chatId}/pin`).set(owner.auth).send({ messageId }), 404, 'MESSAGE_NOT_FOUND');
      }
      expectError(await t.http().patch(`/api/chats/${chatId}/pin`).set(owner.auth).send({}), 422, 'VALIDATION_ERROR');
      await t.http().patch(`/api/chats/${direct}/pin`).set(member.auth).send({ messageId: elsewhere.id }).expect(200);
      expect(await t.backend.sql('SELECT pinned_message_id FROM chats WHERE id = ANY($1) ORDER BY id', [[chatId, direct]])).toEqual(
        expect.arrayContaining([{ pinned_message_id: null }, { pinned_message_id: elsewhere.id }]),
      );
      ows.close();
    });
  });

  describe('SYSTEM messages (§1.4)', () => {
    it('are in history and the chat list, never unread, and nobody edits, reacts to, hides, deletes or finds them', async () => {
      const [owner, member, kicked] = await users(3);
      const chatId = await createGroup(t, owner, [member, kicked]);
      await t.http().delete(`/api/chats/${chatId}/members/${kicked.id}`).set(owner.auth).expect(200);
      const history = (await t.http().get(`/api/chats/${chatId}/messages`).set(member.auth).expect(200)).body.data.messages;
      expect(history).toEqual([expect.objectContaining({ type: 'SYSTEM', text: `member_kicked:${kicked.id}`, mediaUrl: null, sender: expect.objectContaining({ id: owner.id }) })]);
      const systemId = history[0].id;
      const listed = (await t.http().get('/api/chats').set(member.auth).expect(200)).body.data.chats.find((c: any) => c.id === chatId);
      expect(listed).toMatchObject({ unread: 0, lastMessage: { id: systemId, type: 'SYSTEM' } });
      // A real message after it counts one.
      const ows = await connect(t, owner);
      await send(ows, chatId, 'hello');
      expect((await t.http().get(`/api/chats/${chatId}`).set(member.auth).expect(200)).body.data.unread).toBe(1);

      expectError(await t.http().patch(`/api/messages/${systemId}`).set(owner.auth).send({ text: 'rewritten' }), 403, 'FORBIDDEN');
      expectError(await t.http().post(`/api/messages/${systemId}/reactions`).set(member.auth).send({ emoji: '👍' }), 403, 'FORBIDDEN');
      expectError(await t.http().post(`/api/messages/${systemId}/hide`).set(member.auth), 403, 'FORBIDDEN');
      expectError(await t.http().delete(`/api/messages/${systemId}?forEveryone=true`).set(owner.auth), 403, 'FORBIDDEN');
      expectError(await t.http().delete(`/api/messages/${systemId}`).set(owner.auth), 403, 'FORBIDDEN');
      expect((await t.http().get('/api/messages/search?q=member').set(member.auth).expect(200)).body.data.messages).toEqual([]);
      expect(await t.backend.sql('SELECT text, is_edited FROM messages WHERE id = $1', [systemId])).toEqual([{ text: `member_kicked:${kicked.id}`, is_edited: false }]);
      ows.close();
    });
  });

  describe('the 200-member limit (§18.6)', () => {
    it('answers GROUP_LIMIT_EXCEEDED (400) when an addition would pass 200 members', async () => {
      const [owner, a, b] = await users(3);
      const chatId = await createGroup(t, owner, []);
      await fillGroup(t, chatId, 198);
      expectError(await t.http().post(`/api/chats/${chatId}/members`).set(owner.auth).send({ userIds: [a.id, b.id] }), 400, 'GROUP_LIMIT_EXCEEDED');
      await t.http().post(`/api/chats/${chatId}/members`).set(owner.auth).send({ userIds: [a.id] }).expect(200);
      expect((await t.backend.sql('SELECT count(*)::int AS n FROM chat_members WHERE chat_id = $1', [chatId]))[0].n).toBe(200);
    });

    (TEST_DATABASE_URL ? it : it.skip)('holds when two admins add members at the same moment (PostgreSQL)', async () => {
      const [owner, admin, ...newcomers] = await users(8);
      const chatId = await createGroup(t, owner, [admin]);
      await setRole(chatId, admin, 'ADMIN');
      await fillGroup(t, chatId, 195);
      const results = await Promise.all([
        t.http().post(`/api/chats/${chatId}/members`).set(owner.auth).send({ userIds: newcomers.slice(0, 3).map((u) => u.id) }),
        t.http().post(`/api/chats/${chatId}/members`).set(admin.auth).send({ userIds: newcomers.slice(3, 6).map((u) => u.id) }),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
      expect((await t.backend.sql('SELECT count(*)::int AS n FROM chat_members WHERE chat_id = $1', [chatId]))[0].n).toBe(200);
    });
  });

  describe('PATCH /api/chats/:id: the description (§18.5)', () => {
    it('sets it (at most 512 characters), clears it with "" or null, and tells the members', async () => {
      const [owner, member] = await users(2);
      const chatId = await createGroup(t, owner, [member]);
      const mws = await connect(t, member);
      const res = await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ description: '  Weekly sync  ' }).expect(200);
      expect(res.body.data).toMatchObject({ id: chatId, description: 'Weekly sync' });
      expect(await mws.waitFor('chat:updated', (c) => c.description === 'Weekly sync')).toMatchObject({ id: chatId });
      await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ description: 'é'.repeat(512) }).expect(200);
      expectError(await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ description: 'x'.repeat(513) }), 422, 'VALIDATION_ERROR');
      expectError(await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ description: 5 }), 422, 'VALIDATION_ERROR');
      expect((await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ description: '' }).expect(200)).body.data.description).toBeNull();
      await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ description: 'back' }).expect(200);
      expect((await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ description: null }).expect(200)).body.data.description).toBeNull();
      expect(await t.backend.sql('SELECT name, description FROM chats WHERE id = $1', [chatId])).toEqual([{ name: 'Group', description: null }]);
      mws.close();
    });

    it('stores it on creation as a change stores it: trimmed, and none when empty', async () => {
      const [owner, member] = await users(2);
      const create = async (description: string) => (await t.http().post('/api/chats/group').set(owner.auth).send({ name: 'G', memberIds: [member.id], description }).expect(201)).body.data;
      const [empty, padded] = [await create(''), await create('   pad   ')];
      expect([empty.description, padded.description]).toEqual([null, 'pad']);
      expect(await t.backend.sql('SELECT description FROM chats WHERE id = ANY($1::uuid[]) ORDER BY description NULLS FIRST', [[empty.id, padded.id]])).toEqual([
        { description: null },
        { description: 'pad' },
      ]);
    });
  });

  describe('PATCH /api/chats/:id: the avatar', () => {
    it("takes the group's current avatar sent back with a rename, whoever uploaded it; a new one must be the caller's own image", async () => {
      const [owner, admin] = await users(2);
      const chatId = await createGroup(t, owner, [admin]);
      await t.http().patch(`/api/chats/${chatId}/members/${admin.id}/role`).set(owner.auth).send({ role: 'ADMIN' }).expect(200);
      const adminsImage = (await t.http().post('/api/upload').set(admin.auth).attach('file', await fixtures.image('png'), 'g.png').expect(201)).body.data.url;
      await t.http().patch(`/api/chats/${chatId}`).set(admin.auth).send({ avatar: adminsImage }).expect(200);
      // The owner's form sends every field back.
      const renamed = (await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ name: 'Renamed', avatar: adminsImage, description: null }).expect(200)).body.data;
      expect(renamed).toMatchObject({ name: 'Renamed', avatar: adminsImage });
      // As a variant URL (the web client derives /uploads/medium/… itself), the same image.
      const viaVariant = adminsImage.replace('/uploads/', '/uploads/medium/');
      expect((await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ name: 'Again', avatar: viaVariant }).expect(200)).body.data).toMatchObject({ name: 'Again', avatar: adminsImage });
      // Another image of the admin's is not the owner's to set.
      const another = (await t.http().post('/api/upload').set(admin.auth).attach('file', await fixtures.image('png'), 'h.png').expect(201)).body.data.url;
      expectError(await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ avatar: another }), 422, 'MEDIA_NOT_FOUND');
      expect(await t.backend.sql('SELECT name, avatar FROM chats WHERE id = $1', [chatId])).toEqual([{ name: 'Again', avatar: adminsImage }]);
    });
  });

  describe('PATCH /api/chats/:id: the name', () => {
    it('refuses a null or blank name with 422 and keeps the name; a repeat of what is there tells the members nothing', async () => {
      const [owner, member] = await users(2);
      const chatId = await createGroup(t, owner, [member]);
      for (const name of [null, '', '   ']) expectError(await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ name }), 422, 'VALIDATION_ERROR');
      expect(await t.backend.sql('SELECT name FROM chats WHERE id = $1', [chatId])).toEqual([{ name: 'Group' }]);
      const mws = await connect(t, member);
      expect((await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ name: 'Group', description: null }).expect(200)).body.data).toMatchObject({ id: chatId, name: 'Group' });
      await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({}).expect(200);
      await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ name: 'Renamed' }).expect(200);
      // The first chat:updated the member gets is the rename: the repeats sent none.
      expect(await mws.waitFor('chat:updated')).toMatchObject({ id: chatId, name: 'Renamed' });
      mws.close();
    });

    it("each member's chat:updated is the chat as their own GET shows it: avatars, presence and blocks towards them, their unread, mute, pin and hidden messages", async () => {
      // The views of all members are read together (ChatViews.forMembers); each must still be
      // the one member's own. `face` shows avatar and presence to contacts only and has `friend`
      // and `blocker` as contacts, but `blocker` blocks `face`; `hider` hid the last message, and
      // `replyHider` the message it replies to;
      // `muter` muted and pinned the chat and has a draft.
      const [owner, face, friend, stranger, blocker, hider, muter, replyHider] = await users(8);
      const avatar = (await t.http().post('/api/upload').set(face.auth).attach('file', await fixtures.image('png'), 'face.png').expect(201)).body.data.url;
      await t.http().patch('/api/users/me').set(face.auth).send({ avatar }).expect(200);
      for (const contact of [friend, blocker]) await t.http().post(`/api/contacts/${contact.id}`).set(face.auth).expect(200);
      await t.http().put('/api/users/me/settings').set(face.auth).send({ showAvatar: 'contacts', showOnlineStatus: 'contacts' }).expect(200);
      const chatId = await createGroup(t, owner, [face, friend, stranger, blocker, hider, muter, replyHider], 'Views');
      await t.http().post(`/api/users/${face.id}/block`).set(blocker.auth).expect(200);
      const faceWs = await connect(t, face);
      await send(faceWs, chatId, 'older');
      const repliedTo = await send(faceWs, chatId, 'replied to');
      const last = await send(faceWs, chatId, 'newest', { replyToId: repliedTo.id });
      await t.http().post(`/api/messages/${last.id}/hide`).set(hider.auth).expect(200);
      await t.http().post(`/api/messages/${repliedTo.id}/hide`).set(replyHider.auth).expect(200);
      await t.http().patch(`/api/chats/${chatId}/mute`).set(muter.auth).send({ muted: true }).expect(200);
      await t.http().patch(`/api/chats/${chatId}/pin-chat`).set(muter.auth).send({ pinned: true }).expect(200);
      await t.http().put(`/api/chats/${chatId}/draft`).set(muter.auth).send({ text: 'later' }).expect(200);
      await t.http().post(`/api/messages/${last.id}/read`).set(friend.auth).expect(200);
      const audience = [owner, friend, stranger, blocker, hider, muter, replyHider];
      const sockets = await Promise.all(audience.map((u) => connect(t, u)));
      await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ name: 'Views renamed' }).expect(200);
      const seen = await Promise.all(sockets.map((ws) => ws.waitFor('chat:updated')));
      const views = await Promise.all(audience.map(async (u) => (await t.http().get(`/api/chats/${chatId}`).set(u.auth).expect(200)).body.data));
      audience.forEach((_, i) => expect(seen[i]).toEqual({ ...views[i], draft: undefined }));
      // What the comparison stands for, spelled out for the members whose views differ.
      const faceAs = (i: number) => seen[i].members.find((m: { userId: string }) => m.userId === face.id).user;
      expect([faceAs(1).avatar, faceAs(1).isOnline]).toEqual([avatar, true]);
      expect([faceAs(2).avatar, faceAs(2).isOnline]).toEqual([null, false]);
      // A contact who blocked `face`: the avatar still (a block hides presence), the presence not.
      expect(faceAs(3)).toMatchObject({ avatar, isOnline: false, lastOnline: null });
      expect(seen[4].lastMessage.text).toBe('replied to');
      expect(seen[0].lastMessage).toMatchObject({ id: last.id, text: 'newest' });
      const mine = seen[5].members.find((m: { userId: string }) => m.userId === muter.id);
      expect([mine.mutedUntil, mine.pinnedAt === null]).toEqual(['9999-12-31T23:59:59.000Z', false]);
      expect(seen[0].members.find((m: { userId: string }) => m.userId === muter.id)).toMatchObject({ mutedUntil: null, pinnedAt: null });
      expect(views[5].draft).toMatchObject({ text: 'later' });
      // The last message as everyone sees it, but its reply preview as a hidden message's.
      expect(seen[6].lastMessage.id).toBe(last.id);
      expect(seen[6].lastMessage.replyTo).not.toEqual(seen[0].lastMessage.replyTo);
      [faceWs, ...sockets].forEach((ws) => ws.close());
    });
  });

  describe('blocks and groups', () => {
    it('refuses to put in a group, on creation or by adding, a user who blocked the inviter: 403 BLOCKED, nothing made, nobody told', async () => {
      const [inviter, blocker, friend] = await users(3);
      await t.http().post(`/api/users/${inviter.id}/block`).set(blocker.auth).expect(200);
      const bws = await connect(t, blocker);
      expectError(await t.http().post('/api/chats/group').set(inviter.auth).send({ name: 'Party', memberIds: [blocker.id, friend.id] }), 403, 'BLOCKED');
      expect(await t.backend.sql(`SELECT 1 FROM chat_members WHERE user_id = $1 AND role = 'OWNER'`, [inviter.id])).toEqual([]);
      const chatId = await createGroup(t, inviter, [friend]);
      expectError(await t.http().post(`/api/chats/${chatId}/members`).set(inviter.auth).send({ userIds: [blocker.id] }), 403, 'BLOCKED');
      expect(await t.backend.sql('SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, blocker.id])).toEqual([]);
      await bws.expectNo('chat:new');
      // Unblocked, they may be added.
      await t.http().delete(`/api/users/${inviter.id}/block`).set(blocker.auth).expect(200);
      await t.http().post(`/api/chats/${chatId}/members`).set(inviter.auth).send({ userIds: [blocker.id] }).expect(200);
      expect(await bws.waitFor('chat:new', (c) => c.id === chatId)).toMatchObject({ id: chatId });
      bws.close();
    });
  });

  describe('allowGroupInvites (§18.6)', () => {
    it('refuses with PRIVACY_GROUP_INVITE:<display names> those who do not allow the inviter, on creation and on adding', async () => {
      const [owner, shy, picky, friend] = await users(4);
      await t.http().patch('/api/users/me').set(shy.auth).send({ firstName: 'Shy', lastName: 'Person' }).expect(200);
      await t.http().put('/api/users/me/settings').set(shy.auth).send({ allowGroupInvites: 'nobody' }).expect(200);
      await t.http().put('/api/users/me/settings').set(picky.auth).send({ allowGroupInvites: 'contacts' }).expect(200);
      const create = (memberIds: string[]) => t.http().post('/api/chats/group').set(owner.auth).send({ name: 'Party', memberIds });
      const refused = await create([shy.id, picky.id, friend.id]);
      expectError(refused, 403, `PRIVACY_GROUP_INVITE:Shy Person, ${picky.nickname}`);
      // picky adds the owner to their contacts: now they may be added.
      await t.http().post(`/api/contacts/${owner.id}`).set(picky.auth).expect((res) => expect(res.status).toBeLessThan(300));
      const chatId = (await create([picky.id, friend.id]).expect(201)).body.data.id;
      expectError(await t.http().post(`/api/chats/${chatId}/members`).set(owner.auth).send({ userIds: [shy.id] }), 403, 'PRIVACY_GROUP_INVITE:Shy Person');
      expect(await t.backend.sql('SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, shy.id])).toHaveLength(0);
      // Joining by link is the user's own act: the setting does not apply.
      const code = (await t.http().post(`/api/chats/${chatId}/invite`).set(owner.auth).send({}).expect(201)).body.data.code;
      await t.http().post(`/api/chats/join/${code}`).set(shy.auth).expect(200);
      // Now a member, shy is not being invited: a request naming them adds the others.
      const late = await signUp(t);
      await t.http().post(`/api/chats/${chatId}/members`).set(owner.auth).send({ userIds: [shy.id, late.id] }).expect(200);
      expect(await t.backend.sql('SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, late.id])).toHaveLength(1);
    });
  });
});
