import { AppError } from '../core/errors';
import { ChatsRepository } from './chats.repository';
import { ChatsService } from './chats.service';
import { InviteLinksRepository } from './invite-links.repository';
import { InviteLinksService } from './invite-links.service';

describe('InviteLinksService', () => {
  /** Every database call fails the test: a malformed code must be refused before any. */
  const untouchable = <T extends object>() =>
    new Proxy({} as T, {
      get: (_target, name) => () => {
        throw new Error(`database reached: ${String(name)}`);
      },
    });
  const service = new InviteLinksService(untouchable<InviteLinksRepository>(), untouchable<ChatsRepository>(), untouchable<ChatsService>());
  const auth = { userId: '0190a1b2-0000-7000-8000-000000000001' } as never;

  it.each(['', 'short', 'A'.repeat(21), 'A'.repeat(23), `${'A'.repeat(21)}+`, `${'A'.repeat(21)}/`, `${'A'.repeat(21)}=`, 'invite', '../' + 'A'.repeat(19)])(
    'refuses %j with INVITE_NOT_FOUND without touching the database',
    async (code) => {
      for (const call of [() => service.preview(auth, code), () => service.join(auth, code)]) {
        const error = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AppError);
        expect((error as AppError).code).toBe('INVITE_NOT_FOUND');
      }
    },
  );
});
