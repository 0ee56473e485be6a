import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import { withTimeout } from './with-timeout';

describe('withTimeout', () => {
  it('settles with the work when it is in time', async () => {
    expect(await withTimeout(Promise.resolve('done'), 1000, 'late')).toBe('done');
  });

  it('settles with the fallback when the work is too slow', async () => {
    expect(await withTimeout(new Promise(() => undefined), 5, 'late')).toBe('late');
  });

  it('settles with an answer that arrived while its own event loop was stalled past the bound', async () => {
    const server = createServer((socket) => socket.on('error', () => undefined).end('pong'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = connect((server.address() as { port: number }).port, '127.0.0.1');
    client.on('error', () => undefined);
    await once(client, 'connect');
    try {
      const answer = once(client, 'data').then(([data]) => String(data));
      const bounded = withTimeout(answer, 20, 'late');
      // The answer lands in the socket's buffer while the loop is busy; then the timer is due too.
      const until = Date.now() + 200;
      while (Date.now() < until);
      expect(await bounded).toBe('pong');
    } finally {
      client.destroy();
      server.close();
    }
  });

  it('does not count a stall of its own event loop against the bound', async () => {
    // The answer comes 10 ms after a 300 ms stall that began as the wait did: wall time passed
    // the 100 ms bound long before, the process's responsive time did not.
    const bounded = withTimeout(new Promise((resolve) => setTimeout(resolve, 310, 'answer')), 100, 'late');
    const until = Date.now() + 300;
    while (Date.now() < until);
    expect(await bounded).toBe('answer');
  });

  it('still gives up after the bound while the loop is responsive', async () => {
    const started = Date.now();
    expect(await withTimeout(new Promise(() => undefined), 120, 'late')).toBe('late');
    expect(Date.now() - started).toBeGreaterThanOrEqual(115);
  });

  it('passes a rejection of the work through', async () => {
    await expect(withTimeout(Promise.reject(new Error('boom')), 1000, 'late')).rejects.toThrow('boom');
  });
});
