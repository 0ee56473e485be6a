import { AvatarOwner, avatarRestricted, avatarRuleLacksContacts, avatarSeenBy } from './avatar-privacy';

const owner = (level: unknown, contactOf: string[] | null = null, avatar: string | null = '/uploads/a.webp'): AvatarOwner => ({
  id: 'o',
  avatar,
  avatarRule: level === undefined ? null : { level, contactOf },
});

describe('avatar visibility', () => {
  it('shows the avatar to everyone without a rule, with true/all and with a level never set; to no one else with false/nobody', () => {
    for (const level of [undefined, null, true, 'all']) expect(avatarSeenBy(owner(level), 'v')).toBe('/uploads/a.webp');
    for (const level of [false, 'nobody']) expect(avatarSeenBy(owner(level), 'v')).toBeNull();
  });

  it("shows a `contacts` avatar only to the owner's contacts, and hides it when the contacts were not read", () => {
    const rule = owner('contacts', ['friend']);
    expect([avatarSeenBy(rule, 'friend'), avatarSeenBy(rule, 'stranger')]).toEqual(['/uploads/a.webp', null]);
    expect(avatarSeenBy(owner('contacts', null), 'friend')).toBeNull();
  });

  it('always shows the owner their own avatar, and null stays null', () => {
    for (const level of [false, 'nobody', 'contacts']) expect(avatarSeenBy(owner(level), 'o')).toBe('/uploads/a.webp');
    expect(avatarSeenBy(owner('all', null, null), 'v')).toBeNull();
  });

  it('tells when an audience may need splitting, and when the contacts still need reading', () => {
    expect([undefined, 'all', true, 'contacts', 'nobody', false].map((level) => avatarRestricted(owner(level)))).toEqual([false, false, false, true, true, true]);
    expect(avatarRestricted(owner('nobody', null, null))).toBe(false);
    expect([avatarRuleLacksContacts(owner('contacts')), avatarRuleLacksContacts(owner('contacts', [])), avatarRuleLacksContacts(owner('nobody'))]).toEqual([true, false, false]);
  });
});
