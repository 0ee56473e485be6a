import { ApiProperty } from '@nestjs/swagger';
import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import { OnSocketEvent, SocketClient, SocketLifecycle } from '../realtime/on-socket-event.decorator';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { BlockPolicy } from '../users/block-policy';
import { UsersService } from '../users/users.service';
import { ChatsService } from './chats.service';
import { IsId } from '../core/http/is-id';
import { withTimeout } from '../core/async/with-timeout';

/**
 * A typing indicator lapses by itself this long after the last `typing:start`: a safety net, not
 * a rhythm. The web client sends one start per burst of typing and a stop 2 s after the last key
 * (or on sending, or leaving the chat), however long the burst (MessageArea.tsx handleTyping);
 * a socket that closes ends its indicators at once.
 */
export const TYPING_TTL_MS = 30_000;

/** How long a stopping instance spends telling members that the indicators it held ended. */
const SHUTDOWN_TELL_MS = 1_000;

export class TypingDto {
  @ApiProperty({ format: 'uuid' }) @IsId() chatId: string;
}

export class TypingStoppedEvent {
  @ApiProperty({ format: 'uuid' }) chatId: string;
  @ApiProperty({ format: 'uuid' }) userId: string;
}

export class TypingStartedEvent extends TypingStoppedEvent {
  @ApiProperty() nickname: string;
}

declare module '../realtime/client-events' {
  interface ClientEvents {
    'typing:started': TypingStartedEvent;
    'typing:stopped': TypingStoppedEvent;
  }
}

/**
 * Typing indicators: relayed to the other members who can see the chat (the target of a direct
 * chat sees it only from its first message), never across a block in a pair chat, and ending on
 * the instance that saw the start: on typing:stop, on a message:send in the chat (end), when the
 * socket that started it closes, or TYPING_TTL_MS after the last start.
 */
@Injectable()
export class TypingSocket implements BeforeApplicationShutdown {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Each indicator's chat and typist, and the socket (connection id) that last started it; keyed as `timers`. */
  private readonly typists = new Map<string, { chatId: string; userId: string; connectionId: string }>();
  /** TYPING_TTL_MS; a test may shorten it. */
  ttlMs = TYPING_TTL_MS;

  constructor(
    private readonly chats: ChatsService,
    private readonly users: UsersService,
    private readonly blocks: BlockPolicy,
    private readonly realtime: RealtimePublisher,
  ) {}

  @OnSocketEvent('typing:start', { dto: TypingDto })
  async start(client: SocketClient, { chatId }: TypingDto): Promise<void> {
    const { chat } = await this.chats.requireMember(chatId, client.userId);
    // Dropped without a word, and without a timer: no typing:stopped follows either.
    if (!(await this.blocks.deliversInChat('typing', client.userId, chat))) return;
    const key = `${chatId}:${client.userId}`;
    const wasTyping = this.timers.has(key);
    clearTimeout(this.timers.get(key));
    const timer = setTimeout(() => void this.end(chatId, client.userId), this.ttlMs);
    timer.unref();
    this.timers.set(key, timer);
    this.typists.set(key, { chatId, userId: client.userId, connectionId: client.connection.id });
    if (wasTyping) return; // a repeated start only extends the indicator
    const user = await this.users.findById(client.userId);
    await this.realtime.toUsers(await this.audience(chatId, client.userId), 'typing:started', { chatId, userId: client.userId, nickname: user?.nickname ?? '' });
  }

  @OnSocketEvent('typing:stop', { dto: TypingDto })
  async stop(client: SocketClient, { chatId }: TypingDto): Promise<void> {
    await this.chats.requireMember(chatId, client.userId);
    await this.end(chatId, client.userId);
  }

  /** The indicators a closing socket started end with it (a client that drops sends no typing:stop). */
  @OnSocketEvent(SocketLifecycle.Disconnected)
  async disconnected(client: SocketClient): Promise<void> {
    const ended = [...this.typists.values()].filter((typist) => typist.connectionId === client.connection.id);
    for (const { chatId, userId } of ended) await this.end(chatId, userId);
  }

  /**
   * An instance going away ends the indicators it holds, while its bus is still up: the timers
   * that would have ended them go with it, and the members on other instances would otherwise
   * see "typing" until they reload. (Before the sockets close: Nest ends a module before it
   * shuts the application down, so this is the last moment the indicators are known.)
   */
  async beforeApplicationShutdown(): Promise<void> {
    const ending = [...this.typists.values()].map(({ chatId, userId }) => this.end(chatId, userId));
    await withTimeout(Promise.allSettled(ending), SHUTDOWN_TELL_MS, null);
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.typists.clear();
  }

  /**
   * Ends the user's indicator in the chat, if this instance holds one: nothing to do (no query)
   * otherwise. A message:send calls it too: the web client stops typing when it sends, but a
   * client that sends no typing:stop (the Android app) would leave "typing…" up beside its
   * message until the indicator lapsed.
   */
  async end(chatId: string, userId: string): Promise<void> {
    const key = `${chatId}:${userId}`;
    if (!this.timers.has(key)) return;
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    this.typists.delete(key);
    await this.realtime.toUsers(await this.audience(chatId, userId), 'typing:stopped', { chatId, userId });
  }

  private async audience(chatId: string, typistId: string): Promise<string[]> {
    return (await this.chats.visibleMemberIds(chatId)).filter((id) => id !== typistId);
  }
}
