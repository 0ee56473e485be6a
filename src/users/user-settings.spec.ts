import { DEFAULT_SETTINGS, extraKeyCount, normalizedPatch, privacyAllows, validateSettingsPatch, withDefaults } from './user-settings';

describe('user settings', () => {
  it('accepts known fields with allowed values and extra keys with primitive values', () => {
    expect(validateSettingsPatch({ fontSize: 'small', showOnlineStatus: 'contacts', showReadReceipts: false, 'web.theme-v2': 'x', n: 1.5, b: null })).toEqual({});
  });

  it('names each bad field', () => {
    const errors = validateSettingsPatch({ fontSize: 'xl', locale: 'de', notifSound: 1, nested: {}, 'a b': 1, nan: Number.NaN, __proto__x: 1 });
    expect(Object.keys(errors).sort()).toEqual(['a b', 'fontSize', 'locale', 'nan', 'nested', 'notifSound']);
  });

  it('refuses a __proto__ key and non-object bodies', () => {
    // Own keys: every object has a __proto__ property to find.
    expect(Object.keys(validateSettingsPatch(JSON.parse('{"__proto__": 1}')))).toEqual(['__proto__']);
    expect(Object.keys(validateSettingsPatch(JSON.parse('{"__proto__": {"x": 1}, "fontSize": "large"}')))).toEqual(['__proto__']);
    for (const body of [null, [], 'x', 3]) expect(validateSettingsPatch(body)).toHaveProperty('settings');
  });

  it('fills defaults under stored values and counts only extra keys', () => {
    expect(withDefaults({ fontSize: 'large', x: 1 })).toEqual({ ...DEFAULT_SETTINGS, fontSize: 'large', x: 1 });
    expect(extraKeyCount({ fontSize: 'large', x: 1, y: 2 })).toBe(2);
  });

  it('maps privacy levels: true/all to everyone, contacts to contacts, false/nobody to no one', () => {
    expect([true, 'all', undefined].map((level) => privacyAllows(level, false))).toEqual([true, true, true]);
    expect([privacyAllows('contacts', true), privacyAllows('contacts', false)]).toEqual([true, false]);
    expect([false, 'nobody'].map((level) => privacyAllows(level, true))).toEqual([false, false]);
  });

  it('stores privacy booleans as levels and answers stored booleans as levels (the web client reads strings)', () => {
    expect(normalizedPatch({ showOnlineStatus: true, showReadReceipts: false, showAvatar: 'contacts', theme: 'light' })).toEqual({
      showOnlineStatus: 'all',
      showReadReceipts: 'nobody',
      showAvatar: 'contacts',
      theme: 'light',
    });
    expect(withDefaults({ showOnlineStatus: false, allowGroupInvites: true })).toMatchObject({ showOnlineStatus: 'nobody', allowGroupInvites: 'all', showAvatar: 'all', locale: null });
  });

  it('checks the v2.2 keys: theme, locale (or null), autoDeleteMonths as strings, voiceSpeed 0-2', () => {
    expect(validateSettingsPatch({ theme: 'light', locale: null, autoDeleteMonths: '12', voiceSpeed: 2, showAvatar: false, allowGroupInvites: 'nobody' })).toEqual({});
    const errors = validateSettingsPatch({ theme: 'x', locale: 'de', autoDeleteMonths: 12, voiceSpeed: 1.5, showAvatar: 'x', allowGroupInvites: 0 });
    expect(Object.keys(errors).sort()).toEqual(['allowGroupInvites', 'autoDeleteMonths', 'locale', 'showAvatar', 'theme', 'voiceSpeed']);
  });
});
