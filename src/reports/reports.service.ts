import { Injectable } from '@nestjs/common';
import { ChatsService } from '../chats/chats.service';
import { AppConfig } from '../core/config/app-config';
import { newId } from '../core/database/ids';
import { isForeignKeyViolation } from '../core/database/query-results';
import { AppError } from '../core/errors';
import { validationError } from '../core/http/validation';
import { RateLimiter } from '../core/rate-limit/rate-limiter';
import { UsersService } from '../users/users.service';
import { CreateReportDto, ReportCreatedDto } from './dto/report.dto';
import { MessageEvidence, ReportsRepository, ReportTargets } from './reports.repository';

/**
 * Abuse reports (contract v2.2 §11): checked against what the reporter can see, limited per
 * reporter, deduplicated over 24 hours, and stored with a copy of the evidence for moderators.
 */
@Injectable()
export class ReportsService {
  constructor(
    private readonly reports: ReportsRepository,
    private readonly users: UsersService,
    private readonly chats: ChatsService,
    private readonly limiter: RateLimiter,
    private readonly config: AppConfig,
  ) {}

  /**
   * Files a report, or finds the one this reporter filed on the same targets for the same reason
   * within 24 hours. Checks, in order: a target is named (422) and is not the reporter
   * (CANNOT_TARGET_SELF); the reporter's budget (RATE_LIMIT_REPORTS, every well-formed request
   * counts, repeats included, so probing costs as much as filing); the user exists, the chat is
   * one of the reporter's, the message is in one of their chats and not hidden by them (404s,
   * which say nothing about chats the reporter is not in); a user or chat named beside a message
   * is that message's sender or chat (422), and a message is not the reporter's own.
   */
  async create(reporterId: string, input: CreateReportDto): Promise<ReportCreatedDto> {
    const targets: ReportTargets = { userId: input.targetUserId ?? null, messageId: input.targetMessageId ?? null, chatId: input.targetChatId ?? null };
    if (!targets.userId && !targets.messageId && !targets.chatId) {
      throw validationError({ targetUserId: ['name at least one of targetUserId, targetMessageId, targetChatId'] });
    }
    if (targets.userId === reporterId) throw new AppError('CANNOT_TARGET_SELF', 'You cannot report yourself');
    await this.limiter.require('reports', reporterId, this.config.values.reportLimit, 'Too many reports');

    if (targets.userId) await this.users.requireUser(targets.userId);
    if (targets.chatId) await this.chats.requireMember(targets.chatId, reporterId);
    try {
      return await this.reports.transaction(async (tx) => {
        const message = targets.messageId ? await this.reports.messageEvidence(tx, targets.messageId, reporterId) : null;
        if (targets.messageId && !message) throw new AppError('MESSAGE_NOT_FOUND');
        if (message) requireConsistent(message, targets, reporterId);
        await this.reports.lockReporter(tx, reporterId);
        const repeat = await this.reports.findRepeat(tx, reporterId, targets, input.reason);
        if (repeat) return { id: repeat };
        const id = newId();
        await this.reports.insert(tx, { id, reporterId, targets, reason: input.reason, details: input.details ?? null, message });
        return { id };
      });
    } catch (error) {
      // An account deleted between the checks above and the insert.
      if (isForeignKeyViolation(error, 'reports_message_sender_id_fkey')) throw new AppError('MESSAGE_NOT_FOUND');
      if (isForeignKeyViolation(error, 'reports_reporter_id_fkey')) throw new AppError('UNAUTHORIZED');
      if (isForeignKeyViolation(error)) throw new AppError('USER_NOT_FOUND');
      throw error;
    }
  }
}

/**
 * A message report names the message's sender (and may name its chat): a report whose targets
 * disagree would put one user's message on another user's record for the moderators.
 */
function requireConsistent(message: MessageEvidence, targets: ReportTargets, reporterId: string): void {
  if (message.senderId === reporterId) throw new AppError('CANNOT_TARGET_SELF', 'You cannot report your own message');
  if (targets.userId && targets.userId !== message.senderId) throw validationError({ targetUserId: ['must be the sender of targetMessageId'] });
  if (targets.chatId && targets.chatId !== message.chatId) throw validationError({ targetChatId: ['must be the chat of targetMessageId'] });
}
