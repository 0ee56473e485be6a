import { SecretBox } from './secret-box';

describe('SecretBox', () => {
  const box = new SecretBox('a'.repeat(32));

  it('verifies only the value that was hashed', () => {
    const stored = box.hmac('123456');
    expect(stored).not.toContain('123456');
    expect(box.verify('123456', stored)).toBe(true);
    expect(box.verify('123457', stored)).toBe(false);
  });

  it('opens what it sealed, and nothing another secret sealed', () => {
    const sealed = box.seal('123456');
    expect(sealed).not.toContain('123456');
    expect(box.open(sealed)).toBe('123456');
    expect(() => new SecretBox('b'.repeat(32)).open(sealed)).toThrow();
  });
});
