import { findInputProblems, frameShape, MAX_INPUT_DEPTH, requestInputProblems, stringProblem } from './input-hygiene';

const nested = (depth: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

describe('input hygiene', () => {
  it('accepts ordinary text, emoji (surrogate pairs) and every other control character', () => {
    expect(stringProblem('Привет 👋🏽 \t\n\u0001\u001f\uFFFD')).toBeNull();
    expect(findInputProblems({ text: 'ok 😀', list: [{ keyId: 1, publicKey: 'BQ==' }], flag: true, none: null })).toBeNull();
  });

  it('names NUL characters and unpaired surrogates, in values and in field names, by their path', () => {
    expect(findInputProblems({ profile: { bio: 'a\u0000b' }, keys: [{ publicKey: 'x\uD800' }, { publicKey: '\uDC00y' }] })).toEqual({
      'profile.bio': ['profile.bio must not contain NUL characters'],
      'keys.0.publicKey': ['keys.0.publicKey must be well-formed Unicode (no unpaired surrogates)'],
      'keys.1.publicKey': ['keys.1.publicKey must be well-formed Unicode (no unpaired surrogates)'],
    });
    expect(findInputProblems({ 'a\u0000': 1 })).toEqual({ 'a\uFFFD': ['a\uFFFD (the field name) must not contain NUL characters'] });
    expect(findInputProblems('\uD83D')).toEqual({ body: ['body must be well-formed Unicode (no unpaired surrogates)'] });
  });

  it('reports fields named like Object.prototype members as it reports any other', () => {
    const problems = findInputProblems(JSON.parse('{"constructor":"\\u0000","toString":"\\ud800","__proto__":{"x":"\\u0000"}}'));
    expect(Object.keys(problems!).sort()).toEqual(['__proto__.x', 'constructor', 'toString']);
    expect(problems!.constructor).toEqual(['constructor must not contain NUL characters']);
  });

  it(`accepts ${MAX_INPUT_DEPTH} levels of nesting and refuses one more`, () => {
    expect(findInputProblems(nested(MAX_INPUT_DEPTH))).toBeNull();
    expect(findInputProblems(nested(MAX_INPUT_DEPTH + 1))).toEqual({
      [Array.from({ length: MAX_INPUT_DEPTH }, () => '0').join('.')]: [expect.stringContaining(`deeper than ${MAX_INPUT_DEPTH} levels`)],
    });
    expect(frameShape({ payload: nested(MAX_INPUT_DEPTH - 1) }).tooDeep).toBeNull();
    expect(frameShape({ payload: nested(MAX_INPUT_DEPTH) }).tooDeep).toEqual({ frame: [expect.stringContaining('deeper than')] });
  });

  it('walks without recursion, so a value deeper than the call stack is refused, not thrown on', () => {
    const deep = nested(200_000);
    expect(findInputProblems(deep)).not.toBeNull();
    expect(frameShape(deep).tooDeep).not.toBeNull();
  });

  it('reports a flood of bad strings by its first ten fields', () => {
    const problems = findInputProblems(Array.from({ length: 500 }, () => 'x\u0000'));
    expect(Object.keys(problems!)).toHaveLength(10);
    const badNames = findInputProblems(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}\u0000`, 1])));
    expect(Object.keys(badNames!)).toHaveLength(10);
  });
});

describe('requestInputProblems', () => {
  const request = (url: string, query: Record<string, unknown> = {}, body?: unknown) =>
    ({ url, path: url.split('?')[0], query, body }) as unknown as Parameters<typeof requestInputProblems>[0];

  it('passes a clean request, escapes in the path included', () => {
    expect(requestInputProblems(request('/api/users/me'))).toBeNull();
    expect(requestInputProblems(request('/api/users/public/%D0%90%F0%9F%98%80?q=x', { q: 'x' }, { text: 'ok' }))).toBeNull();
  });

  it('names the path, the query and the body fields that break the rule', () => {
    expect(requestInputProblems(request('/api/users/public/a%00b'))).toEqual({ path: ['path must not contain NUL characters'] });
    expect(requestInputProblems(request('/api/chats/%ED%A0%80'))).toBeNull(); // not UTF-8: left to the router, which refuses it
    expect(requestInputProblems(request('/api/users/search?q=%00', { q: '\u0000' }, { bio: '\uD800' }))).toEqual({
      q: ['q must not contain NUL characters'],
      bio: ['bio must be well-formed Unicode (no unpaired surrogates)'],
    });
  });
});
