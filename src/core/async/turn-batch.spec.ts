import { turnBatch } from './turn-batch';

/** A load whose reads the test answers by hand, recording the keys of each. */
function manualLoad(maxBatch?: number) {
  const reads: Array<{ keys: readonly string[]; answer: () => void; fail: (error: Error) => void }> = [];
  const load = (keys: readonly string[]) =>
    new Promise<string[]>((resolve, reject) => reads.push({ keys, answer: () => resolve(keys.map((k) => k.toUpperCase())), fail: reject }));
  return { reads, loader: turnBatch<string, string>(load, maxBatch) };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('turnBatch', () => {
  it('reads the keys asked for in one turn together, each answered with its own value, a lone key at the end of its turn', async () => {
    const { reads, loader } = manualLoad();
    const first = Promise.all([loader.load('a'), loader.load('b'), loader.load('a')]);
    await turn();
    expect(reads.map((r) => r.keys)).toEqual([['a', 'b', 'a']]);
    const lone = loader.load('c');
    await turn();
    expect(reads.map((r) => r.keys)).toEqual([['a', 'b', 'a'], ['c']]);
    reads.forEach((r) => r.answer());
    expect(await first).toEqual(['A', 'B', 'A']);
    expect(await lone).toBe('C');
  });

  it('holds what is asked while two reads are out, and sends it together when one comes back', async () => {
    const { reads, loader } = manualLoad();
    const answers = [loader.load('a')];
    await turn();
    answers.push(loader.load('b'));
    await turn();
    answers.push(loader.load('c'));
    await turn();
    answers.push(loader.load('d'));
    await turn();
    expect(reads.map((r) => r.keys)).toEqual([['a'], ['b']]);
    reads[0].answer();
    await answers[0];
    await turn();
    expect(reads.map((r) => r.keys)).toEqual([['a'], ['b'], ['c', 'd']]);
    reads.slice(1).forEach((r) => r.answer());
    expect(await Promise.all(answers)).toEqual(['A', 'B', 'C', 'D']);
  });

  it('rejects every key of a failed read, and reads the next keys afresh (nothing cached)', async () => {
    const { reads, loader } = manualLoad();
    const failed = Promise.allSettled([loader.load('a'), loader.load('b')]);
    await turn();
    reads[0].fail(new Error('database down'));
    expect((await failed).map((r) => (r as PromiseRejectedResult).reason?.message)).toEqual(['database down', 'database down']);
    const again = loader.load('a');
    await turn();
    expect(reads.map((r) => r.keys)).toEqual([['a', 'b'], ['a']]);
    reads[1].answer();
    expect(await again).toBe('A');
  });

  it("cuts a turn's keys into reads of at most maxBatch", async () => {
    const { reads, loader } = manualLoad(2);
    const answers = Promise.all(['a', 'b', 'c'].map((key) => loader.load(key)));
    await turn();
    expect(reads.map((r) => r.keys)).toEqual([['a', 'b'], ['c']]);
    reads.forEach((r) => r.answer());
    expect(await answers).toEqual(['A', 'B', 'C']);
  });
});
