import { withTimeout } from './with-timeout';

describe('withTimeout', () => {
  it('settles with the work when it is in time', async () => {
    expect(await withTimeout(Promise.resolve('done'), 1000, 'late')).toBe('done');
  });

  it('settles with the fallback when the work is too slow', async () => {
    expect(await withTimeout(new Promise((resolve) => setTimeout(resolve, 200)), 5, 'late')).toBe('late');
  });

  it('passes a rejection of the work through', async () => {
    await expect(withTimeout(Promise.reject(new Error('boom')), 1000, 'late')).rejects.toThrow('boom');
  });
});
