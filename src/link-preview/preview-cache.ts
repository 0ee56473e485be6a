import { createHash } from 'node:crypto';
import { RedisService } from '../core/redis/redis.service';
import { PreviewFields } from './preview-fields';

/** Previews by URL, shared by every user: Redis when configured (all instances), memory otherwise. */
export abstract class PreviewCache {
  abstract get(url: string): Promise<PreviewFields | null>;
  abstract set(url: string, fields: PreviewFields, ttlSeconds: number): Promise<void>;
}

const digest = (url: string) => createHash('sha256').update(url).digest('base64url');

/** Bounded in-process cache for the embedded mode; past `maxEntries` the oldest entry goes. */
export class MemoryPreviewCache extends PreviewCache {
  private readonly entries = new Map<string, { fields: PreviewFields; until: number }>();

  constructor(private readonly maxEntries = 10_000) {
    super();
  }

  async get(url: string): Promise<PreviewFields | null> {
    const key = digest(url);
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.until > Date.now()) return entry.fields;
    this.entries.delete(key);
    return null;
  }

  async set(url: string, fields: PreviewFields, ttlSeconds: number): Promise<void> {
    const key = digest(url);
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { fields, until: Date.now() + ttlSeconds * 1000 });
  }
}

/** One key per URL (its SHA-256) with the TTL; a Redis outage means a miss, never an error. */
export class RedisPreviewCache extends PreviewCache {
  constructor(private readonly redis: RedisService) {
    super();
  }

  async get(url: string): Promise<PreviewFields | null> {
    const raw = await this.redis.bounded('link preview cache', (c) => c.get(this.redis.key('link-preview', digest(url))), null);
    if (!raw) return null;
    try {
      return JSON.parse(raw) as PreviewFields;
    } catch {
      return null;
    }
  }

  async set(url: string, fields: PreviewFields, ttlSeconds: number): Promise<void> {
    await this.redis.bounded('link preview cache', (c) => c.set(this.redis.key('link-preview', digest(url)), JSON.stringify(fields), 'EX', ttlSeconds), null);
  }
}
