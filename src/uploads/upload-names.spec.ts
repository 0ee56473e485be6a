import { fileNameOf, isStorageKey, newStoredName, storedNameFromUrl } from './upload-names';

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

  it('keeps of a client\'s file name what is safe to show: the last segment, no controls or bidi overrides, well-formed, 255 code points', () => {
    expect(fileNameOf('../../../.bashrc')).toBe('.bashrc');
    expect(fileNameOf('a\\..\\b.txt')).toBe('b.txt');
    expect(fileNameOf('invoice\u202Egnp.exe')).toBe('invoicegnp.exe');
    expect(fileNameOf('x\r\ny\u0007\u0085\u2066z\u2069.txt')).toBe('xyz.txt');
    expect(fileNameOf('\u00e9\udc00\u00e9')).toBe('\u00e9\ufffd\u00e9');
    expect(fileNameOf('a\ud800')).toBe('a\ufffd');
    expect(fileNameOf('\ud83d\ude00.png')).toBe('\ud83d\ude00.png');
    expect(fileNameOf('\ud83d\ude00'.repeat(300))).toBe('\ud83d\ude00'.repeat(255));
    expect(fileNameOf(' \u202E / ')).toBe('');
  });
});
