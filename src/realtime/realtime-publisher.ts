import { ChatPosition, Delivery } from './chat-ordered-delivery';
import { ClientEventName, ClientEvents, encodeFrame } from './client-events';
import { Connection, DisconnectTarget } from './connection-registry';

/** Some users and the payload they get. */
export interface Audience<E extends ClientEventName> {
  userIds: Iterable<string>;
  payload: ClientEvents[E];
  /** The frame of `payload`, when the caller has it already (encodeFrame, withLastKey): not serialised again. */
  frame?: Buffer;
}

/** The audiences that have users, each with its frame serialised once, to bytes. */
export function deliveries<E extends ClientEventName>(event: E, audiences: Array<Audience<E>>): Delivery[] {
  const parts: Delivery[] = [];
  for (const { userIds, payload, frame } of audiences) {
    // Most audiences are one user (a sender's copy, message:delivered): nothing to deduplicate.
    const unique = Array.isArray(userIds) && userIds.length <= 1 ? userIds.slice() : [...new Set(userIds)];
    if (unique.length) parts.push({ userIds: unique, data: frame ?? encodeFrame(event, payload) });
  }
  return parts;
}

/**
 * The event bus features publish to. Delivery reaches the users' sockets on every instance;
 * live delivery is at-most-once, and every event but the ephemeral ones (UNLOGGED_EVENTS) is
 * first appended to each recipient's event log with its seq, so a device that reconnects gets
 * what it missed (EventReplay); the database stays the record. Publish after the transaction
 * that made the change has committed.
 */
export abstract class RealtimePublisher {
  private readonly disconnectListeners: Array<(target: DisconnectTarget) => void> = [];
  protected readonly restoredListeners: Array<() => Promise<unknown>> = [];

  /**
   * Delivers to the users' sockets on every instance. With `position` (a chat message), each
   * instance delivers the chat's messages in sequence order (ChatOrderedDelivery).
   */
  toUsers<E extends ClientEventName>(userIds: Iterable<string>, event: E, payload: ClientEvents[E], position?: ChatPosition): Promise<void> {
    return this.toAudiences(event, [{ userIds, payload }], position);
  }

  /**
   * One event with a payload per audience (the sender's copy carries its clientMessageId),
   * published as one: every instance delivers its audiences together, so nothing of the chat
   * lands between the sender's copy and the members'. Audiences are serialised once each.
   */
  abstract toAudiences<E extends ClientEventName>(event: E, audiences: Array<Audience<E>>, position?: ChatPosition): Promise<void>;
  /**
   * Runs `then` once every event this instance published so far has been handed to its sockets,
   * before any published later (appending to the event log makes publication asynchronous).
   */
  abstract afterPublished(then: () => void): void;
  /** Closes matching sockets on every instance (logout, terminated session, deleted account). */
  abstract disconnect(target: DisconnectTarget, code: number, reason: string): Promise<void>;

  /**
   * A socket was just bound to its user: resolves once events for that user are routed to this
   * instance (before the socket's position is read, so every later event reaches it). One
   * instance routes everything to itself.
   */
  attach(_connection: Connection): Promise<void> {
    return Promise.resolve();
  }

  /** A bound socket closed (and left the registry). */
  detach(_connection: Connection): void {}

  /**
   * Runs `listener` on this instance for every disconnect: at once for the ones this instance
   * sends, when the bus delivers them for the others' (what caches sessions forgets them here).
   */
  onDisconnect(listener: (target: DisconnectTarget) => void): void {
    this.disconnectListeners.push(listener);
  }

  /**
   * Runs `listener` when this instance's bus subscription comes back after an outage, before
   * anything received from the bus is delivered again (a bus without outages never calls it).
   */
  onBusRestored(listener: () => Promise<unknown>): void {
    this.restoredListeners.push(listener);
  }

  protected disconnected(target: DisconnectTarget): void {
    for (const listener of this.disconnectListeners) listener(target);
  }
}
