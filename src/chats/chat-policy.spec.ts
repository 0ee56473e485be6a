import { ChatRole } from './entities/chat-member.entity';
import { ChatAction, decide } from './chat-policy';

const actor = (role: ChatRole) => ({ userId: 'me', role });
const member = (userId: string, role: ChatRole | null) => ({ userId, role });
const verdict = (...args: Parameters<typeof decide>) => decide(...args)?.code ?? 'OK';

describe('ChatPolicy (wire-contract-v2.2 §17)', () => {
  const managersOnly: ChatAction[] = ['edit-info', 'add-members', 'manage-invites'];

  it.each(managersOnly)('%s: OWNER and ADMIN, not MEMBER; NOT_A_GROUP elsewhere', (action) => {
    expect(verdict(action, 'GROUP', actor('OWNER'))).toBe('OK');
    expect(verdict(action, 'GROUP', actor('ADMIN'))).toBe('OK');
    expect(verdict(action, 'GROUP', actor('MEMBER'))).toBe('FORBIDDEN');
    for (const type of ['DIRECT', 'SECRET', 'SELF'] as const) expect(verdict(action, type, actor('MEMBER'))).toBe('NOT_A_GROUP');
  });

  it('delete-group: the OWNER alone', () => {
    expect(verdict('delete-group', 'GROUP', actor('OWNER'))).toBe('OK');
    expect(verdict('delete-group', 'GROUP', actor('ADMIN'))).toBe('FORBIDDEN');
    expect(verdict('delete-group', 'DIRECT', actor('OWNER'))).toBe('NOT_A_GROUP');
  });

  it('remove-member: OWNER anyone but themselves, ADMIN members only, MEMBER nobody', () => {
    expect(verdict('remove-member', 'GROUP', actor('OWNER'), member('a', 'ADMIN'))).toBe('OK');
    expect(verdict('remove-member', 'GROUP', actor('OWNER'), member('me', 'OWNER'))).toBe('FORBIDDEN');
    expect(verdict('remove-member', 'GROUP', actor('ADMIN'), member('m', 'MEMBER'))).toBe('OK');
    expect(verdict('remove-member', 'GROUP', actor('ADMIN'), member('a', 'ADMIN'))).toBe('FORBIDDEN');
    expect(verdict('remove-member', 'GROUP', actor('ADMIN'), member('o', 'OWNER'))).toBe('FORBIDDEN');
    expect(verdict('remove-member', 'GROUP', actor('MEMBER'))).toBe('FORBIDDEN');
  });

  it('change-role: the OWNER, never on themselves or an OWNER', () => {
    expect(verdict('change-role', 'GROUP', actor('OWNER'), member('a', 'ADMIN'))).toBe('OK');
    expect(verdict('change-role', 'GROUP', actor('OWNER'), member('me', 'OWNER'))).toBe('CANNOT_CHANGE_OWNER');
    expect(verdict('change-role', 'GROUP', actor('ADMIN'))).toBe('FORBIDDEN');
    expect(verdict('change-role', 'GROUP', actor('MEMBER'))).toBe('FORBIDDEN');
  });

  it('pin-message and leave: every member of every chat', () => {
    for (const type of ['GROUP', 'DIRECT', 'SECRET', 'SELF'] as const) {
      expect(verdict('pin-message', type, actor('MEMBER'))).toBe('OK');
      expect(verdict('leave', type, actor('MEMBER'))).toBe('OK');
    }
  });

  describe('delete-message (for everyone)', () => {
    it('lets the sender delete their own message in any chat', () => {
      for (const type of ['GROUP', 'DIRECT', 'SECRET', 'SELF'] as const) expect(verdict('delete-message', type, actor('MEMBER'), member('me', 'MEMBER'))).toBe('OK');
    });
    it("lets the OWNER delete anyone's group message and an ADMIN anyone's but the OWNER's", () => {
      expect(verdict('delete-message', 'GROUP', actor('OWNER'), member('a', 'ADMIN'))).toBe('OK');
      expect(verdict('delete-message', 'GROUP', actor('ADMIN'), member('b', 'ADMIN'))).toBe('OK');
      expect(verdict('delete-message', 'GROUP', actor('ADMIN'), member('m', null))).toBe('OK');
      expect(verdict('delete-message', 'GROUP', actor('ADMIN'), member('o', 'OWNER'))).toBe('FORBIDDEN');
      expect(verdict('delete-message', 'GROUP', actor('MEMBER'), member('m', 'MEMBER'))).toBe('FORBIDDEN');
    });
    it("refuses the partner's message in DIRECT, SECRET and SELF chats", () => {
      for (const type of ['DIRECT', 'SECRET'] as const) expect(verdict('delete-message', type, actor('OWNER'), member('x', 'MEMBER'))).toBe('FORBIDDEN');
    });
    it('lets nobody delete a SYSTEM message, not even the OWNER who sent it', () => {
      expect(verdict('delete-message', 'GROUP', actor('OWNER'), { userId: 'me', role: 'OWNER', system: true })).toBe('FORBIDDEN');
    });
  });
});
