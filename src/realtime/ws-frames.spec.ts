import { once } from 'node:events';
import { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { bodyWithSeq } from './event-log/event-log';
import { drained, dropIfBacklogged, MAX_SOCKET_BACKLOG, rawSocketOf, SeqFrames, textFrame, textFrameWithSeq } from './ws-frames';

describe('textFrame', () => {
  it.each([0, 1, 125, 126, 65_535, 65_536, 200_000])('is read by a ws client as the same text (%i bytes)', async (size) => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const [socket] = (await once(server, 'connection')) as [WebSocket];
    await once(client, 'open');
    const text = 'é'.repeat(Math.floor(size / 2)) + (size % 2 ? 'x' : '');
    const received = once(client, 'message');
    rawSocketOf(socket)!.write(textFrame(Buffer.from(text)));
    const [data, isBinary] = (await received) as [Buffer, boolean];
    expect(isBinary).toBe(false);
    expect(data.toString()).toBe(text);
    client.close();
    server.close();
  });

  it.each([100, 117, 65_520, 65_530])('with a seq: the body with seq as its last key, across header sizes (%i bytes)', async (size) => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const [socket] = (await once(server, 'connection')) as [WebSocket];
    await once(client, 'open');
    const body = JSON.stringify({ event: 'message:new', payload: { text: 'é'.repeat(Math.max(0, (size - 40) / 2)) } });
    const received = once(client, 'message');
    rawSocketOf(socket)!.write(textFrameWithSeq(Buffer.from(body), 1_796_000_000_000_123));
    const [data] = (await received) as [Buffer, boolean];
    expect(JSON.parse(data.toString())).toEqual({ ...JSON.parse(body), seq: 1_796_000_000_000_123 });
    client.close();
    server.close();
  });

  it('SeqFrames: each recipient\'s frame is the text frame of the body with their seq, whatever its digits and the header size', () => {
    for (const size of [20, 110, 125, 65_500, 70_000]) {
      const body = Buffer.from(JSON.stringify({ event: 'message:new', payload: { text: 'x'.repeat(size) } }));
      const frames = new SeqFrames(body);
      for (const seq of [1_796_000_000_000_123, 0, 7, 123_456, 1_796_000_000_000_124, Number.MAX_SAFE_INTEGER]) {
        expect(frames.frame(seq).equals(textFrame(bodyWithSeq(body, seq)))).toBe(true);
      }
    }
  });

  it('is not used under per-message deflate: the library sends then', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    await once(server, 'listening');
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { perMessageDeflate: true });
    const [socket] = (await once(server, 'connection')) as [WebSocket];
    await once(client, 'open');
    expect(rawSocketOf(socket)).toBeNull();
    client.close();
    server.close();
  });
});

describe('a client that does not read', () => {
  it('is waited for while under a backlog (drained), and dropped past MAX_SOCKET_BACKLOG (dropIfBacklogged), its memory freed', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const [socket] = (await once(server, 'connection')) as [WebSocket];
    await once(client, 'open');
    (client as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const chunk = Buffer.alloc(256 * 1024, 'x');
    // Fill past what the kernel takes: the rest waits in the process.
    while (socket.bufferedAmount < 2 * 1024 * 1024) {
      socket.send(chunk);
      expect(dropIfBacklogged(socket)).toBe(false);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await drained(socket, 1024 * 1024, 100)).toBe(false);
    const reading = drained(socket, 1024 * 1024, 5_000);
    (client as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await reading).toBe(true);
    (client as unknown as { _socket: { pause(): void } })._socket.pause();
    const closed = once(socket, 'close');
    let dropped = false;
    while (!dropped) {
      socket.send(chunk);
      dropped = dropIfBacklogged(socket);
      expect(dropped || socket.bufferedAmount <= MAX_SOCKET_BACKLOG).toBe(true);
    }
    await closed;
    expect(socket.readyState).toBe(socket.CLOSED);
    client.terminate();
    server.close();
  });
});
