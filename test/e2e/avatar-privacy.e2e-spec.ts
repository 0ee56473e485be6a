import { randomBytes } from 'node:crypto';
import { eventually, signUp, TestUser } from '../support/factories';
import { image } from '../support/media-fixtures';
import { connect, createGroup, send } from '../support/chats';
import { holdFirstCall } from '../support/races';
import { createTestApp, TestApp } from '../support/test-app';
import { UsersRepository } from '../../src/users/users.repository';
import { WsClient } from '../support/ws-client';

type Level = 'contacts' | 'nobody' | 'all';

/**
 * showAvatar (wire-contract-v2.2 §15): every User object and message sender a viewer gets
 * carries `avatar: null` unless the owner's level lets that viewer see it (`contacts` = users in
 * the owner's own contacts). The owner always sees their own.
 */
describe('avatar privacy (showAvatar)', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  const get = async (user: TestUser, path: string) => (await t.http().get(path).set(user.auth).expect(200)).body.data;
  const word = () => `w${randomBytes(5).toString('hex')}`;

  /**
   * `owner` (with an avatar and showAvatar at `level`) in a group with `contact` (in the owner's
   * contacts) and `other` (not); both of them have the owner in their own contact lists, and
   * `contact` has `other` in theirs, which changes nothing. Everyone has a socket.
   */
  async function scene(level: Level) {
    const [owner, contact, other] = await Promise.all([signUp(t), signUp(t), signUp(t)]);
    const avatar = (await t.http().post('/api/upload').set(owner.auth).attach('file', await image('png'), 'me.png').expect(201)).body.data.url;
    await t.http().patch('/api/users/me').set(owner.auth).send({ avatar }).expect(200);
    await t.http().post(`/api/contacts/${contact.id}`).set(owner.auth).expect(200);
    for (const user of [contact, other]) await t.http().post(`/api/contacts/${owner.id}`).set(user.auth).expect(200);
    // `other` in someone else's contacts is not in the owner's: it changes nothing either.
    await t.http().post(`/api/contacts/${other.id}`).set(contact.auth).expect(200);
    await t.http().put('/api/users/me/settings').set(owner.auth).send({ showAvatar: level }).expect(200);
    const chatId = await createGroup(t, owner, [contact, other], 'Faces');
    const [ownerWs, contactWs, otherWs] = await Promise.all([owner, contact, other].map((u) => connect(t, u)));
    return { owner, contact, other, avatar, chatId, ownerWs, contactWs, otherWs };
  }
  type Scene = Awaited<ReturnType<typeof scene>>;

  describe.each<[Level, { contact: boolean; other: boolean }]>([
    ['contacts', { contact: true, other: false }],
    ['nobody', { contact: false, other: false }],
    ['all', { contact: true, other: true }],
  ])('with showAvatar %s', (level, sees) => {
    let s: Scene;
    beforeAll(async () => (s = await scene(level)));
    afterAll(() => [s.ownerWs, s.contactWs, s.otherWs].forEach((ws) => ws.close()));

    /** The viewers other than the owner, with their socket and the avatar they should get. */
    const viewers = () => [
      { user: s.contact, ws: s.contactWs, avatar: sees.contact ? s.avatar : null },
      { user: s.other, ws: s.otherWs, avatar: sees.other ? s.avatar : null },
    ];
    const ownerIn = (chat: { members: Array<{ userId: string; user: { avatar: string | null } }> }) => chat.members.find((m) => m.userId === s.owner.id)!.user;

    it('chat members: in the chat list, GET /api/chats/:id, chat:updated and chat:new', async () => {
      for (const v of viewers()) {
        const listed = (await get(v.user, '/api/chats')).chats.find((c: { id: string }) => c.id === s.chatId);
        expect(ownerIn(listed).avatar).toBe(v.avatar);
        expect(ownerIn(await get(v.user, `/api/chats/${s.chatId}`)).avatar).toBe(v.avatar);
      }
      await t.http().patch(`/api/chats/${s.chatId}`).set(s.owner.auth).send({ name: `Renamed ${level}` }).expect(200);
      for (const v of viewers()) expect(ownerIn(await v.ws.waitFor('chat:updated', (p) => p.id === s.chatId && p.name === `Renamed ${level}`)).avatar).toBe(v.avatar);
      expect(ownerIn(await s.ownerWs.waitFor('chat:updated', (p) => p.id === s.chatId && p.name === `Renamed ${level}`)).avatar).toBe(s.avatar);

      // Someone added later is not the owner's contact: they see what `other` sees.
      const newcomer = await signUp(t);
      const newcomerWs = await connect(t, newcomer);
      await t.http().post(`/api/chats/${s.chatId}/members`).set(s.owner.auth).send({ userIds: [newcomer.id] }).expect(200);
      expect(ownerIn(await newcomerWs.waitFor('chat:new', (p) => p.id === s.chatId)).avatar).toBe(sees.other ? s.avatar : null);
      newcomerWs.close();
    });

    it("message senders: message:new, history, around, search and the chat list's last message", async () => {
      const text = `hello ${word()}`;
      const sent = await send(s.ownerWs, s.chatId, text);
      expect(sent.sender.avatar).toBe(s.avatar);
      for (const v of viewers()) {
        expect((await v.ws.waitFor('message:new', (p) => p.id === sent.id)).sender.avatar).toBe(v.avatar);
        const page = await get(v.user, `/api/chats/${s.chatId}/messages`);
        expect(page.messages.find((m: { id: string }) => m.id === sent.id).sender.avatar).toBe(v.avatar);
        const around = await get(v.user, `/api/chats/${s.chatId}/messages/around?date=${encodeURIComponent(sent.createdAt)}`);
        expect(around.messages.find((m: { id: string }) => m.id === sent.id).sender.avatar).toBe(v.avatar);
        const found = await get(v.user, `/api/messages/search?q=${encodeURIComponent(text.split(' ')[1])}`);
        expect(found.messages.map((m: { id: string; sender: { avatar: string | null } }) => [m.id, m.sender.avatar])).toEqual([[sent.id, v.avatar]]);
        const inChat = await get(v.user, `/api/chats/${s.chatId}/messages?q=${encodeURIComponent(text.split(' ')[1])}`);
        expect(inChat.messages.map((m: { sender: { avatar: string | null } }) => m.sender.avatar)).toEqual([v.avatar]);
        const listed = (await get(v.user, '/api/chats')).chats.find((c: { id: string }) => c.id === s.chatId);
        expect(listed.lastMessage).toMatchObject({ id: sent.id, sender: { id: s.owner.id, avatar: v.avatar } });
      }
    });

    it("reply previews' sender: on the replier's own copy, on message:new to the others, in history", async () => {
      const original = await send(s.ownerWs, s.chatId, 'quote me');
      for (const v of viewers()) await v.ws.waitFor('message:new', (p) => p.id === original.id);
      const reply = await send(s.otherWs, s.chatId, 'a reply', { replyToId: original.id });
      expect(reply.replyTo.sender).toMatchObject({ id: s.owner.id, avatar: sees.other ? s.avatar : null });
      expect((await s.contactWs.waitFor('message:new', (p) => p.id === reply.id)).replyTo.sender.avatar).toBe(sees.contact ? s.avatar : null);
      expect((await s.ownerWs.waitFor('message:new', (p) => p.id === reply.id)).replyTo.sender.avatar).toBe(s.avatar);
      for (const v of viewers()) {
        const page = await get(v.user, `/api/chats/${s.chatId}/messages`);
        expect(page.messages.find((m: { id: string }) => m.id === reply.id).replyTo.sender.avatar).toBe(v.avatar);
        const listed = (await get(v.user, '/api/chats')).chats.find((c: { id: string }) => c.id === s.chatId);
        expect(listed.lastMessage.replyTo.sender.avatar).toBe(v.avatar);
      }
      const own = await get(s.owner, `/api/chats/${s.chatId}/messages`);
      expect(own.messages.find((m: { id: string }) => m.id === reply.id).replyTo.sender.avatar).toBe(s.avatar);
    });

    it('message:edited, message:deleted newLastMessage and a group event by the owner', async () => {
      const first = await send(s.ownerWs, s.chatId, 'first');
      const second = await send(s.ownerWs, s.chatId, 'second');
      for (const v of viewers()) await v.ws.waitFor('message:new', (p) => p.id === second.id);

      await t.http().patch(`/api/messages/${first.id}`).set(s.owner.auth).send({ text: 'first, edited' }).expect(200);
      for (const v of viewers()) expect((await v.ws.waitFor('message:edited', (p) => p.id === first.id)).sender.avatar).toBe(v.avatar);
      expect((await s.ownerWs.waitFor('message:edited', (p) => p.id === first.id)).sender.avatar).toBe(s.avatar);

      await t.http().delete(`/api/messages/${second.id}`).set(s.owner.auth).expect(200);
      for (const v of viewers()) {
        const deleted = await v.ws.waitFor('message:deleted', (p) => p.messageId === second.id);
        expect(deleted.newLastMessage).toMatchObject({ id: first.id, sender: { avatar: v.avatar } });
      }

      // A role change: a SYSTEM message from the owner, then the whole chat as each member sees it.
      await t.http().patch(`/api/chats/${s.chatId}/members/${s.other.id}/role`).set(s.owner.auth).send({ role: 'ADMIN' }).expect(200);
      for (const v of viewers()) {
        const event = await v.ws.waitFor('message:new', (p) => p.chatId === s.chatId && p.type === 'SYSTEM');
        expect(event.sender).toMatchObject({ id: s.owner.id, avatar: v.avatar });
        const updated = await v.ws.waitFor('chat:updated', (p) => p.id === s.chatId && p.members?.some((m: { userId: string; role: string }) => m.userId === s.other.id && m.role === 'ADMIN'));
        expect(ownerIn(updated).avatar).toBe(v.avatar);
      }
      expect((await s.ownerWs.waitFor('message:new', (p) => p.chatId === s.chatId && p.type === 'SYSTEM')).sender.avatar).toBe(s.avatar);
    });

    it('user search, the profile and the contacts list', async () => {
      for (const v of viewers()) {
        const found = await get(v.user, `/api/users/search?q=${s.owner.nickname}`);
        expect(found.map((u: { id: string; avatar: string | null }) => [u.id, u.avatar])).toEqual([[s.owner.id, v.avatar]]);
        expect((await get(v.user, `/api/users/${s.owner.id}`)).avatar).toBe(v.avatar);
        const contacts = await get(v.user, '/api/contacts');
        expect(contacts.find((c: { id: string }) => c.id === s.owner.id).avatar).toBe(v.avatar);
      }
    });

    it('the owner sees their own avatar: /users/me, their own profile, chat members and their own messages', async () => {
      expect((await get(s.owner, '/api/users/me')).avatar).toBe(s.avatar);
      expect((await get(s.owner, `/api/users/${s.owner.id}`)).avatar).toBe(s.avatar);
      expect(ownerIn(await get(s.owner, `/api/chats/${s.chatId}`)).avatar).toBe(s.avatar);
      const sent = await send(s.ownerWs, s.chatId, 'mine');
      expect(sent.sender.avatar).toBe(s.avatar);
      const page = await get(s.owner, `/api/chats/${s.chatId}/messages`);
      expect(page.messages.find((m: { id: string }) => m.id === sent.id).sender.avatar).toBe(s.avatar);
      const listed = (await get(s.owner, '/api/chats')).chats.find((c: { id: string }) => c.id === s.chatId);
      expect(listed.lastMessage.sender.avatar).toBe(s.avatar);
    });

    // Last: blocking the owner changes what the other tests above read (a block does not change the avatar rule).
    it('the blocked list', async () => {
      for (const v of viewers()) {
        await t.http().post(`/api/users/${s.owner.id}/block`).set(v.user.auth).expect(200);
        expect((await get(v.user, '/api/users/me/blocked?full=1')).map((u: { id: string; avatar: string | null }) => [u.id, u.avatar])).toEqual([[s.owner.id, v.avatar]]);
      }
    });
  });

  it('a new avatar crossing a change of showAvatar to nobody: the partners end on avatar null, whichever tells last', async () => {
    const [owner, partner] = await Promise.all([signUp(t), signUp(t)]);
    await createGroup(t, owner, [partner], 'Race');
    const partnerWs = await connect(t, partner);
    const avatar = (await t.http().post('/api/upload').set(owner.auth).attach('file', await image('png'), 'me.png').expect(201)).body.data.url;
    // The avatar's change reads showAvatar (all) and is held before telling…
    const held = holdFirstCall(UsersRepository.prototype, 'avatarRule');
    try {
      const changing = t.http().patch('/api/users/me').set(owner.auth).send({ avatar }).then((res) => res);
      await eventually(async () => expect(held.calls()).toBe(1));
      // …while showAvatar becomes nobody and is told first.
      await t.http().put('/api/users/me/settings').set(owner.auth).send({ showAvatar: 'nobody' }).expect(200);
      held.release();
      expect((await changing).status).toBe(200);
    } finally {
      held.restore();
    }
    await eventually(async () => {
      const told = partnerWs.logged().filter((f) => f.event === 'user:updated' && (f.payload as { id: string }).id === owner.id);
      expect((told[told.length - 1]?.payload as { avatar?: string | null })?.avatar).toBeNull();
    });
    partnerWs.close();
  });

  it('tells a viewer who blocked the owner nothing when the owner adds them as a contact or removes them', async () => {
    const [owner, viewer] = await Promise.all([signUp(t), signUp(t)]);
    const avatar = (await t.http().post('/api/upload').set(owner.auth).attach('file', await image('png'), 'me.png').expect(201)).body.data.url;
    await t.http().patch('/api/users/me').set(owner.auth).send({ avatar }).expect(200);
    await t.http().put('/api/users/me/settings').set(owner.auth).send({ showAvatar: 'contacts' }).expect(200);
    await createGroup(t, owner, [viewer], 'Apart');
    await t.http().post(`/api/users/${owner.id}/block`).set(viewer.auth).expect(200);
    const viewerWs = await connect(t, viewer);
    await t.http().post(`/api/contacts/${viewer.id}`).set(owner.auth).expect(200);
    await t.http().delete(`/api/contacts/${viewer.id}`).set(owner.auth).expect(200);
    // The viewer's own update travels the same bus after anything the contact changes told them.
    const marker = word();
    await t.http().patch('/api/users/me').set(viewer.auth).send({ bio: marker }).expect(200);
    await viewerWs.waitFor('user:updated', (p) => p.id === viewer.id && p.bio === marker);
    expect(viewerWs.received.filter((f) => f.event === 'user:updated' && f.payload.id === owner.id)).toEqual([]);
    viewerWs.close();
  });

  it('a contacts-only avatar in a 1:1 chat: the partner who is not a contact gets null, learns it when they become one, and loses it when they stop', async () => {
    const [owner, partner] = await Promise.all([signUp(t), signUp(t)]);
    const avatar = (await t.http().post('/api/upload').set(owner.auth).attach('file', await image('png'), 'me.png').expect(201)).body.data.url;
    await t.http().patch('/api/users/me').set(owner.auth).send({ avatar }).expect(200);
    await t.http().put('/api/users/me/settings').set(owner.auth).send({ showAvatar: 'contacts' }).expect(200);
    const chatId = (await t.http().post('/api/chats/direct').set(owner.auth).send({ targetUserId: partner.id }).expect(200)).body.data.id;
    const [ownerWs, partnerWs] = [await connect(t, owner), await connect(t, partner)];
    const first = await send(ownerWs, chatId, 'hi');
    // The first message reveals the chat: chat:new, then message:new, both without the avatar.
    const revealed = await partnerWs.waitFor('chat:new', (p) => p.id === chatId);
    expect(revealed.members.find((m: { userId: string }) => m.userId === owner.id).user.avatar).toBeNull();
    expect((await partnerWs.waitFor('message:new', (p) => p.id === first.id)).sender.avatar).toBeNull();

    // Becoming a contact tells the avatar at once (the web client shows what user:updated last said)…
    await t.http().post(`/api/contacts/${partner.id}`).set(owner.auth).expect(200);
    expect(await partnerWs.waitFor('user:updated', (p) => p.id === owner.id)).toEqual({ id: owner.id, avatar });
    const second = await send(ownerWs, chatId, 'hi again');
    expect((await partnerWs.waitFor('message:new', (p) => p.id === second.id)).sender.avatar).toBe(avatar);
    const page = await get(partner, `/api/chats/${chatId}/messages`);
    expect(page.messages.map((m: { sender: { avatar: string | null } }) => m.sender.avatar)).toEqual([avatar, avatar]);
    // …and ceasing to be one takes it back.
    await t.http().delete(`/api/contacts/${partner.id}`).set(owner.auth).expect(200);
    expect(await partnerWs.waitFor('user:updated', (p) => p.id === owner.id && p.avatar === null)).toEqual({ id: owner.id, avatar: null });
    expect((await get(partner, `/api/chats/${chatId}`)).members.find((m: { userId: string }) => m.userId === owner.id).user.avatar).toBeNull();
    // The owner's own contact list is theirs: the partner adding the owner changes nothing the owner shows.
    await t.http().post(`/api/contacts/${owner.id}`).set(partner.auth).expect(200);
    await partnerWs.expectNo('user:updated', (p) => p.id === owner.id && p.avatar !== null);
    for (const ws of [ownerWs, partnerWs] as WsClient[]) ws.close();
  });
});
