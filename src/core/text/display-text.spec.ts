import { displayText, withoutControls } from './display-text';

describe('displayText', () => {
  it('drops control and bidirectional control characters, and trims', () => {
    expect(displayText(' a\u001b[31mred\r\nX ')).toBe('a[31mredX');
    expect(displayText('Ann\u202E\u2066e\u2069')).toBe('Anne');
    expect(withoutControls('x\u0085y\u200Fz')).toBe('xyz');
  });

  it('is empty when nothing visible is left', () => {
    for (const blank of ['\u200B', '\u200B\u2060\uFEFF', '\u3164', '\u115F\u1160', '\u2800', '\u202E\u2066', '\u00A0\u2003', '\uFE0F\uFE0F', '\u034F', '\u17B5\u17B5', '\u0301\u20DD', '']) expect(displayText(blank)).toBe('');
  });

  it('keeps what shows, joiners in emoji sequences included', () => {
    expect(displayText('👨\u200D👩\u200D👧 Family')).toBe('👨\u200D👩\u200D👧 Family');
    expect(displayText('Zoë')).toBe('Zoë');
    expect(displayText('Zoe\u0308')).toBe('Zoe\u0308');
    expect(displayText('❤\uFE0F')).toBe('❤\uFE0F');
    expect(displayText('\u200Bx')).toBe('\u200Bx');
  });
});
