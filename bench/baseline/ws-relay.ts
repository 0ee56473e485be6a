import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';

/**
 * The baseline: a plain `ws` server relaying the same `{event, payload}` frames as the H2V
 * server, with the same fan-out (a `message:send` reaches every member of the chat, sender
 * included, as one `message:new` serialised once) but no authentication, validation, database
 * or Redis. The user is named by `?user=<id>`; chats come from the JSON file RELAY_CHATS
 * (`{chatId: [userId, ...]}`).
 */
const port = Number(process.env.PORT ?? 0);
const chats = new Map<string, string[]>(Object.entries(JSON.parse(readFileSync(process.env.RELAY_CHATS!, 'utf8')) as Record<string, string[]>));
const sockets = new Map<string, Set<WebSocket>>();

const server = createServer((request, response) => {
  if (request.url === '/health') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ success: true, data: { status: 'ok', timestamp: new Date().toISOString() } }));
    return;
  }
  response.writeHead(404).end();
});

const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 64 * 1024 });
wss.on('connection', (socket, request) => {
  const userId = new URL(request.url ?? '/', 'http://relay').searchParams.get('user');
  if (!userId) return socket.close(4001, 'no user');
  let own = sockets.get(userId);
  if (!own) sockets.set(userId, (own = new Set()));
  own.add(socket);
  socket.once('close', () => {
    own.delete(socket);
    if (!own.size) sockets.delete(userId);
  });
  socket.send(JSON.stringify({ event: 'auth:ok', payload: { userId, onlineUserIds: [] } }));
  socket.send(JSON.stringify({ event: 'presence:snapshot', payload: { onlineUserIds: [] } }));
  socket.on('message', (data) => {
    let frame: { event?: string; payload?: { chatId?: string; text?: string | null; clientMessageId?: string } };
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return socket.send(JSON.stringify({ event: 'error', payload: { code: 'INVALID_FRAME', message: 'bad frame' } }));
    }
    if (frame.event !== 'message:send') return;
    const { chatId = '', text = null, clientMessageId } = frame.payload ?? {};
    const members = chats.get(chatId);
    if (!members?.includes(userId)) {
      return socket.send(JSON.stringify({ event: 'message:send:error', payload: { code: 'CHAT_NOT_FOUND', message: 'no chat', clientMessageId } }));
    }
    const now = new Date().toISOString();
    const message = {
      id: randomUUID(),
      chatId,
      sender: { id: userId, nickname: userId, firstName: null, lastName: null, avatar: null },
      text,
      type: 'TEXT',
      mediaUrl: null,
      mediaName: null,
      mediaSize: null,
      isDeleted: false,
      isEdited: false,
      replyToId: null,
      replyTo: null,
      forwardedFromId: null,
      forwardSenderName: null,
      createdAt: now,
      updatedAt: now,
      readReceipts: [],
      reactions: [],
      ciphertext: null,
      signalType: null,
      clientMessageId,
    };
    const out = JSON.stringify({ event: 'message:new', payload: message });
    for (const member of members) for (const target of sockets.get(member) ?? []) if (target.readyState === WebSocket.OPEN) target.send(out);
  });
  socket.on('error', () => socket.terminate());
});

server.listen(port, '127.0.0.1');
process.once('SIGTERM', () => {
  for (const client of wss.clients) client.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
});
