import { ChatRole } from '../chats/entities/chat-member.entity';
import { mayDeleteForEveryone } from './delete-policy';

const facts = (over: { actorRole?: ChatRole; chatType?: string; senderId?: string | null; type?: 'TEXT' | 'SYSTEM'; senderRole?: ChatRole | null }) => ({
  actorId: 'me',
  actorRole: over.actorRole ?? 'MEMBER',
  chatType: over.chatType ?? 'GROUP',
  message: { senderId: over.senderId === undefined ? 'other' : over.senderId, type: over.type ?? 'TEXT' },
  senderRole: async () => (over.senderRole === undefined ? 'MEMBER' : over.senderRole),
});

describe('mayDeleteForEveryone', () => {
  it('lets the sender delete their own message in any chat type', async () => {
    for (const chatType of ['DIRECT', 'SECRET', 'GROUP', 'SELF']) {
      expect(await mayDeleteForEveryone(facts({ chatType, senderId: 'me' }))).toBe(true);
    }
  });

  it('lets nobody delete a SYSTEM message, not even the OWNER', async () => {
    expect(await mayDeleteForEveryone(facts({ actorRole: 'OWNER', type: 'SYSTEM', senderId: null }))).toBe(false);
    expect(await mayDeleteForEveryone(facts({ type: 'SYSTEM', senderId: 'me' }))).toBe(false);
  });

  it('lets a group OWNER delete any message and an ADMIN any message but the OWNER\'s', async () => {
    expect(await mayDeleteForEveryone(facts({ actorRole: 'OWNER', senderRole: 'ADMIN' }))).toBe(true);
    expect(await mayDeleteForEveryone(facts({ actorRole: 'ADMIN', senderRole: 'MEMBER' }))).toBe(true);
    expect(await mayDeleteForEveryone(facts({ actorRole: 'ADMIN', senderRole: 'ADMIN' }))).toBe(true);
    expect(await mayDeleteForEveryone(facts({ actorRole: 'ADMIN', senderRole: null }))).toBe(true);
    expect(await mayDeleteForEveryone(facts({ actorRole: 'ADMIN', senderRole: 'OWNER' }))).toBe(false);
  });

  it('refuses a MEMBER someone else\'s message, and everyone someone else\'s message outside groups', async () => {
    expect(await mayDeleteForEveryone(facts({ actorRole: 'MEMBER' }))).toBe(false);
    expect(await mayDeleteForEveryone(facts({ chatType: 'DIRECT', actorRole: 'MEMBER' }))).toBe(false);
  });
});
