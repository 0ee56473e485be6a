import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { createTransport } from 'nodemailer';
import { SMTP_TIMEOUTS, smtpTransport } from './smtp-transport';

/**
 * A server that takes the connection and then says nothing (an overloaded or tarpitting relay):
 * a delivery through smtpTransport fails once the greeting is overdue, not after nodemailer's
 * ten minutes. Time is faked; the connection is real.
 */
describe('smtpTransport', () => {
  let server: Server;
  const sockets: Socket[] = [];
  let connected: Promise<void>;
  beforeEach(async () => {
    let onConnect!: () => void;
    connected = new Promise((resolve) => (onConnect = resolve));
    server = createServer((socket) => (sockets.push(socket), onConnect()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    jest.useRealTimers();
    sockets.forEach((s) => s.destroy());
    await new Promise((resolve) => server.close(resolve));
  });

  it('gives up on a server that never greets once greetingTimeout has passed', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const { port } = server.address() as AddressInfo;
    const transport = createTransport(smtpTransport(`smtp://127.0.0.1:${port}`));
    const sending = transport.sendMail({ from: 'a@example.com', to: 'b@example.com', text: 'hi' }).then(
      () => 'sent',
      (error: Error & { code?: string }) => error.code ?? error.message,
    );
    await connected;
    jest.advanceTimersByTime(SMTP_TIMEOUTS.greetingTimeout - 1_000);
    const early = await Promise.race([sending, new Promise((resolve) => setImmediate(() => resolve('waiting')))]);
    expect(early).toBe('waiting');
    jest.advanceTimersByTime(2_000);
    expect(await sending).toBe('ETIMEDOUT');
  });

  it('lets the URL set its own timeouts', () => {
    const parsed = createTransport(smtpTransport('smtp://mail.example:2525?socketTimeout=5000')).options as Record<string, unknown>;
    expect(parsed).toMatchObject({ host: 'mail.example', port: 2525, socketTimeout: 5000, greetingTimeout: SMTP_TIMEOUTS.greetingTimeout });
  });
});
