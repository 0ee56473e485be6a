import { isStorageKey, newStoredName, storedNameFromUrl } from './upload-names';

describe('upload names', () => {
  it('makes random names that satisfy the name grammar and keep the sniffed extension', () => {
    const a = newStoredName('jpg');
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}\.jpg$/);
    expect(newStoredName('jpg')).not.toBe(a);
    expect(isStorageKey(a)).toBe(true);
  });

  it('accepts only names in known areas as storage keys', () => {
    expect(isStorageKey('thumbs/abc_-1.webp')).toBe(true);
    expect(isStorageKey('originals/abc.png')).toBe(true);
    for (const key of ['../etc/passwd', 'thumbs/../x.png', 'other/abc.png', 'abc', '.abc.png', 'thumbs/a/b.png', 'a.PNG', 'medium/']) {
      expect(isStorageKey(key)).toBe(false);
    }
  });

  it('reads the stored name from the original, medium and thumbnail URLs only', () => {
    expect(storedNameFromUrl('/uploads/abc.png')).toBe('abc.png');
    expect(storedNameFromUrl('/uploads/medium/abc.png')).toBe('abc.png');
    expect(storedNameFromUrl('/uploads/thumbs/abc.png')).toBe('abc.png');
    for (const url of ['/uploads/originals/abc.png', 'https://evil/uploads/abc.png', '/uploads/../abc.png', '/uploads/abc.png?x=1', '/uploads/a%2fb.png', null, 42]) {
      expect(storedNameFromUrl(url)).toBeNull();
    }
  });
});
