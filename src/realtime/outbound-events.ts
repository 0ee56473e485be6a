import { ChatOrderedDelivery, ChatPosition, Delivery } from './chat-ordered-delivery';
import { ClientEventName } from './client-events';
import { ConnectionRegistry } from './connection-registry';
import { EventLog, isLogged } from './event-log/event-log';
import { Audience, deliveries } from './realtime-publisher';

/** One audience's frame body with each user's seq (`seqs` null: an unlogged event). */
export interface SeqDelivery {
  userIds: string[];
  data: Buffer;
  seqs: Array<number | null> | null;
}

const noop = () => undefined;

/** Sends an event's audiences, with their seqs, to the other instances. */
export type Forward = (parts: SeqDelivery[], position?: ChatPosition) => Promise<void>;

interface LocalEvent {
  local: true;
  parts: Delivery[];
  logged: boolean;
  position?: ChatPosition;
  seqs: Array<Array<number | null>> | null;
  ready: boolean;
  /** Handed to this instance's sockets. */
  delivered: () => void;
  /** Handed to the bus too. */
  done: () => void;
}

interface ReceivedEvent {
  local: false;
  parts: SeqDelivery[];
}

/**
 * The way out of every event, for both publishers: chat order first, then the recipients' event
 * logs, then the sockets. An event published here waits its turn in its chat
 * (ChatOrderedDelivery) before it is appended, so each user's seqs follow every chat's order,
 * and the logs replay it in that order; after the append (which allocates each user's seq) it
 * goes to this instance's sockets and, through `forward`, to the other instances. Appends are
 * asynchronous: the events of this instance are delivered and forwarded in the order they were
 * appended, whatever order the store answers in. Events from the other instances (already
 * appended, with their seqs) go straight to the sockets.
 */
export class OutboundEvents {
  private readonly ordered: ChatOrderedDelivery<LocalEvent | ReceivedEvent>;
  /** This instance's events in append order, each waiting for its seqs. */
  private readonly appending: LocalEvent[] = [];

  constructor(
    private readonly log: EventLog,
    private readonly registry: ConnectionRegistry,
    private readonly forward: Forward | null,
  ) {
    this.ordered = new ChatOrderedDelivery((event) => (event.local ? this.append(event) : this.deliver(event.parts)));
  }

  /** Logs, delivers and forwards an event; resolves once it has been handed to the bus. Audiences are serialised once each. */
  publish<E extends ClientEventName>(event: E, audiences: Array<Audience<E>>, position?: ChatPosition): Promise<void> {
    const parts = deliveries(event, audiences);
    if (!parts.length) return Promise.resolve();
    return new Promise((done) => this.ordered.push({ local: true, parts, logged: isLogged(event), position, seqs: null, ready: false, delivered: noop, done }, position));
  }

  /**
   * Runs `then` once the events published so far have been handed to this instance's sockets,
   * before any published later (in the queue of appends, as an empty event): a socket's direct
   * answer never overtakes the event an earlier frame published (a send's message:new is
   * written after its append). Events still held for their chat's order are not waited for.
   */
  afterPublished(then: () => void): void {
    this.appending.push({ local: true, parts: [], logged: false, seqs: null, ready: true, delivered: then, done: noop });
    this.drain();
  }

  /**
   * An event another instance published. A logged one goes straight to the sockets: its
   * publisher appended it in its chat's turn, after the chat's previous event had come through
   * the bus, and the bus hands every instance its messages in publish order, so arrival order is
   * seq order; holding it here could only let a later seq of the user overtake it. Unlogged
   * events (an instance of the release before, or a failed append) keep the chat order hold.
   */
  receive(parts: SeqDelivery[], position?: ChatPosition): void {
    if (!parts.some((p) => p.seqs)) return this.ordered.push({ local: false, parts }, position);
    this.deliver(parts);
    // This instance's next event of the chat may be waiting for this one.
    if (position) this.ordered.advance(position);
  }

  /** Releases every held event at once (shutdown). */
  flush(): void {
    this.ordered.flush();
  }

  private append(event: LocalEvent): void {
    this.appending.push(event);
    if (!event.logged) {
      event.ready = true;
      return this.drain();
    }
    const appended = (seqs: Array<Array<number | null>> | null) => {
      event.seqs = seqs;
      event.ready = true;
      this.drain();
    };
    this.log.append(event.parts.map((p) => ({ userIds: p.userIds, body: p.data as Buffer }))).then(appended, () => appended(null));
  }

  private drain(): void {
    while (this.appending.length && this.appending[0].ready) {
      const event = this.appending.shift()!;
      if (!event.parts.length) {
        event.delivered();
        continue;
      }
      const parts = event.parts.map((p, i) => ({ userIds: p.userIds, data: p.data as Buffer, seqs: event.seqs?.[i] ?? null }));
      this.deliver(parts);
      event.delivered();
      if (!this.forward) event.done();
      else this.forward(parts, event.position).then(event.done, event.done);
    }
  }

  private deliver(parts: SeqDelivery[]): void {
    for (const { userIds, data, seqs } of parts) this.registry.deliver(userIds, data, seqs);
  }
}
