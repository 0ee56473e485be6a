import { groupByInstance, RoutedRecord } from './group-by-instance';

/** A record of one audience per entry of `audiences` (its text and users); `encode` joins the texts kept. */
const record = (...audiences: Array<[string, string[]]>): RoutedRecord => ({
  parts: audiences.map(([, userIds]) => ({ userIds })),
  encode: (kept) => kept.map((i) => Buffer.from(audiences[i][0])),
});
const control = (text: string): RoutedRecord => ({ parts: null, chunks: [Buffer.from(text)] });
const text = (messages: Map<string | null, Buffer[]>) =>
  Object.fromEntries([...messages].map(([target, chunks]) => [String(target), Buffer.concat(chunks).toString()]));

describe('groupByInstance', () => {
  const routes: Record<string, string[]> = { a: ['self'], b: ['i2'], c: ['i2', 'i3'], d: ['i3'], e: [] };
  const routesOf = (userId: string) => routes[userId] ?? [];

  it('gives each instance the records with a recipient there, once each, in order, and none to self', () => {
    const messages = groupByInstance([record(['1', ['a', 'b']]), record(['2', ['c', 'd']]), record(['3', ['a']]), record(['4', ['b', 'c']])], routesOf, 'self');
    expect(text(messages)).toEqual({ i2: '124', i3: '24' });
  });

  it('puts records for every instance under null, and sends nothing for users without a route', () => {
    const messages = groupByInstance([control('x'), record(['1', ['e']]), control('y')], routesOf, 'self');
    expect(text(messages)).toEqual({ null: 'xy' });
  });

  it("gives an instance only the audiences of a record that have a recipient there (not the sender's own copy)", () => {
    // A direct message: the recipient b (on i2) and the sender's copy for a (here only).
    const messages = groupByInstance([record(['[b]', ['b']], ['[a]', ['a']]), record(['[c]', ['c']], ['[d]', ['d']], ['[b2]', ['b']])], routesOf, 'self');
    expect(text(messages)).toEqual({ i2: '[b][c][b2]', i3: '[c][d]' });
  });
});
