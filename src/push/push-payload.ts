/** What the service worker shows (wire-contract-v2.2 §12): its tag is `data.chatId`. */
export interface PushPayload {
  title: string;
  body: string;
  icon?: string;
  data: { chatId: string };
}

/** The message a notification is about, with what its recipient may see of the sender. */
export interface PushableMessage {
  chatId: string;
  chatType: string;
  type: string;
  text: string | null;
  senderNickname: string;
  senderFirstName: string | null;
  senderLastName: string | null;
  /** The sender's avatar path, null when none or when the sender's showAvatar hides it from the recipient. */
  senderAvatar: string | null;
}

export const MAX_PUSH_BODY = 200;
export const SECRET_BODY = 'Encrypted message';
export const MEDIA_BODY = '📎 Media';

/**
 * The notification of a message: the sender's display name (§0), the text cut to 200 characters
 * (a media message shows its caption, or "📎 Media"), a fixed text for secret chats (the server
 * holds only ciphertext and never sends it), and the sender's avatar as an absolute URL on the
 * origin the recipient's browser reached the API at.
 */
export function pushPayload(message: PushableMessage, origin: string | null): PushPayload {
  const payload: PushPayload = { title: displayName(message), body: bodyOf(message), data: { chatId: message.chatId } };
  const icon = message.senderAvatar && origin ? absolute(message.senderAvatar, origin) : null;
  if (icon) payload.icon = icon;
  return payload;
}

function bodyOf(message: PushableMessage): string {
  if (message.chatType === 'SECRET') return SECRET_BODY;
  const text = message.text?.trim();
  if (text) return cut(text, MAX_PUSH_BODY);
  return message.type === 'TEXT' ? '' : MEDIA_BODY;
}

/** The wire contract's display name: `firstName lastName` (the non-empty parts), else the nickname. */
function displayName(message: PushableMessage): string {
  return [message.senderFirstName, message.senderLastName].filter((part) => part && part.trim()).join(' ') || message.senderNickname;
}

/** At most `max` characters (code points: an emoji is never split in half). */
function cut(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : chars.slice(0, max).join('');
}

function absolute(path: string, origin: string): string | null {
  try {
    const url = new URL(path, origin);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}
