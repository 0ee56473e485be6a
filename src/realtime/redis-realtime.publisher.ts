import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { withTimeout } from '../core/async/with-timeout';
import { Metrics } from '../core/metrics/metrics';
import { closeConnection, RedisClient, RedisService } from '../core/redis/redis.service';
import { ChatPosition } from './chat-ordered-delivery';
import { ClientEventName, CloseCode } from './client-events';
import { Connection, ConnectionRegistry, DisconnectTarget } from './connection-registry';
import { EventLog } from './event-log/event-log';
import { EventReplay } from './event-log/event-replay';
import { OutboundEvents, SeqDelivery } from './outbound-events';
import { Audience, RealtimePublisher } from './realtime-publisher';
import { groupByInstance, RoutedRecord } from './routes/group-by-instance';
import { InstanceRoutes } from './routes/instance-routes';
import { RouteCache } from './routes/route-cache';
import { RouteTable } from './routes/route-table';

/**
 * A bus message is `<origin>|` and one or more records `<header JSON>\n<frames>`: a header names
 * each frame's audience, its users' seqs (absent for an unlogged event) and byte length, and the
 * frames follow as the bytes the sockets get (each user's copy adds its seq: bodyWithSeq).
 * Nothing is serialised a second time (a frame inside JSON would be escaped here and unescaped on
 * every instance), and a receiving instance writes slices of the message it got to its sockets
 * without decoding them. The records of one message are what this instance published in one turn
 * of its event loop (a send batch's messages, each with its message:delivered), in order.
 */
type BusHeader =
  | { kind: 'deliver'; audiences: Array<{ userIds: string[]; seqs?: Array<number | null>; bytes: number }>; position?: ChatPosition }
  | { kind: 'disconnect'; target: DisconnectTarget; code: number; reason: string }
  | { kind: 'route'; userId: string };
const NEWLINE = 0x0a;
/** What forward answers when no other instance needs the record. */
const FORWARDED: Promise<void> = Promise.resolve();
const NEWLINE_BYTE = Buffer.of(NEWLINE);

/** Records waiting to go out as bus messages; `sent` settles when their publishes are answered. */
interface Outbox {
  records: RoutedRecord[];
  bytes: number;
  sent: Promise<void>;
  done: (sending: Promise<void>) => void;
}

/** A turn's records are split into bus messages of about this size at most. */
const MAX_BUS_MESSAGE_BYTES = 1024 * 1024;

/** Deliveries wait at most this long for the command connection, then as long for the restore listeners (a database that is down too). */
const RESTORE_HOLD_MS = 5_000;
/** After a cut subscription is back, the sockets it held are closed over this long (not all reconnecting at once). */
const RESYNC_SPREAD_MS = 5_000;
/** How often that spread closes its next share. */
const RESYNC_STEP_MS = 100;

/** How long a publisher trusts the routes it read for a user (RouteCache). */
export const ROUTE_CACHE_MS = 3_000;
/** A socket bound this soon after its user's route here was made is caught up from the log when it has passed (InstanceRoutes). */
export const ROUTE_SETTLE_MS = ROUTE_CACHE_MS + 1_000;

/**
 * Several instances on Redis sharded pub/sub, each event sent only to the instances holding a
 * socket of one of its recipients. Every instance subscribes to a channel of its own (its inbox)
 * and to one control channel; a user → instances route table in Redis (RouteTable, written by
 * InstanceRoutes as sockets come and go) says where each user is, and a local cache of it
 * (RouteCache) lets a warm send go without a route read. A turn's records are grouped per target
 * instance: each gets one message with the records it has recipients of, in order, so a
 * recipient with sockets on 3 instances costs 3 deliveries, however many instances there are.
 * Disconnects (the sessions they name may be anywhere) and route news (a user's first socket
 * here, which makes publishers drop their cached routes of that user) go to the control channel,
 * which every instance gets. Channel names carry a hash tag, so on a Redis Cluster each inbox is
 * served by one shard and a message is not broadcast to every node.
 *
 * The publishing instance delivers to its own sockets at once and publishes for the others; each
 * bus message starts with its origin's id, so an instance skips its own control messages without
 * parsing them. So a Redis outage (publishes fail within REDIS_REQUEST_TIMEOUT_MS, see
 * RedisService.bounded) still leaves local delivery working; the other instances' clients catch
 * up through history (or resume from their event log). Each audience's frame is serialised once,
 * to bytes, for the local sockets and the bus alike, after the recipients' seqs were allocated
 * (OutboundEvents).
 *
 * When the subscription drops, whatever was published meanwhile is lost to this instance
 * (pub/sub keeps nothing), including disconnects of ended sessions and route news. So when it
 * comes back (and the command connection with it), the route cache is dropped, this instance's
 * routes are written again, and messages from the bus are held until the `onBusRestored`
 * listeners (the session re-check) have run, and only then delivered, in order.
 */
@Injectable()
export class RedisRealtimePublisher extends RealtimePublisher implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('RealtimeBus');
  private subscriber: RedisClient | null = null;
  private readonly instanceId = randomUUID();
  private readonly origin = Buffer.from(`${this.instanceId}|`);
  /** The channel every instance subscribes to: disconnects and route news. */
  private readonly control: string;
  private readonly events: OutboundEvents;
  private readonly table: RouteTable;
  private readonly cache = new RouteCache(ROUTE_CACHE_MS);
  private readonly routes: InstanceRoutes;
  /** Sends waiting for a route read, in order: a later turn's messages go after them. */
  private waiting: Promise<void> | null = null;
  private subscriptionLost = false;
  /** Bus messages received while the restore listeners run; null when delivering directly. */
  private held: Buffer[] | null = null;
  /** The records published in this turn, sent as one bus message when it ends (null: none yet). */
  private outbox: Outbox | null = null;

  constructor(
    private readonly redis: RedisService,
    private readonly registry: ConnectionRegistry,
    private readonly metrics: Metrics,
    log: EventLog,
    replay: EventReplay,
  ) {
    super();
    this.control = redis.key('bus', '{control}');
    this.events = new OutboundEvents(log, registry, (parts, position) => this.forward(parts, position));
    this.table = new RouteTable(redis, this.instanceId);
    this.routes = new InstanceRoutes(this.table, registry, log, replay, ROUTE_SETTLE_MS, (userId) => void this.toEveryInstance({ kind: 'route', userId }));
  }

  /** The channel of one instance's inbox, in a cluster hash slot of its own. */
  private inbox(instanceId: string): string {
    return this.redis.key('bus', `{${instanceId}}`);
  }

  async onModuleInit(): Promise<void> {
    this.subscriber = this.redis.subscriber('realtime:subscriber');
    this.subscriber.on('smessageBuffer', (_channel: Buffer, raw: Buffer) => {
      if (raw.length > this.origin.length && raw.compare(this.origin, 0, this.origin.length, 0, this.origin.length) === 0) return;
      this.metrics.busReceived.inc();
      if (this.held) this.held.push(raw);
      else this.receive(raw);
    });
    this.subscriber.on('close', () => (this.subscriptionLost = true));
    this.subscriber.on('ready', () => {
      if (!this.subscriptionLost) return;
      this.subscriptionLost = false;
      void this.restore();
    });
    // Start-up goes on without the bus when Redis is down; the subscription is made on reconnect.
    // A Redis that does not know sharded pub/sub (before 7.0) would leave every instance deaf to
    // the others for good: that stops start-up with the reason instead.
    const subscriber = this.subscriber;
    const subscribed = Promise.all([subscriber.ssubscribe(this.inbox(this.instanceId)), subscriber.ssubscribe(this.control)]).catch((error: Error) => error);
    const outcome = await withTimeout(subscribed, RESTORE_HOLD_MS, null);
    if (outcome instanceof Error && /unknown command/i.test(outcome.message)) {
      throw new Error(`The realtime bus needs Redis 7.0 or later (sharded pub/sub: SSUBSCRIBE/SPUBLISH); Redis answered: ${outcome.message}`);
    }
    this.routes.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.routes.stop();
    this.events.flush();
    if (this.subscriber) await closeConnection(this.subscriber);
  }

  toAudiences<E extends ClientEventName>(event: E, audiences: Array<Audience<E>>, position?: ChatPosition): Promise<void> {
    return this.events.publish(event, audiences, position);
  }

  override attach(connection: Connection): Promise<void> {
    return this.routes.attach(connection);
  }

  override detach(connection: Connection): void {
    this.routes.detach(connection);
  }

  /** Whether the user's warm route names this instance alone (false when it is missing or half-way to expiry: the record goes the way that refreshes it). */
  private readonly onlyHere = (userId: string): boolean => {
    if (this.cache.wantsRead(userId)) return false;
    const instances = this.cache.get(userId);
    return instances !== undefined && instances.every((instance) => instance === this.instanceId);
  };

  /** An event this instance logged and delivered, to the instances holding its other recipients. */
  private forward(parts: SeqDelivery[], position?: ChatPosition): Promise<void> {
    // Every recipient known (from a warm route, not due for a refresh) to be held here alone:
    // no other instance needs the record, so none is made (a 1:1 chat on one instance).
    if (parts.every((p) => p.userIds.every(this.onlyHere))) return FORWARDED;
    const bytes = parts.reduce((sum, p) => sum + p.data.length, 0);
    const encode = (kept: number[]): Buffer[] => {
      const audiences = kept.map((i) => ({ userIds: parts[i].userIds, ...(parts[i].seqs ? { seqs: parts[i].seqs } : {}), bytes: parts[i].data.length }));
      const header: BusHeader = { kind: 'deliver', audiences, ...(position ? { position } : {}) };
      return [Buffer.from(JSON.stringify(header)), NEWLINE_BYTE, ...kept.map((i) => parts[i].data)];
    };
    return this.enqueue({ parts, encode }, bytes + headerBytesAtMost(parts, position));
  }

  afterPublished(then: () => void): void {
    this.events.afterPublished(then);
  }

  /** Local sockets close at once, whatever the bus does; the other instances hear it through the bus. */
  async disconnect(target: DisconnectTarget, code: number, reason: string): Promise<void> {
    this.registry.disconnect(target, code, reason);
    this.disconnected(target);
    await this.toEveryInstance({ kind: 'disconnect', target, code, reason });
  }

  /** A control record (a disconnect, a route's news) for every instance. */
  private toEveryInstance(header: BusHeader): Promise<void> {
    const chunks = [Buffer.from(JSON.stringify(header)), NEWLINE_BYTE];
    return this.enqueue({ parts: null, chunks }, chunks[0].length + 1);
  }

  /**
   * At-most-once: a lost event is recovered by the client's resync; a failed request is not.
   * Records published in one turn of the event loop go out together, in order, when the turn's
   * callbacks have run (setImmediate): one SPUBLISH per target instance per send batch rather
   * than one or two per message. Resolves when those have been answered.
   */
  private enqueue(record: RoutedRecord, bytes: number): Promise<void> {
    if (this.outbox && this.outbox.bytes + bytes > MAX_BUS_MESSAGE_BYTES) this.send(this.outbox);
    const outbox = (this.outbox ??= this.openOutbox());
    outbox.records.push(record);
    outbox.bytes += bytes;
    return outbox.sent;
  }

  private openOutbox(): Outbox {
    let done!: (sending: Promise<void>) => void;
    const sent = new Promise<void>((resolve) => (done = resolve));
    const outbox: Outbox = { records: [], bytes: 0, sent, done };
    setImmediate(() => this.send(outbox));
    return outbox;
  }

  /**
   * Sends an outbox once (when its turn ends, or earlier when it is full). With every recipient's
   * routes cached it goes at once; otherwise after one read of the missing ones (and so does
   * every outbox after it, to keep their order). Entries past half their life are read again
   * meanwhile, without waiting.
   */
  private send(outbox: Outbox): void {
    if (this.outbox === outbox) this.outbox = null;
    if (!outbox.records.length) return;
    const records = outbox.records;
    outbox.records = [];
    const stale = new Set<string>();
    let cold = false;
    for (const record of records) {
      for (const { userIds } of record.parts ?? []) {
        for (const userId of userIds) {
          if (!this.cache.wantsRead(userId)) continue;
          stale.add(userId);
          if (!cold && this.cache.get(userId) === undefined) cold = true;
        }
      }
    }
    const read = stale.size ? this.readRoutes([...stale]) : null;
    if (!cold && !this.waiting) return outbox.done(this.dispatch(records, null));
    const previous = this.waiting ?? Promise.resolve();
    const dispatched = Promise.all([previous, read]).then(([, found]) => this.dispatch(records, found));
    const tail = dispatched.then(
      () => undefined,
      () => undefined,
    );
    this.waiting = tail;
    void tail.then(() => this.waiting === tail && (this.waiting = null));
    outbox.done(dispatched);
  }

  /** Reads these users' routes into the cache; resolves what was read (also when an invalidation meanwhile keeps it out of the cache). */
  private async readRoutes(userIds: string[]): Promise<Map<string, string[]>> {
    const startedAt = Date.now();
    const found = await this.table.read(userIds);
    for (const [userId, instances] of found) this.cache.set(userId, instances, startedAt);
    return found;
  }

  /** Publishes each target instance its records (control records to the control channel), in order. */
  private dispatch(records: RoutedRecord[], read: Map<string, string[]> | null): Promise<void> {
    const messages = groupByInstance(records, (userId) => this.cache.get(userId) ?? read?.get(userId) ?? [], this.instanceId);
    const sends: Array<Promise<unknown>> = [];
    for (const [target, chunks] of messages) {
      const raw = Buffer.concat([this.origin, ...chunks]);
      const channel = target === null ? this.control : this.inbox(target);
      this.metrics.busPublished.inc();
      sends.push(this.redis.bounded('publish', (c) => c.spublish(channel, raw), 0));
    }
    return Promise.all(sends).then(() => undefined);
  }

  private async restore(): Promise<void> {
    this.held ??= [];
    this.cache.clear();
    // The subscriber can be back before the command connection: the route renewal, the session
    // re-check, and the disconnects and resumes the resync below makes all go through that one.
    // Closed sooner, a socket's disconnect would find Redis away and leave its presence lease to
    // lapse: its user would stay online to others for up to a lease.
    await this.redis.commandsReady(RESTORE_HOLD_MS);
    void this.routes.renew();
    try {
      const listeners = Promise.all(this.restoredListeners.map((listener) => listener()));
      if ((await withTimeout(listeners, RESTORE_HOLD_MS, 'timeout')) === 'timeout') this.logger.warn('bus restore listeners still running; delivering');
    } catch (error) {
      this.logger.warn(`bus restore listener failed: ${(error as Error).message}`);
    } finally {
      // A second restore (the subscription lost again meanwhile) may have delivered them already.
      const held = this.held ?? [];
      this.held = null;
      for (const raw of held) this.receive(raw);
      this.resyncSockets();
    }
  }

  /**
   * Pub/sub kept nothing of what was published to this instance while its subscription was cut:
   * the events are in each user's log, not on the sockets. Every socket held here when the
   * subscription came back is closed with 1012 (spread over RESYNC_SPREAD_MS), so its client
   * reconnects and resumes from its lastSeq (a client that does not resume reloads).
   */
  private resyncSockets(): void {
    const sockets = [...this.registry.all()].filter((connection) => connection.userId);
    if (!sockets.length) return;
    this.logger.warn(`bus subscription restored: ${sockets.length} socket(s) closed to resume what they may have missed`);
    const perStep = Math.ceil(sockets.length / (RESYNC_SPREAD_MS / RESYNC_STEP_MS));
    const step = () => {
      for (const connection of sockets.splice(0, perStep)) connection.socket.close(CloseCode.ServiceRestart, 'events may have been missed: reconnect and resume');
      if (sockets.length) setTimeout(step, RESYNC_STEP_MS).unref();
    };
    step();
  }

  /** Acts on each record of a bus message in order; a malformed record ends the message. */
  private receive(raw: Buffer): void {
    let start = raw.indexOf('|') + 1;
    while (start > 0 && start < raw.length) {
      // JSON never holds a raw newline: the first one ends the header.
      const end = raw.indexOf(NEWLINE, start);
      if (end < 0) return;
      let header: BusHeader;
      try {
        header = JSON.parse(raw.toString('utf8', start, end)) as BusHeader;
      } catch {
        return;
      }
      let offset = end + 1;
      // Route news is the bus's own bookkeeping (one per user arriving on an instance), not an event.
      if (header.kind !== 'route') this.metrics.busEventsReceived.inc();
      if (header.kind === 'deliver' && Array.isArray(header.audiences)) {
        const parts: SeqDelivery[] = [];
        for (const { userIds, seqs, bytes } of header.audiences) {
          parts.push({ userIds, seqs: seqs ?? null, data: raw.subarray(offset, offset + bytes) });
          offset += bytes;
        }
        if (offset > raw.length) return;
        if (parts.some((p) => this.registry.holdsAny(p.userIds))) this.metrics.busEventsDelivered.inc();
        this.events.receive(parts, header.position);
      } else if (header.kind === 'disconnect') {
        if (this.registry.disconnect(header.target, header.code, header.reason)) this.metrics.busEventsDelivered.inc();
        this.disconnected(header.target);
      } else if (header.kind === 'route' && typeof header.userId === 'string') {
        this.cache.invalidate(header.userId);
      }
      start = offset;
    }
  }
}

/**
 * At least the bytes of a deliver record's header with every audience, counted without
 * serialising it (each target's header is made later, for the audiences it keeps): per user id
 * its length and quotes and comma (user ids are UUIDs: nothing to escape), per seq 16 digits and
 * a comma, per audience its keys and byte count, then the record's kind and position.
 */
function headerBytesAtMost(parts: SeqDelivery[], position?: ChatPosition): number {
  let bytes = 64 + (position ? position.chatId.length + 48 : 0);
  for (const { userIds, seqs } of parts) {
    bytes += 48;
    for (const userId of userIds) bytes += userId.length + 3 + (seqs ? 17 : 0);
  }
  return bytes;
}
