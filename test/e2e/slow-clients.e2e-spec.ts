import net from 'node:net';
import { eventually, signUp, uniqueEmail } from '../support/factories';
import { connect } from '../support/chats';
import { createTestApp, TestApp } from '../support/test-app';

interface Exchange {
  /** Everything the server sent. */
  answer: string;
  /** Whether the server closed the connection before the client was done sending. */
  cutShort: boolean;
}

/**
 * Sends `head` at once, then `body` in `chunk`-byte pieces every `everyMs`, like a slow (or
 * hostile) client, with `Connection: close` so the exchange ends when the server closes. Gives
 * up after `giveUpMs`, and stops writing once the server has closed.
 */
function trickle(t: TestApp, head: string, body: Buffer, chunk: number, everyMs: number, giveUpMs = 12_000): Promise<Exchange> {
  const { port } = new URL(t.url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    const received: Buffer[] = [];
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ answer: Buffer.concat(received).toString(), cutShort: sent < body.length });
    };
    const giveUp = setTimeout(finish, giveUpMs);
    const writeNext = () => {
      if (socket.destroyed || sent >= body.length) return;
      socket.write(body.subarray(sent, sent + chunk));
      sent += chunk;
      timer = setTimeout(writeNext, everyMs);
    };
    socket.on('data', (data) => received.push(data));
    socket.on('error', () => undefined);
    socket.on('close', finish);
    socket.on('connect', () => {
      socket.write(head);
      writeNext();
    });
  });
}

const jsonHead = (path: string, length: number) =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;

describe('slow clients', () => {
  let t: TestApp;
  // Small timeouts so trickles are cut within a second or two; the production defaults are in README.
  beforeAll(async () => (t = await createTestApp({ env: { HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_BODY_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '5000' } })));
  afterAll(() => t.close());

  it('answers a body trickled a byte at a time with 408 REQUEST_TIMEOUT and closes the connection', async () => {
    const body = Buffer.from(JSON.stringify({ email: uniqueEmail() }));
    const { answer, cutShort } = await trickle(t, jsonHead('/api/auth/send-otp', body.length), body, 1, 2_000);
    expect(cutShort).toBe(true);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ success: false, code: 'REQUEST_TIMEOUT', message: expect.any(String) });
  });

  const envelopeOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));

  it('closes a connection whose headers trickle in, answering 408 REQUEST_TIMEOUT in the envelope', async () => {
    const head = Buffer.from(jsonHead('/api/auth/send-otp', 2));
    const { answer, cutShort } = await trickle(t, 'POST /api/auth/send-otp HTTP/1.1\r\n', head, 1, 500);
    expect(cutShort).toBe(true);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(envelopeOf(answer)).toEqual({ success: false, code: 'REQUEST_TIMEOUT', message: expect.any(String) });
  });

  it('drops the connection it refused, both halves, even when the client keeps its own half open', async () => {
    const server = t.app.getHttpServer() as import('node:http').Server;
    const connections = () => new Promise<number>((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
    const before = await connections();
    const { port } = new URL(t.url);
    const socket = net.connect({ port: Number(port), host: '127.0.0.1', allowHalfOpen: true });
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (data) => (text += data.toString()));
      socket.on('end', () => resolve(text));
    });
    socket.on('error', () => undefined);
    try {
      socket.write('GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      expect(await answer).toMatch(/^HTTP\/1\.1 408 /);
      // The server's side is gone, not only closed for writing: it holds no connection for it.
      await eventually(async () => expect(await connections()).toBeLessThanOrEqual(before));
    } finally {
      socket.destroy();
    }
  });

  it("answers what Node's parser refuses in the envelope too: headers past 16 KB (431), a malformed request (400)", async () => {
    const big = await trickle(t, `GET /api/users/me HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: h2v_session=${'x'.repeat(20_000)}\r\nConnection: close\r\n\r\n`, Buffer.alloc(0), 1, 10);
    expect(big.answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(envelopeOf(big.answer)).toEqual({ success: false, code: 'HEADERS_TOO_LARGE', message: expect.any(String) });
    const malformed = await trickle(t, 'GET /api/users/me HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n', Buffer.alloc(0), 1, 10);
    expect(malformed.answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(malformed.answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(envelopeOf(malformed.answer)).toEqual({ success: false, code: 'BAD_REQUEST', message: expect.any(String) });
  });

  it('takes a JSON body that arrives slowly but steadily, past the body timeout', async () => {
    // 48 KB (mostly JSON whitespace) at 16 KB a second: three times the 1 s grace, well above the 4 KiB/s floor.
    const body = Buffer.from(`{"email":"${uniqueEmail()}"${' '.repeat(48 * 1024)}}`);
    const { answer, cutShort } = await trickle(t, jsonHead('/api/auth/send-otp', body.length), body, 16 * 1024, 1_000);
    expect({ cutShort, answer }).toMatchObject({ cutShort: false });
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('"status":"pending"');
  });

  it('takes a multipart upload that arrives slowly but steadily, past the body timeout', async () => {
    const user = await signUp(t);
    const boundary = 'h2vslowupload';
    const file = Buffer.from('slow but steady\n'.repeat(4096));
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\nContent-Type: text/plain\r\n\r\n`),
      file,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const head =
      `POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${user.token}\r\n` +
      `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const { answer, cutShort } = await trickle(t, head, body, 24 * 1024, 1_000);
    expect({ cutShort, answer }).toMatchObject({ cutShort: false });
    expect(answer).toMatch(/^HTTP\/1\.1 201 /);
    expect(answer).toContain(`"size":${file.length}`);
  });

  it("keeps an idle keep-alive connection open past Node's 5 s default, as a load balancer reusing it expects", async () => {
    const { port } = new URL(t.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    socket.on('error', () => undefined);
    let received = '';
    socket.on('data', (data) => (received += data.toString()));
    let open = true;
    socket.once('close', () => (open = false));
    /** The next whole answer on the connection, or what came before the server closed it. */
    const answer = () =>
      new Promise<string>((resolve) => {
        const check = () => {
          if (!open) return closed();
          const head = received.indexOf('\r\n\r\n');
          const length = /\r\ncontent-length: (\d+)/i.exec(received.slice(0, head));
          if (head < 0 || !length || received.length < head + 4 + Number(length[1])) return;
          const whole = received.slice(0, head + 4 + Number(length[1]));
          received = received.slice(whole.length);
          done(whole);
        };
        const closed = () => done(`closed after: ${received}`);
        const done = (text: string) => {
          socket.off('data', check).off('close', closed);
          resolve(text);
        };
        socket.on('data', check).on('close', closed);
        check();
      });
    const get = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    try {
      socket.write(get);
      expect(await answer()).toMatch(/^HTTP\/1\.1 200 /);
      // Longer than Node's default keepAliveTimeout (5 s), and than this app's headers timeout (1 s).
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      socket.write(get);
      expect(await answer()).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      socket.destroy();
    }
  }, 15_000);

  it('keeps an open WebSocket working past the request timeout', async () => {
    const a = await signUp(t);
    const ws = await connect(t, a);
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    ws.send('no:such:event');
    expect(await ws.waitFor('error')).toMatchObject({ code: 'UNKNOWN_EVENT' });
    ws.close();
  }, 15_000);
});
