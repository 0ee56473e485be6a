import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { ChatRole } from '../chats/entities/chat-member.entity';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { MessageViews } from './message-views';
import { MessagesRepository } from './messages.repository';

/** The group events the client renders as timeline lines (wire-contract-v2.2 §1.4), as their stored texts. */
export type GroupEventText = 'member_left' | `member_kicked:${string}` | `role_changed:${string}:${Exclude<ChatRole, 'OWNER'>}`;

export const GroupEvents = {
  memberLeft: (): GroupEventText => 'member_left',
  memberKicked: (userId: string): GroupEventText => `member_kicked:${userId}`,
  roleChanged: (userId: string, role: Exclude<ChatRole, 'OWNER'>): GroupEventText => `role_changed:${userId}:${role}`,
};

/** Publishes a recorded SYSTEM message, after its transaction committed, to the members given. */
export type SystemMessagePublication = (memberIds: string[]) => Promise<void>;

/**
 * SYSTEM messages: stored in the transaction of the change they record (so a change and its
 * line in the timeline commit together), then published as `message:new` in the chat's order.
 * They are the chat's last message, never count as unread, and nobody edits, reacts to,
 * forwards, pins, hides or deletes them (see ChatPolicy and MessagesService).
 */
@Injectable()
export class SystemMessages {
  constructor(
    private readonly messages: MessagesRepository,
    private readonly views: MessageViews,
    private readonly realtime: RealtimePublisher,
  ) {}

  async record(tx: EntityManager, chatId: string, senderId: string, text: GroupEventText): Promise<SystemMessagePublication> {
    const message = await this.messages.insertSystem(tx, chatId, senderId, text);
    return async (memberIds) => {
      // One payload for all, unless the actor's showAvatar hides their avatar from some members.
      const views = await this.views.buildFresh(message, memberIds);
      await this.realtime.toAudiences('message:new', views.map((view) => ({ userIds: view.viewerIds, payload: view.dto })), { chatId, seq: Number(message.seq) });
    };
  }
}
