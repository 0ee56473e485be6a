import { FrameOrder } from './frame-order';

/** A run the test settles by hand. */
function deferred(): { promise: Promise<void>; settle: () => void } {
  let settle!: () => void;
  const promise = new Promise<void>((resolve) => (settle = resolve));
  return { promise, settle };
}

const settled = async (promise: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void promise.then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
};

describe('FrameOrder', () => {
  it('lets frames of a pipelined event overlap, each answered after the ones before it', async () => {
    const order = new FrameOrder();
    const first = await order.enter('message:send', 4);
    const run1 = deferred();
    first.finish(run1.promise);
    const second = await order.enter('message:send', 4);
    const run2 = deferred();
    second.finish(run2.promise);
    expect(await settled(first.previous)).toBe(true);
    run2.settle();
    expect(await settled(second.previous)).toBe(false);
    expect(await settled(order.drain())).toBe(false);
    run1.settle();
    expect(await settled(second.previous)).toBe(true);
    expect(await settled(order.drain())).toBe(true);
  });

  it('holds a frame of another event until every open one is answered', async () => {
    const order = new FrameOrder();
    const first = await order.enter('message:send', 4);
    const run = deferred();
    first.finish(run.promise);
    const other = order.enter('typing:start', 4);
    expect(await settled(other)).toBe(false);
    run.settle();
    expect(await settled(other)).toBe(true);
  });

  it('holds a frame while `depth` frames of its event are open', async () => {
    const order = new FrameOrder();
    const runs = [deferred(), deferred()];
    for (const run of runs) (await order.enter('message:send', 2)).finish(run.promise);
    const third = order.enter('message:send', 2);
    expect(await settled(third)).toBe(false);
    runs[0].settle();
    expect(await settled(third)).toBe(true);
  });
});
