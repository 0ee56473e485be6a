import { arrayLiteral } from './array-literal';

// node-postgres's own conversion of a JS array parameter (the module has no type declarations).
const { prepareValue } = require('pg/lib/utils') as { prepareValue: (value: unknown) => unknown };

describe('arrayLiteral', () => {
  it('writes strings as node-postgres does, escaping quotes and backslashes', () => {
    const values = ['plain', '', 'NULL', 'with "quotes"', 'back\\slash', 'a,b', '{braces}', ' spaced ', 'ünï 😀', '\\"'];
    expect(arrayLiteral(values)).toBe(prepareValue(values));
    expect(arrayLiteral(['a"b', 'c\\d'])).toBe('{"a\\"b","c\\\\d"}');
  });

  it('writes null and undefined as NULL, numbers and booleans as they print', () => {
    expect(arrayLiteral([null, undefined, 'x'])).toBe('{NULL,NULL,"x"}');
    expect(arrayLiteral([1, 0, 12345678901, null])).toBe('{1,0,12345678901,NULL}');
    expect(arrayLiteral([true, false])).toBe('{true,false}');
  });

  it('writes an empty array', () => {
    expect(arrayLiteral([])).toBe('{}');
  });
});
