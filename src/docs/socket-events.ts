import { Type } from '@nestjs/common';
import { ChatDto, ChatUpdateDto, MemberLeftDto, PinnedMessageUpdate } from '../chats/dto/chat.dto';
import { DraftUpdatedEvent } from '../chats/chat-events';
import { TypingStartedEvent, TypingStoppedEvent } from '../chats/typing.socket';
import { KeysLowEvent } from '../keys/key-events';
import { MessageDto } from '../messages/dto/message.dto';
import { MessageDeletedEvent, MessageListenedEvent, MessageReadEvent, MessageRefEvent, ReactionAddedEvent, ReactionRemovedEvent } from '../messages/message-events';
import { UserOfflineEvent, UserOnlineEvent } from '../presence/presence.service';
import { AuthOkEvent, ClientEventName, PresenceSnapshotEvent, ResyncRequiredEvent, SocketErrorEvent } from '../realtime/client-events';
import { UserDto } from '../users/dto/user.dto';
import { ChatDeletedEvent } from '../users/users.events';

/** How one server → client event is described: its payload class (or classes, one of which is sent), and when it is sent. */
export interface ServerEventDoc {
  summary: string;
  payload: Type<unknown> | Array<Type<unknown>>;
  /** Every field of the payload class is optional but these (a partial object). */
  partial?: string[];
  /** A logged event also sent, in this case, to one socket only, without seq: the case, for the document. */
  unloggedWhen?: string;
}

/**
 * Every event the server sends, keyed by ClientEvents: an event added to ClientEvents without
 * an entry here does not compile, and each payload class is the very type ClientEvents names.
 */
export const SERVER_EVENTS: { readonly [E in ClientEventName]: ServerEventDoc } = {
  'auth:ok': { summary: 'The socket is authenticated (after the cookie upgrade or an `auth` frame), with the current position `seq`', payload: AuthOkEvent },
  'presence:snapshot': { summary: 'Who among the related users is online, right after auth:ok', payload: PresenceSnapshotEvent },
  'resync:required': { summary: "Instead of a replay: the resume's lastSeq is older than the event log holds; reload state over HTTP", payload: ResyncRequiredEvent },
  error: { summary: 'A refused or malformed frame (the socket stays open)', payload: SocketErrorEvent },
  'user:online': { summary: 'A related user came online', payload: UserOnlineEvent },
  'user:offline': { summary: 'A related user went offline (or may no longer be seen)', payload: UserOfflineEvent },
  'user:updated': { summary: "A profile changed (everyone sharing a chat, and the user's own sockets)", payload: UserDto, partial: ['id'] },
  'chat:new': { summary: 'A chat appeared for this user (created, joined, revealed by its first message)', payload: ChatDto },
  'chat:updated': { summary: "A chat changed: the whole Chat as this member sees it (without the draft), or {id, pinnedMessageId} when only the pinned message did", payload: [ChatUpdateDto, PinnedMessageUpdate] },
  'chat:member-left': { summary: 'A member left or was removed (to the remaining members)', payload: MemberLeftDto },
  'chat:deleted': { summary: 'A chat is gone for this user (deleted, left, removed from it)', payload: ChatDeletedEvent },
  'draft:updated': { summary: "The user's draft of a chat changed (all their sockets); text null when it is gone", payload: DraftUpdatedEvent },
  'typing:started': { summary: 'A member started typing (lapses after 6 s without a repeat)', payload: TypingStartedEvent },
  'typing:stopped': { summary: 'A member stopped typing', payload: TypingStoppedEvent },
  'message:new': {
    summary: "A new message, in the chat's order (the sender's devices get it with the clientMessageId)",
    payload: MessageDto,
    unloggedWhen:
      'the answer to a message:send that repeats a stored clientMessageId (a retry): the stored message, to the retrying socket only, ' +
      'which is not logged and carries no seq (the other devices had it the first time)',
  },
  'message:edited': { summary: 'A message was edited', payload: MessageDto },
  'message:deleted': { summary: 'A message was deleted for everyone (all members) or hidden (the hider)', payload: MessageDeletedEvent },
  'message:delivered': { summary: "To the sender: another member was online when the message was stored", payload: MessageRefEvent },
  'message:read': { summary: 'A member read up to this message (as their showReadReceipts allows)', payload: MessageReadEvent },
  'message:listened': { summary: 'To the sender: a member played the voice message', payload: MessageListenedEvent },
  'reaction:added': { summary: 'A reaction was added', payload: ReactionAddedEvent },
  'reaction:removed': { summary: 'A reaction was removed', payload: ReactionRemovedEvent },
  'keys:low': { summary: 'To the owner: few one-time prekeys are left; replenish', payload: KeysLowEvent },
};
