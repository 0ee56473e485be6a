import { avatarSeenBy } from '../users/avatar-privacy';
import { decodeUserFacts, UserFactsTuple } from '../users/users.repository';
import { decodeMessageSet, MessageSetColumns, senderFromFacts } from './message-set';

const viewer = 'v0000000-0000-7000-8000-000000000000';
const owner = 'u0000000-0000-7000-8000-000000000001';
const created = '2026-11-30T10:23:30.692123+00:00';

function message(id: string, extra: Partial<Record<'senderId' | 'type' | 'replyToId' | 'updatedAt', string | null>> & { reply?: [string | null, string | null] | null } = {}): MessageSetColumns['messages'][number] {
  const { senderId = owner, type = 'TEXT', replyToId = null, updatedAt = null, reply = null } = extra;
  return [id, 'c1', 1, senderId, type as 'TEXT', 'hi', null, null, null, null, replyToId, null, null, null, null, false, created, updatedAt, reply];
}

const columns = (parts: Partial<MessageSetColumns>): MessageSetColumns => ({ messages: [], senders: [], reactions: [], listens: [], ...parts });

describe('decodeMessageSet', () => {
  it('names a message; updatedAt falls back to createdAt, a reply to its text and sender', () => {
    const set = decodeMessageSet(columns({ messages: [message('m1', { replyToId: 'm0', reply: ['question', owner] }), message('m2', { updatedAt: '2026-11-30T11:00:00+00:00', replyToId: 'gone' })] }), viewer);
    expect(set.messages[0]).toMatchObject({ id: 'm1', chatId: 'c1', seq: 1, senderId: owner, createdAt: created, updatedAt: created, replyToId: 'm0', reply: { text: 'question', senderId: owner } });
    expect(set.messages[1]).toMatchObject({ updatedAt: '2026-11-30T11:00:00+00:00', replyToId: 'gone', reply: null });
  });

  it('turns a sender\'s avatar facts into the rule avatarSeenBy reads, towards the one viewer', () => {
    const set = decodeMessageSet(
      columns({
        senders: [
          ['u1', 'plain', null, null, null, null, null],
          ['u2', 'everyone', null, null, '/uploads/a.png', null, null],
          ['u3', 'contacts-yes', null, null, '/uploads/b.png', 'contacts', true],
          ['u4', 'contacts-no', null, null, '/uploads/c.png', 'contacts', false],
          ['u5', 'nobody', null, null, '/uploads/d.png', 'nobody', null],
        ],
      }),
      viewer,
    );
    const seen = ['u1', 'u2', 'u3', 'u4', 'u5'].map((id) => avatarSeenBy(set.senders.get(id)!, viewer));
    expect(seen).toEqual([null, '/uploads/a.png', '/uploads/b.png', null, null]);
  });

  it('groups reactions and listens by message in the order read, and takes the senders it was given', () => {
    const facts: UserFactsTuple = [owner, 'owner', 'O', null, '/uploads/o.png', null, null, null, null, 'contacts', false, false];
    const set = decodeMessageSet(
      columns({
        reactions: [
          ['m1', 'r1', 'u1', '👍', 'one'],
          ['m2', 'r2', 'u1', '🔥', 'one'],
          ['m1', 'r3', 'u2', '❤️', 'two'],
        ],
        listens: [['m2', 'u1']],
      }),
      viewer,
      [senderFromFacts(decodeUserFacts(facts), viewer)],
    );
    expect(set.reactions.get('m1')!.map((r) => r.id)).toEqual(['r1', 'r3']);
    expect(set.reactions.get('m2')).toEqual([{ id: 'r2', messageId: 'm2', userId: 'u1', emoji: '🔥', nickname: 'one' }]);
    expect([set.listens.get('m1'), set.listens.get('m2')]).toEqual([undefined, [{ userId: 'u1' }]]);
    // The owner shows the avatar to contacts only, and the viewer is not one.
    expect(avatarSeenBy(set.senders.get(owner)!, viewer)).toBeNull();
    expect(avatarSeenBy(senderFromFacts(decodeUserFacts(facts), owner), owner)).toBe('/uploads/o.png');
  });
});
