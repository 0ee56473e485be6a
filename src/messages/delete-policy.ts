import { ChatRole } from '../chats/entities/chat-member.entity';
import { MessageType } from './entities/message.entity';

/** What decides whether a member may delete a message for everyone. */
export interface DeleteFacts {
  actorId: string;
  /** The actor's role in the chat; roles count only in groups. */
  actorRole: ChatRole;
  chatType: string;
  message: { senderId: string | null; type: MessageType };
  /** The sender's role in the chat, when the sender is still a member (asked only when it matters). */
  senderRole: () => Promise<ChatRole | null>;
}

/**
 * Delete for everyone (wire contract v2.2 §7.3, §17): the sender may; in a GROUP also the OWNER
 * (any message) and an ADMIN (any message that is not the OWNER's). SYSTEM messages record what
 * happened to the group: nobody deletes them. In DIRECT, SECRET and SELF chats only the sender.
 */
export async function mayDeleteForEveryone(facts: DeleteFacts): Promise<boolean> {
  if (facts.message.type === 'SYSTEM') return false;
  if (facts.message.senderId === facts.actorId) return true;
  if (facts.chatType !== 'GROUP') return false;
  if (facts.actorRole === 'OWNER') return true;
  return facts.actorRole === 'ADMIN' && (await facts.senderRole()) !== 'OWNER';
}
