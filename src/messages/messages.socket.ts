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
    const { message, resent } = await this.messages.send(client.userId, payload);
    // A retry of a stored message: the sender's other devices have it already; this socket did
    // not hear back (that is why it retried), so it alone is answered.
    if (resent) client.send('message:new', { ...message, clientMessageId: payload.clientMessageId });
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
