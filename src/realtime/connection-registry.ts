import { Injectable } from '@nestjs/common';
import type { WebSocket } from 'ws';

/** One open socket on this instance. */
export interface Connection {
  readonly id: string;
  readonly socket: WebSocket;
  userId: string | null;
  sessionId: string | null;
  /** The client said it is hidden (`presence:away`): it stops pinging and must not be closed for that. */
  away: boolean;
  lastSeenAt: number;
}

export interface DisconnectTarget {
  userIds?: string[];
  sessionIds?: string[];
}

/** The sockets held by this instance, indexed by user and by session. */
@Injectable()
export class ConnectionRegistry {
  private readonly connections = new Map<string, Connection>();
  private readonly byUser = new Map<string, Set<Connection>>();

  add(connection: Connection): void {
    this.connections.set(connection.id, connection);
  }

  /** Files an authenticated connection under its user. */
  bind(connection: Connection, userId: string, sessionId: string): void {
    connection.userId = userId;
    connection.sessionId = sessionId;
    let set = this.byUser.get(userId);
    if (!set) this.byUser.set(userId, (set = new Set()));
    set.add(connection);
  }

  remove(connection: Connection): void {
    this.connections.delete(connection.id);
    if (!connection.userId) return;
    const set = this.byUser.get(connection.userId);
    set?.delete(connection);
    if (set?.size === 0) this.byUser.delete(connection.userId);
  }

  all(): IterableIterator<Connection> {
    return this.connections.values();
  }

  ofUser(userId: string): Connection[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  get size(): number {
    return this.connections.size;
  }

  /** Sends an already serialised frame to every local socket of these users. */
  deliver(userIds: Iterable<string>, data: string): number {
    let sent = 0;
    for (const userId of new Set(userIds)) {
      for (const connection of this.byUser.get(userId) ?? []) {
        if (connection.socket.readyState === connection.socket.OPEN) {
          connection.socket.send(data);
          sent++;
        }
      }
    }
    return sent;
  }

  disconnect(target: DisconnectTarget, code: number, reason: string): void {
    const sessions = new Set(target.sessionIds ?? []);
    const users = new Set(target.userIds ?? []);
    for (const connection of this.connections.values()) {
      if ((connection.sessionId && sessions.has(connection.sessionId)) || (connection.userId && users.has(connection.userId))) {
        connection.socket.close(code, reason);
      }
    }
  }
}
