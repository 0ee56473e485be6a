import { atMostCodePoints, firstCodePoints } from './code-points';

describe('atMostCodePoints', () => {
  it.each([
    ['', 0, true],
    ['abc', 3, true],
    ['abcd', 3, false],
    ['😀😀😀', 3, true], // 6 UTF-16 units, 3 code points
    ['😀😀😀😀', 3, false],
    ['a😀b', 3, true],
    ['\ud800\ud800\ud800', 2, false], // lone surrogates count one each
    ['\ud83d', 0, false],
  ])('%j within %i code points: %s', (text, max, expected) => {
    expect(atMostCodePoints(text, max)).toBe(expected);
    expect(atMostCodePoints(text, max)).toBe([...text].length <= max);
  });

  it('agrees with counting the spread characters on long mixed text', () => {
    const text = 'x😀é'.repeat(2000);
    for (const max of [5999, 6000, 6001, 3999]) expect(atMostCodePoints(text, max)).toBe([...text].length <= max);
  });
});

describe('firstCodePoints', () => {
  it.each([
    ['abc', 5, 'abc'],
    ['abcd', 3, 'abc'],
    ['😀😀😀', 2, '😀😀'], // a UTF-16 slice at 2 would keep one emoji; at 3, one and a half
    ['a😀b', 2, 'a😀'],
    ['😀'.repeat(200), 255, '😀'.repeat(200)],
  ])('%j, first %i code points: %j', (text, max, expected) => {
    expect(firstCodePoints(text, max)).toBe(expected);
    expect(firstCodePoints(text, max)).toBe([...text].slice(0, max).join(''));
  });
});
