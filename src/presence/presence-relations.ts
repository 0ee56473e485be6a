import { Injectable } from '@nestjs/common';
import { PresenceStore } from '../realtime/presence/presence-store';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { PresenceRepository, Sight } from './presence.repository';

/** Directed: each of `viewers` about each of `subjects` (a user is never asked about themselves). */
export interface Sightlines {
  viewers: string[];
  subjects: string[];
}

/** Both directions between two groups of users: what a relation between them touches. */
export function between(a: string[], b: string[]): Sightlines[] {
  return [
    { viewers: a, subjects: b },
    { viewers: b, subjects: a },
  ];
}

const key = (sight: Pick<Sight, 'viewerId' | 'subjectId'>): string => `${sight.viewerId}:${sight.subjectId}`;

/**
 * The one place that keeps clients' presence right when relations change. A client shows a
 * user's status only from `presence:snapshot` (at connect) and `user:online` / `user:offline`,
 * and those transitions go only to the audience of the moment, so whoever starts to see a user
 * later (a chat revealed, a group joined, a contact added, a block lifted, a privacy setting
 * widened) must be told that user's current state, and whoever stops (a block, a removal, a
 * setting narrowed) must be told `user:offline` (with `lastOnline: null`, as a profile they may
 * not see shows it) so they do not keep showing a stale "online". Who may see whom is
 * PresenceRepository's relation and rule, the same the snapshot and transitions use. Events
 * go through the RealtimePublisher, so they reach sockets on every instance; call after commit.
 *
 * Two changes of one relation at once (a block and an unblock, a contact added and removed) each
 * read the sight after their own commit and then tell it, in no order between them: the one told
 * last may be the older. So each reads the sight once more after telling (`settle`) and tells
 * what changed since: the change that commits last always reads after every commit and after
 * its own telling, so the last word each viewer hears matches the database.
 */
@Injectable()
export class PresenceRelations {
  constructor(
    private readonly presence: PresenceRepository,
    private readonly store: PresenceStore,
    private readonly realtime: RealtimePublisher,
  ) {}

  /**
   * Around an account's deletion: its followers who see it online are read before it goes (its
   * relations go with it, so its sockets' closing finds nobody to tell), and told it went offline
   * after (`lastOnline` null: nothing of it is left to show), when `deletion` resolves true (it went).
   */
  async aroundDeletionOf(userId: string, deletion: () => Promise<boolean>): Promise<boolean> {
    const audience = (await this.store.online([userId])).size ? await this.presence.audienceOf(userId) : [];
    const deleted = await deletion();
    if (deleted && audience.length) await this.realtime.toUsers(audience, 'user:offline', { userId, lastOnline: null });
    return deleted;
  }

  /**
   * A relation started or a barrier went away (the change is committed): each viewer who may see
   * a subject now gets the subject's current state. One who could already see it hears the state
   * again, which changes nothing on their screen; one who may not hears nothing.
   */
  async started(lines: Sightlines[]): Promise<void> {
    const told = await this.sight(lines);
    await this.tell(told, []);
    await this.settle(lines, told);
  }

  /**
   * Runs `change`, a write that may start or end relations within `lines`, and then tells each
   * viewer whose sight of a subject it changed: the current state when gained, `user:offline`
   * when lost. Viewers whose sight did not change hear nothing (a block between strangers tells
   * the blocked user nothing). Nothing is sent when `change` throws.
   */
  async around<T>(lines: Sightlines[], change: () => Promise<T>): Promise<T> {
    const before = await this.sight(lines);
    const result = await change();
    const after = await this.sight(lines);
    const had = new Set(before.map(key));
    const has = new Set(after.map(key));
    await this.tell(
      after.filter((s) => !had.has(key(s))),
      before.filter((s) => !has.has(key(s))),
    );
    await this.settle(lines, after);
    return result;
  }

  /** Runs `change` to a user's own showOnlineStatus, telling each of their followers what it changed for them. */
  async aroundSettingOf<T>(userId: string, change: () => Promise<T>): Promise<T> {
    const followers = await this.presence.followersOf(userId);
    return followers.length ? this.around([{ viewers: followers, subjects: [userId] }], change) : change();
  }

  /** Reads the sight again after `told` was told, and tells what a concurrent change made of it since (see the class). */
  private async settle(lines: Sightlines[], told: Sight[]): Promise<void> {
    const now = await this.sight(lines);
    const had = new Set(told.map(key));
    const has = new Set(now.map(key));
    const gained = now.filter((s) => !had.has(key(s)));
    const lost = told.filter((s) => !has.has(key(s)));
    if (gained.length || lost.length) await this.tell(gained, lost);
  }

  private async sight(lines: Sightlines[]): Promise<Sight[]> {
    const found = await Promise.all(lines.map((line) => this.presence.sight(line.viewers, line.subjects)));
    const unique = new Map(found.flat().map((s) => [key(s), s]));
    return [...unique.values()];
  }

  private async tell(gained: Sight[], lost: Sight[]): Promise<void> {
    const online = gained.length ? await this.store.online([...new Set(gained.map((s) => s.subjectId))]) : new Set<string>();
    const sends: Array<Promise<void>> = [];
    for (const [subjectId, sights] of bySubject(gained)) {
      const viewers = sights.map((s) => s.viewerId);
      if (online.has(subjectId)) sends.push(this.realtime.toUsers(viewers, 'user:online', { userId: subjectId }));
      else sends.push(this.realtime.toUsers(viewers, 'user:offline', { userId: subjectId, lastOnline: sights[0].lastOnline?.toISOString() ?? null }));
    }
    for (const [subjectId, sights] of bySubject(lost)) {
      sends.push(this.realtime.toUsers(sights.map((s) => s.viewerId), 'user:offline', { userId: subjectId, lastOnline: null }));
    }
    await Promise.all(sends);
  }
}

function bySubject(sights: Sight[]): Map<string, Sight[]> {
  const groups = new Map<string, Sight[]>();
  for (const sight of sights) groups.set(sight.subjectId, [...(groups.get(sight.subjectId) ?? []), sight]);
  return groups;
}
