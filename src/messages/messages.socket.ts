import { Injectable } from '@nestjs/common';
import { OnSocketEvent, SocketClient } from '../realtime/on-socket-event.decorator';
import { ListenedDto, ReadMessageDto, SendMessageDto } from './dto/message-requests.dto';
import { MessagesService } from './messages.service';

/** Inbound message frames. A refused `message:send` answers `message:send:error` with the clientMessageId. */
@Injectable()
export class MessagesSocket {
  constructor(private readonly messages: MessagesService) {}

  @OnSocketEvent('message:send', { dto: SendMessageDto, errorEvent: 'message:send:error', echo: ['clientMessageId'] })
  async send(client: SocketClient, payload: SendMessageDto): Promise<void> {
    await this.messages.send(client.userId, payload);
  }

  @OnSocketEvent('message:read', { dto: ReadMessageDto })
  async read(client: SocketClient, payload: ReadMessageDto): Promise<void> {
    await this.messages.markRead(client.userId, payload.messageId, payload.chatId);
  }

  @OnSocketEvent('message:listened', { dto: ListenedDto })
  async listened(client: SocketClient, payload: ListenedDto): Promise<void> {
    await this.messages.markListened(client.userId, payload.messageId);
  }
}
