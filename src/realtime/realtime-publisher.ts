import { ChatPosition, Delivery } from './chat-ordered-delivery';
import { ClientEventName, ClientEvents, frame } from './client-events';
import { DisconnectTarget } from './connection-registry';

/** Some users and the payload they get. */
export interface Audience<E extends ClientEventName> {
  userIds: Iterable<string>;
  payload: ClientEvents[E];
}

/** The audiences that have users, each with its frame serialised. */
export function deliveries<E extends ClientEventName>(event: E, audiences: Array<Audience<E>>): Delivery[] {
  return audiences.map(({ userIds, payload }) => ({ userIds: [...new Set(userIds)], data: frame(event, payload) })).filter((d) => d.userIds.length);
}

/**
 * The event bus features publish to. Delivery reaches the users' sockets on every instance;
 * it is at-most-once (the database is the record, clients resync by cursor). Publish after the
 * transaction that made the change has committed.
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
  /** Closes matching sockets on every instance (logout, terminated session, deleted account). */
  abstract disconnect(target: DisconnectTarget, code: number, reason: string): Promise<void>;

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
