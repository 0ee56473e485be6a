import { ApiProperty } from '@nestjs/swagger';
import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { OnSocketEvent, SocketClient } from '../realtime/on-socket-event.decorator';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { BlockPolicy } from '../users/block-policy';
import { UsersService } from '../users/users.service';
import { ChatsService } from './chats.service';
import { IsId } from '../core/http/is-id';

/** A typing indicator lapses by itself this long after the last `typing:start`. */
export const TYPING_TTL_MS = 6_000;

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
 * chat sees it only from its first message), never across a block in a pair chat, and expiring
 * on the instance that saw the start.
 */
@Injectable()
export class TypingSocket implements OnModuleDestroy {
  private readonly timers = new Map<string, NodeJS.Timeout>();

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
    const timer = setTimeout(() => void this.stopTyping(chatId, client.userId), TYPING_TTL_MS);
    timer.unref();
    this.timers.set(key, timer);
    if (wasTyping) return; // a repeated start only extends the indicator
    const user = await this.users.findById(client.userId);
    await this.realtime.toUsers(await this.audience(chatId, client.userId), 'typing:started', { chatId, userId: client.userId, nickname: user?.nickname ?? '' });
  }

  @OnSocketEvent('typing:stop', { dto: TypingDto })
  async stop(client: SocketClient, { chatId }: TypingDto): Promise<void> {
    await this.chats.requireMember(chatId, client.userId);
    await this.stopTyping(chatId, client.userId);
  }

  onModuleDestroy(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private async stopTyping(chatId: string, userId: string): Promise<void> {
    const key = `${chatId}:${userId}`;
    if (!this.timers.has(key)) return;
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    await this.realtime.toUsers(await this.audience(chatId, userId), 'typing:stopped', { chatId, userId });
  }

  private async audience(chatId: string, typistId: string): Promise<string[]> {
    return (await this.chats.visibleMemberIds(chatId)).filter((id) => id !== typistId);
  }
}
