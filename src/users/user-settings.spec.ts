import { DEFAULT_SETTINGS, extraKeyCount, privacyAllows, validateSettingsPatch, withDefaults } from './user-settings';

describe('user settings', () => {
  it('accepts known fields with allowed values and extra keys with primitive values', () => {
    expect(validateSettingsPatch({ fontSize: 'small', showOnlineStatus: 'contacts', showReadReceipts: false, 'web.theme-v2': 'x', n: 1.5, b: null })).toEqual({});
  });

  it('names each bad field', () => {
    const errors = validateSettingsPatch({ fontSize: 'xl', locale: 'de', notifSound: 1, nested: {}, 'a b': 1, nan: Number.NaN, __proto__x: 1 });
    expect(Object.keys(errors).sort()).toEqual(['a b', 'fontSize', 'locale', 'nan', 'nested', 'notifSound']);
  });

  it('refuses a __proto__ key and non-object bodies', () => {
    expect(validateSettingsPatch(JSON.parse('{"__proto__": 1}'))).toHaveProperty('__proto__');
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
});
