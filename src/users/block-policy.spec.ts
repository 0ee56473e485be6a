import { AppError } from '../core/errors';
import { BlockPolicy } from './block-policy';
import { UsersRepository } from './users.repository';

/** Blocks as pairs "blocker>blocked"; chats as their two members. */
function policyWith(blocks: string[], chats: Record<string, [string, string]>): { policy: BlockPolicy; queries: string[] } {
  const queries: string[] = [];
  const between = (x: string, y: string) => blocks.includes(`${x}>${y}`) || blocks.includes(`${y}>${x}`);
  const users = {
    blockedInChat: async (chatId: string, userId: string) => {
      queries.push(`chat ${chatId}`);
      return chats[chatId].some((member) => member !== userId && between(userId, member));
    },
    blockedAmong: async (userId: string, candidates: string[]) => {
      queries.push(`among ${userId}`);
      return candidates.filter((id) => between(userId, id));
    },
  } as unknown as UsersRepository;
  return { policy: new BlockPolicy(users), queries };
}

const code = (promise: Promise<unknown>) =>
  promise.then(
    () => 'allowed',
    (error: unknown) => (error instanceof AppError ? error.code : String(error)),
  );

describe('BlockPolicy', () => {
  const chats: Record<string, [string, string]> = { direct: ['a', 'b'], secret: ['a', 'b'], open: ['a', 'c'] };

  it('refuses every write into a pair chat with BLOCKED, whoever blocked whom', async () => {
    for (const blocks of [['a>b'], ['b>a']]) {
      const { policy } = policyWith(blocks, chats);
      for (const actor of ['a', 'b']) {
        for (const type of ['DIRECT', 'SECRET']) {
          for (const action of ['message:edit', 'message:delete', 'message:listened', 'reaction'] as const) {
            expect(await code(policy.requireInChat(action, actor, { id: type === 'DIRECT' ? 'direct' : 'secret', type }))).toBe('BLOCKED');
          }
        }
      }
      expect(() => policy.refuseIf('message:send', true)).toThrow(AppError);
    }
  });

  it('lets writes through a pair chat without a block, and through any group without asking', async () => {
    const { policy, queries } = policyWith(['a>b'], chats);
    expect(await code(policy.requireInChat('message:edit', 'a', { id: 'open', type: 'DIRECT' }))).toBe('allowed');
    expect(queries).toEqual(['chat open']);
    expect(await code(policy.requireInChat('reaction', 'a', { id: 'group', type: 'GROUP' }))).toBe('allowed');
    expect(await policy.deliversInChat('typing', 'b', { id: 'group', type: 'GROUP' })).toBe(true);
    expect(queries).toEqual(['chat open']);
    expect(() => policy.refuseIf('message:send', false)).not.toThrow();
  });

  it('drops typing across a block in a pair chat without refusing it', async () => {
    const { policy } = policyWith(['b>a'], chats);
    expect([await policy.deliversInChat('typing', 'a', { id: 'direct', type: 'DIRECT' }), await policy.deliversInChat('typing', 'b', { id: 'direct', type: 'DIRECT' })]).toEqual([
      false,
      false,
    ]);
    expect(await policy.deliversInChat('typing', 'a', { id: 'open', type: 'DIRECT' })).toBe(true);
  });

  it('keeps user events from recipients on either side of a block, and asks nothing for nobody', async () => {
    const { policy, queries } = policyWith(['a>b', 'c>a'], chats);
    expect(await policy.audience('user:updated', 'a', ['b', 'c', 'd'])).toEqual(['d']);
    expect(await policy.audience('user:updated', 'd', ['a', 'b'])).toEqual(['a', 'b']);
    expect(await policy.audience('user:updated', 'a', [])).toEqual([]);
    expect(queries).toEqual(['among a', 'among d']);
  });
});
