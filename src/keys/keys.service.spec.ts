import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { AppConfig } from '../core/config/app-config';
import type { RateLimiter } from '../core/rate-limit/rate-limiter';
import type { RealtimePublisher } from '../realtime/realtime-publisher';
import type { UsersService } from '../users/users.service';
import type { KeysRepository } from './keys.repository';
import { KeysService } from './keys.service';

describe('KeysService.fetchBundle', () => {
  it('hands out the key it took even when the keys:low notice cannot be published', async () => {
    const bundle = { registrationId: 7, identityKey: 'i', signedPreKeyId: 1, signedPreKey: 's', signedPreKeySig: 'g', preKey: { keyId: 3, publicKey: 'p' } };
    const keys = { takeBundle: jest.fn().mockResolvedValue({ bundle, preKeysLeft: 4 }) } as unknown as KeysRepository;
    const users = { hasBlocked: jest.fn().mockResolvedValue(false) } as unknown as UsersService;
    const limiter = { hit: jest.fn().mockResolvedValue({ allowed: true, retryAfter: 1 }), require: jest.fn().mockResolvedValue(undefined) } as unknown as RateLimiter;
    const realtime = { toUsers: jest.fn().mockRejectedValue(new Error('event log unreachable')) } as unknown as RealtimePublisher;
    const config = { values: { bundleFetchLimit: { limit: 60, windowSeconds: 3600 }, preKeyHandOutLimit: { limit: 20, windowSeconds: 3600 } } } as unknown as AppConfig;
    const service = new KeysService({} as DataSource, keys, users, limiter, realtime, config);
    await expect(service.fetchBundle(randomUUID(), randomUUID())).resolves.toEqual(bundle);
    expect(realtime.toUsers).toHaveBeenCalledWith([expect.any(String)], 'keys:low', { count: 4 });
  });
});
