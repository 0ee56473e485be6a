import { Injectable } from '@nestjs/common';
import { AppConfig } from '../core/config/app-config';
import { isUuid } from '../core/database/ids';
import { AppError } from '../core/errors';
import { RateLimiter } from '../core/rate-limit/rate-limiter';
import { AuthContext } from '../auth/auth-context';
import { ExportFormat, ExportPersonDto, toExportChat, toExportMessage, toExportPerson } from './dto/export.dto';
import { exportWriter, ExportWriter } from './export-writers';
import { ExportRepository } from './export.repository';

/** Chats read per statement; each page carries its chats' members. */
export const CHAT_PAGE_SIZE = 100;
/** Messages read per statement: one page is all of a history an export holds in memory at a time. */
export const MESSAGE_PAGE_SIZE = 500;
/**
 * Messages per written piece: a few tens of KB, so each piece is a short-lived young-generation
 * string that a scavenge frees, not a large object that waits for a full collection.
 */
const MESSAGES_PER_PIECE = 50;

/** An export ready to send: the file's name and type, and its content, produced as it is read. */
export interface ExportFile {
  filename: string;
  contentType: string;
  headers: Record<string, string>;
  /**
   * The file in pieces. Nothing is read before the first piece is asked for; each later piece
   * is read only when the consumer asks for it, so a consumer that stops (returns the iterator)
   * stops the reads.
   */
  chunks: AsyncIterable<string>;
}

export interface ExportRequest {
  format: ExportFormat;
  /** One chat, or null for all of the caller's chats. */
  chatId: string | null;
  /** `scheme://host[:port]` the request was addressed to: media links in the HTML page point there. */
  mediaOrigin: string | null;
}

/**
 * Data export (wire-contract-v2.2 §14): the caller's visible chats except SECRET ones (those hold
 * only ciphertext), archived chats and saved messages included, each with the messages the
 * caller can see, oldest first. Read in keyset pages and written as it is read, so memory does
 * not grow with the history, and no transaction or connection is held between pages.
 */
@Injectable()
export class ExportService {
  constructor(
    private readonly exports: ExportRepository,
    private readonly limiter: RateLimiter,
    private readonly config: AppConfig,
  ) {}

  /**
   * Checks what can be refused with an error answer (membership, the hourly limit) and prepares
   * the file. A single chat must be one the caller sees (else CHAT_NOT_FOUND) and not SECRET.
   * Every export counts against RATE_LIMIT_EXPORT, per user, the two routes together.
   */
  async open(auth: AuthContext, request: ExportRequest): Promise<ExportFile> {
    if (request.chatId !== null) {
      const type = isUuid(request.chatId) ? await this.exports.visibleChatType(request.chatId, auth.userId) : null;
      if (!type) throw new AppError('CHAT_NOT_FOUND');
      if (type === 'SECRET') throw new AppError('SECRET_CHAT_RESTRICTED', 'Secret chats hold only ciphertext: there is nothing to export');
    }
    const limit = this.config.values.exportLimit;
    await this.limiter.require('export', auth.userId, limit, `At most ${limit.limit} exports per ${describeWindow(limit.windowSeconds)}`);
    const exportedAt = new Date();
    const writer = exportWriter(request.format, request.mediaOrigin);
    return {
      filename: `h2v-export-${exportedAt.toISOString().slice(0, 10)}.${request.format}`,
      contentType: writer.contentType,
      headers: writer.headers,
      chunks: this.pieces(auth, request.chatId, writer, exportedAt),
    };
  }

  /**
   * The file's pieces: the opening (once the first page of chats is read), then per chat its
   * head, its messages MESSAGES_PER_PIECE at a time, its end.
   *
   * A slow reader can take hours, so every page is read as the reader may read now (the pages'
   * statements check the membership and the session): a chat they were removed from meanwhile
   * ends where their membership did; a session ended meanwhile (logout, terminated from another
   * device, account deleted) ends the file as a failed transfer, not as a complete-looking file
   * that leaves out the rest (checked at the end of every chat and before the file's end: a chat
   * page read after the session ended is empty).
   */
  private async *pieces(reader: AuthContext, chatId: string | null, writer: ExportWriter, exportedAt: Date): AsyncGenerator<string> {
    const person = await this.exports.person(reader.userId);
    if (!person) throw new AppError('UNAUTHORIZED');
    const user: ExportPersonDto = toExportPerson(person);
    let chats = await this.exports.chatPage(reader, { after: null, onlyChatId: chatId, limit: CHAT_PAGE_SIZE });
    yield writer.begin(exportedAt, user);
    for (;;) {
      for (const row of chats) {
        yield writer.beginChat(toExportChat(row, reader.userId));
        let after: string | null = null;
        for (;;) {
          const page = await this.exports.messagePage(row.id, reader, { after, limit: MESSAGE_PAGE_SIZE });
          for (let i = 0; i < page.length; i += MESSAGES_PER_PIECE) yield writer.messages(page.slice(i, i + MESSAGES_PER_PIECE).map(toExportMessage));
          if (page.length < MESSAGE_PAGE_SIZE) break;
          after = page[page.length - 1].id;
        }
        await this.requireSession(reader);
        yield writer.endChat();
      }
      if (chats.length < CHAT_PAGE_SIZE) break;
      chats = await this.exports.chatPage(reader, { after: chats[chats.length - 1].id, onlyChatId: chatId, limit: CHAT_PAGE_SIZE });
    }
    await this.requireSession(reader);
    yield writer.end();
  }

  private async requireSession(reader: AuthContext): Promise<void> {
    if (!(await this.exports.sessionLive(reader.sessionId))) throw new AppError('UNAUTHORIZED', 'The session ended during the export');
  }
}

function describeWindow(seconds: number): string {
  if (seconds % 3600 === 0) return seconds === 3600 ? 'hour' : `${seconds / 3600} hours`;
  return `${seconds} s`;
}
