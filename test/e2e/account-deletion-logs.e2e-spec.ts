import { randomUUID } from 'node:crypto';
import { RedisService } from '../../src/core/redis/redis.service';
import { EventLog } from '../../src/realtime/event-log/event-log';
import { shardOf } from '../../src/realtime/event-log/log-shards';
import { eventually, signUp } from '../support/factories';
import { connect, createGroup, send } from '../support/chats';
import { createTestApp, TestApp } from '../support/test-app';
import { WsClient } from '../support/ws-client';

/** A deleted account and the event logs: its members' replays, its own log. */
describe('account deletion and the event logs', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  /** The socket's position as its auth:ok told it. */
  const positionOf = (ws: WsClient): number => ws.received.find((f) => f.event === 'auth:ok')!.payload.seq;

  it("tells a member who was offline, replaying the log, of every deleted account's message it can replay, beyond the newest 100", async () => {
    const [a, b, c] = await Promise.all([signUp(t), signUp(t), signUp(t)]);
    const groupId = await createGroup(t, b, [a, c]);
    const cws = await connect(t, c);
    const saved = positionOf(cws);
    cws.close();
    // 105 messages while c is away: more than the newest 100 a deletion always tells.
    const aws = await connect(t, a);
    const ids = Array.from({ length: 105 }, () => randomUUID());
    for (const [i, clientMessageId] of ids.entries()) aws.send('message:send', { chatId: groupId, text: `m${i}`, clientMessageId });
    for (const clientMessageId of ids) await aws.waitFor('message:new', (m) => m.clientMessageId === clientMessageId);
    aws.close();
    await t.http().delete('/api/users/me').set(a.auth).expect(200);

    // c comes back and pages its log: each of a's messages it is shown is taken back after.
    await eventually(async () => {
      const events: Array<{ seq: number; event: string; payload: any }> = [];
      for (let after = saved, more = true; more; ) {
        const page = (await t.http().get(`/api/events?after=${after}&limit=500`).set(c.auth).expect(200)).body.data;
        events.push(...page.events);
        more = page.hasMore;
        if (page.events.length) after = page.events[page.events.length - 1].seq;
      }
      const shown = events.filter((e) => e.event === 'message:new' && e.payload.sender?.id === a.id);
      expect(shown).toHaveLength(105);
      const notTakenBack = shown.filter((n) => !events.some((e) => e.event === 'message:deleted' && e.payload.messageId === n.payload.id && e.seq > n.seq));
      expect(notTakenBack.map((n) => n.payload.text)).toEqual([]);
    });
    expect(await t.backend.sql('SELECT id FROM messages WHERE chat_id = $1 AND sender_id = $2', [groupId, a.id])).toEqual([]);
  });

  it("drops the deleted account's own event log at once (a position of it reads as older than the log)", async () => {
    const [owner, gone] = await Promise.all([signUp(t), signUp(t)]);
    const groupId = await createGroup(t, owner, [gone]);
    const gws = await connect(t, gone);
    const saved = positionOf(gws);
    const ows = await connect(t, owner);
    await send(ows, groupId, 'what the log of the deleted account held');
    await gws.waitFor('message:new');
    const log = t.app.get(EventLog);
    expect(await log.read(gone.id, saved, 100)).toMatchObject({ kind: 'events', events: [expect.anything()] });
    const redis = t.app.get(RedisService);
    const key = redis.key(`{s:${shardOf(gone.id)}}`, 'log', gone.id);
    if (redis.enabled) expect(await redis.client.exists(key)).toBe(1);

    await t.http().delete('/api/users/me').set(gone.auth).expect(200);
    await gws.closed;
    if (redis.enabled) expect(await redis.client.exists(key)).toBe(0);
    expect(await log.read(gone.id, saved, 100)).toMatchObject({ kind: 'resync' });
    ows.close();
  });
});
