import { groupByInstance, RoutedRecord } from './group-by-instance';

const record = (text: string, users: string[] | null): RoutedRecord => ({ chunks: [Buffer.from(text)], users });
const text = (messages: Map<string | null, Buffer[]>) =>
  Object.fromEntries([...messages].map(([target, chunks]) => [String(target), Buffer.concat(chunks).toString()]));

describe('groupByInstance', () => {
  const routes: Record<string, string[]> = { a: ['self'], b: ['i2'], c: ['i2', 'i3'], d: ['i3'], e: [] };
  const routesOf = (userId: string) => routes[userId] ?? [];

  it('gives each instance the records with a recipient there, once each, in order, and none to self', () => {
    const messages = groupByInstance([record('1', ['a', 'b']), record('2', ['c', 'd']), record('3', ['a']), record('4', ['b', 'c'])], routesOf, 'self');
    expect(text(messages)).toEqual({ i2: '124', i3: '24' });
  });

  it('puts records for every instance under null, and sends nothing for users without a route', () => {
    const messages = groupByInstance([record('x', null), record('1', ['e']), record('y', null)], routesOf, 'self');
    expect(text(messages)).toEqual({ null: 'xy' });
  });
});
