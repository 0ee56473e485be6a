import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/** A complete unmasked WebSocket text frame (RFC 6455 §5.2) around `payload`: what a server writes. */
export function textFrame(payload: Buffer): Buffer {
  const frame = frameWithHeader(payload.length);
  payload.copy(frame, frame.length - payload.length);
  return frame;
}

const SEQ_KEY = ',"seq":';
const CLOSE_BRACE = 0x7d;

/**
 * The text frames of one JSON object body with `,"seq":N` added before its closing brace
 * (bodyWithSeq), one per recipient: each user of an audience gets their own. The frame header,
 * the body and `,"seq":` are laid out once per length of N (all seqs of now have 16 digits), and
 * each frame is one allocation, that head copied and N's digits written in place: about half the
 * CPU of building each frame from the body and a string.
 */
export class SeqFrames {
  /** By digit count: the frame's bytes before the digits (made on the second frame: a direct message's audience of one needs none). */
  private heads: Map<number, Buffer> | null = null;
  private made = 0;

  constructor(private readonly body: Buffer) {}

  frame(seq: number): Buffer {
    // The first frame is made directly: an audience of one (a direct message) never needs a head.
    if (this.made++ === 0) return textFrameWithSeq(this.body, seq);
    const digits = seq >= 1e15 && seq < 1e16 ? 16 : String(seq).length;
    this.heads ??= new Map();
    let head = this.heads.get(digits);
    if (!head) {
      const payload = this.body.length - 1 + SEQ_KEY.length + digits + 1;
      const header = headerLength(payload);
      head = Buffer.allocUnsafe(header + this.body.length - 1 + SEQ_KEY.length);
      writeHeader(head, payload);
      this.body.copy(head, header, 0, this.body.length - 1);
      head.write(SEQ_KEY, header + this.body.length - 1, 'latin1');
      this.heads.set(digits, head);
    }
    const frame = Buffer.allocUnsafe(head.length + digits + 1);
    frame.set(head, 0);
    let value = seq;
    for (let at = head.length + digits - 1; at >= head.length; at--) {
      const rest = Math.floor(value / 10);
      frame[at] = 0x30 + (value - rest * 10);
      value = rest;
    }
    frame[head.length + digits] = CLOSE_BRACE;
    return frame;
  }
}

/** The text frame of a JSON object body with its seq as the last key (bodyWithSeq), in one allocation: for one recipient. */
export function textFrameWithSeq(body: Buffer, seq: number): Buffer {
  const suffix = `${SEQ_KEY}${seq}}`;
  const frame = frameWithHeader(body.length - 1 + suffix.length);
  const start = frame.length - (body.length - 1 + suffix.length);
  body.copy(frame, start, 0, body.length - 1);
  frame.write(suffix, start + body.length - 1, 'latin1');
  return frame;
}

/** A frame buffer of the right size with its header written; the payload goes at the end. */
function frameWithHeader(n: number): Buffer {
  const frame = Buffer.allocUnsafe(headerLength(n) + n);
  writeHeader(frame, n);
  return frame;
}

function headerLength(n: number): number {
  return n < 126 ? 2 : n < 65_536 ? 4 : 10;
}

/** Writes the header of an unmasked final text frame of `n` payload bytes at the start of `frame`. */
function writeHeader(frame: Buffer, n: number): void {
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (n < 126) frame[1] = n;
  else if (n < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    frame.writeUInt32BE(n >>> 0, 6);
  }
}

/**
 * The TCP socket under a `ws` socket, when a whole frame made once (textFrame) may be written to
 * it directly, as uWebSockets-class servers do for a broadcast: `ws` would otherwise build a
 * header and write twice per socket. Only with no extension negotiated (no per-message deflate:
 * frames are never compressed, so the library's sender never queues and writes straight through
 * as this does); null otherwise, and the caller uses `send`.
 */
export function rawSocketOf(socket: WebSocket): Duplex | null {
  if (socket.extensions !== '') return null;
  const raw = (socket as unknown as { _socket?: Duplex })._socket;
  return raw && !raw.destroyed ? raw : null;
}

/**
 * The most bytes a socket may have waiting to be written that its client has not read, checked
 * once a turn's writes have been handed to the kernel (ConnectionRegistry uncorks them). Past it
 * the socket is dropped (destroyed: a close frame would only wait behind the backlog) instead of
 * its frames being held in memory without end; the client reconnects and resumes with lastSeq.
 */
export const MAX_SOCKET_BACKLOG = 8 * 1024 * 1024;

/** Drops the socket when its unread backlog has passed MAX_SOCKET_BACKLOG; true when it did. */
export function dropIfBacklogged(socket: WebSocket): boolean {
  if (socket.bufferedAmount <= MAX_SOCKET_BACKLOG) return false;
  socket.terminate();
  return true;
}

const DRAIN_POLL_MS = 20;

/**
 * Resolves true once the socket's unread backlog is at most `bytes` (at once when it is); false
 * when the socket closed, or when its client read nothing for `stalledMs` (the wait goes on as
 * long as the backlog keeps shrinking). For a writer of many frames (a replay): it goes on at
 * the pace its client reads.
 */
export async function drained(socket: WebSocket, bytes: number, stalledMs: number): Promise<boolean> {
  let lowest = socket.bufferedAmount;
  let stalledSince = Date.now();
  while (socket.bufferedAmount > bytes) {
    if (socket.readyState !== socket.OPEN) return false;
    if (socket.bufferedAmount < lowest) {
      lowest = socket.bufferedAmount;
      stalledSince = Date.now();
    } else if (Date.now() - stalledSince >= stalledMs) return false;
    await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
  }
  return socket.readyState === socket.OPEN;
}
