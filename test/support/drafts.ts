import { NewMessage } from '../../src/messages/messages.repository';

/** A plain text draft, as MessagesService makes it for a text frame (no media, reply, forward or ciphertext). */
export function textDraft(chatId: string, senderId: string, text: string, extra: Partial<NewMessage> = {}): NewMessage {
  return {
    chatId,
    senderId,
    type: 'TEXT',
    text,
    mediaUrl: null,
    mediaName: null,
    mediaSize: null,
    mediaGroupId: null,
    replyToId: null,
    forwardedFromId: null,
    forwardSenderName: null,
    ciphertext: null,
    signalType: null,
    clientMessageId: null,
    ...extra,
  };
}
