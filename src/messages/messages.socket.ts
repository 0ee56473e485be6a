import { Injectable } from '@nestjs/common';
import { TypingSocket } from '../chats/typing.socket';
import { Metrics } from '../core/metrics/metrics';
import { OnSocketEvent, SocketClient } from '../realtime/on-socket-event.decorator';
import { ListenedDto, ReadMessageDto, SendMessageDto } from './dto/message-requests.dto';
import { MessagesService } from './messages.service';

/**
 * How many `message:send` frames of one socket may be in progress at once: the next one joins a
 * send batch while the one before it is still being written (the answers keep frame order).
 */
const SEND_PIPELINE = 8;

/** Inbound message frames. A refused `message:send` answers `message:send:error` with the clientMessageId. */
@Injectable()
export class MessagesSocket {
  constructor(
    private readonly messages: MessagesService,
    private readonly metrics: Metrics,
    private readonly typing: TypingSocket,
  ) {}

  @OnSocketEvent('message:send', { dto: SendMessageDto, errorEvent: 'message:send:error', echo: ['clientMessageId'], pipeline: SEND_PIPELINE })
  async send(client: SocketClient, payload: SendMessageDto): Promise<void> {
    // Sending ends the sender's typing indicator in the chat (at no cost when there is none).
    await this.typing.end(payload.chatId, client.userId);
    const done = this.metrics.sendDuration.startTimer();
    const { message, resent } = await this.messages.send(client.userId, payload, client);
    done();
    if (!resent) this.metrics.messagesStored.inc();
    // A retry of a stored message: the sender's other devices have it already; this socket did
    // not hear back (that is why it retried), so it alone is answered.
    if (resent) {
      await client.inTurn();
      client.send('message:new', { ...message, clientMessageId: payload.clientMessageId });
    }
  }

  @OnSocketEvent('message:read', { dto: ReadMessageDto })
  async read(client: SocketClient, payload: ReadMessageDto): Promise<void> {
    await this.messages.markRead(client.userId, payload.messageId, payload.chatId);
  }

  @OnSocketEvent('message:listened', { dto: ListenedDto })
  async listened(client: SocketClient, payload: ListenedDto): Promise<void> {
    await this.messages.markListened(client.userId, payload.messageId, payload.chatId);
  }
}
