import { PresenceStore } from '../realtime/presence/presence-store';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { between, PresenceRelations } from './presence-relations';
import { PresenceRepository, Sight } from './presence.repository';

/** A relation table the test edits: which viewer may see which subject now. */
class FakeRepository {
  seen = new Set<string>();
  lastOnline = new Map<string, Date>();
  followers: string[] = [];
  async sight(viewers: string[], subjects: string[]): Promise<Sight[]> {
    return viewers.flatMap((v) => subjects.filter((s) => s !== v && this.seen.has(`${v}>${s}`)).map((s) => ({ viewerId: v, subjectId: s, lastOnline: this.lastOnline.get(s) ?? null })));
  }
  async followersOf(): Promise<string[]> {
    return this.followers;
  }
}

function setup(online: string[] = []) {
  const repo = new FakeRepository();
  const sent: Array<{ to: string[]; event: string; payload: unknown }> = [];
  const store = { online: async (ids: string[]) => new Set(ids.filter((id) => online.includes(id))) } as unknown as PresenceStore;
  const realtime = { toUsers: async (to: Iterable<string>, event: string, payload: unknown) => void sent.push({ to: [...to], event, payload }) } as unknown as RealtimePublisher;
  return { repo, sent, relations: new PresenceRelations(repo as unknown as PresenceRepository, store, realtime) };
}

describe('PresenceRelations', () => {
  it('started: tells each viewer who may see a subject its state, online or offline with last-seen', async () => {
    const { repo, sent, relations } = setup(['b']);
    repo.seen = new Set(['a>b', 'b>a']);
    repo.lastOnline.set('a', new Date('2026-01-01T00:00:00Z'));
    await relations.started(between(['a'], ['b']));
    expect(sent).toEqual(
      expect.arrayContaining([
        { to: ['a'], event: 'user:online', payload: { userId: 'b' } },
        { to: ['b'], event: 'user:offline', payload: { userId: 'a', lastOnline: '2026-01-01T00:00:00.000Z' } },
      ]),
    );
    expect(sent).toHaveLength(2);
  });

  it('around: tells only changed sights, gained with the state and lost with user:offline and no last-seen', async () => {
    const { repo, sent, relations } = setup(['a', 'b', 'c']);
    repo.seen = new Set(['a>b', 'b>a', 'a>c']);
    const result = await relations.around(between(['a'], ['b', 'c']), async () => {
      repo.seen = new Set(['a>c', 'c>a']);
      return 'done';
    });
    expect(result).toBe('done');
    expect(sent).toEqual(
      expect.arrayContaining([
        { to: ['c'], event: 'user:online', payload: { userId: 'a' } },
        { to: ['a'], event: 'user:offline', payload: { userId: 'b', lastOnline: null } },
        { to: ['b'], event: 'user:offline', payload: { userId: 'a', lastOnline: null } },
      ]),
    );
    expect(sent).toHaveLength(3);
  });

  it('around: sends nothing when the change throws, or when it changed no one', async () => {
    const { repo, sent, relations } = setup(['a', 'b']);
    repo.seen = new Set(['a>b']);
    await expect(relations.around(between(['a'], ['b']), async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    await relations.around(between(['a'], ['b']), async () => undefined);
    expect(sent).toEqual([]);
  });

  it("aroundSettingOf: asks about the user's followers only, and runs the change alone when there are none", async () => {
    const { repo, sent, relations } = setup(['s']);
    expect(await relations.aroundSettingOf('s', async () => 1)).toBe(1);
    repo.followers = ['f'];
    repo.seen = new Set(['f>s']);
    await relations.aroundSettingOf('s', async () => void (repo.seen = new Set()));
    expect(sent).toEqual([{ to: ['f'], event: 'user:offline', payload: { userId: 's', lastOnline: null } }]);
  });
});
