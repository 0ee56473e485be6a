import { ClientEventName, ClientEvents } from './client-events';
import { DisconnectTarget } from './connection-registry';

/**
 * The event bus features publish to. Delivery reaches the users' sockets on every instance;
 * it is at-most-once (the database is the record, clients resync by cursor). Publish after the
 * transaction that made the change has committed.
 */
export abstract class RealtimePublisher {
  abstract toUsers<E extends ClientEventName>(userIds: Iterable<string>, event: E, payload: ClientEvents[E]): Promise<void>;
  /** Closes matching sockets on every instance (logout, terminated session, deleted account). */
  abstract disconnect(target: DisconnectTarget, code: number, reason: string): Promise<void>;
}
