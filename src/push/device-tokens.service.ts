import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { AuthContext } from '../auth/auth-context';
import { AppConfig } from '../core/config/app-config';
import { newId } from '../core/database/ids';
import { isForeignKeyViolation } from '../core/database/query-results';
import { AppError } from '../core/errors';
import { OUTBOUND_REFUSAL_MESSAGES, OutboundPolicy, OutboundRefusedError, ResolutionUnavailableError } from '../core/outbound';
import { RegisterDeviceTokenDto } from './dto/push.dto';
import { PushRepository } from './push.repository';
import { parseWebSubscription } from './web-subscription';

/** Tokens one session keeps (a browser holds one subscription; a new one replaces it after a key change or a reset). */
export const MAX_DEVICE_TOKENS_PER_SESSION = 3;
/** Tokens one user keeps over all their sessions: each is a push the server makes for every message they miss. */
export const MAX_DEVICE_TOKENS_PER_USER = 10;

/**
 * Device tokens (§12). A token is upserted by its value, a browser subscription by its endpoint:
 * registering it again (the web client does on every start) moves it to the caller and to the
 * session registering it, whoever held it.
 * It lives as long as that session. IOS and ANDROID tokens are stored for the native apps; this
 * server has no APNs or FCM sender, so nothing is sent to them.
 *
 * A registration past MAX_DEVICE_TOKENS_PER_SESSION or MAX_DEVICE_TOKENS_PER_USER evicts the
 * tokens registered least recently instead of being refused: a browser re-registers on every
 * start, so what goes is a subscription no longer in use, and a user's new device always gets
 * its notifications.
 */
@Injectable()
export class DeviceTokensService {
  constructor(
    private readonly pushes: PushRepository,
    private readonly outbound: OutboundPolicy,
    private readonly config: AppConfig,
  ) {}

  vapidPublicKey(): string | null {
    return this.config.values.push?.publicKey ?? null;
  }

  /**
   * `origin`: where the caller reached the API, from which the notifications of this
   * subscription link the sender's avatar. A WEB endpoint must be an https URL the outbound
   * policy lets the server contact (no private, loopback or link-local address, checked after
   * resolving its name), else 422.
   */
  async register(auth: AuthContext, input: RegisterDeviceTokenDto, origin: string | null): Promise<{ id: string }> {
    let web: { endpoint: string; p256dh: string; auth: string } | null = null;
    if (input.platform === 'WEB') {
      const parsed = parseWebSubscription(input.token);
      if ('problem' in parsed) throw invalidToken(parsed.problem);
      try {
        await this.outbound.check(parsed.endpoint);
      } catch (error) {
        // Not checked now (the DNS did not answer in time, or too many resolutions wait): not the
        // subscription's fault, so not 422, which a client takes as final.
        if (error instanceof ResolutionUnavailableError) throw new AppError('SERVICE_UNAVAILABLE', 'The push endpoint could not be checked now; try again later');
        // Never the addresses its name resolved to, nor whether it resolves: that would map internal names.
        if (error instanceof OutboundRefusedError) throw invalidToken(`the push endpoint may not be contacted: ${OUTBOUND_REFUSAL_MESSAGES[error.reason === 'UNRESOLVABLE' ? 'ADDRESS' : error.reason]}`);
        throw error;
      }
      web = parsed;
    }
    try {
      const owner = { userId: auth.userId, sessionId: auth.sessionId };
      const id = await this.pushes.transaction(async (tx) => {
        await this.pushes.lockOwner(tx, auth.userId);
        const kept = await this.pushes.upsert(tx, {
          id: newId(),
          ...owner,
          platform: input.platform,
          token: input.token,
          tokenHash: tokenHash(web ? webKey(web.endpoint) : input.token),
          endpoint: web?.endpoint ?? null,
          p256dh: web?.p256dh ?? null,
          auth: web?.auth ?? null,
          origin: web ? origin : null,
        });
        if (web) await this.pushes.removeByEndpoint(web.endpoint, { keptId: kept, tx });
        await this.pushes.evictBeyond(tx, kept, owner, { perSession: MAX_DEVICE_TOKENS_PER_SESSION, perUser: MAX_DEVICE_TOKENS_PER_USER });
        return kept;
      });
      return { id };
    } catch (error) {
      // The session ended (logout elsewhere) between the guard and the insert.
      if (isForeignKeyViolation(error)) throw new AppError('UNAUTHORIZED');
      throw error;
    }
  }

  /**
   * Deletes the token whoever holds it (its value is the proof: a push endpoint is unguessable);
   * a browser subscription by its endpoint, however its JSON is spelled and however an older
   * release keyed its row. Idempotent.
   */
  async remove(token: string): Promise<void> {
    const web = parseWebSubscription(token);
    await this.pushes.removeByHash(tokenHash(token));
    if (!('problem' in web)) await this.pushes.removeByEndpoint(web.endpoint);
  }
}

/**
 * What a token is found by: a browser subscription by its endpoint (one row per subscription,
 * however the client spelled its JSON: migration 1764000009910 keys older rows so), any other
 * token by its value.
 */
function webKey(endpoint: string): string {
  return `web:${endpoint}`;
}

function tokenHash(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

function invalidToken(message: string): AppError {
  return new AppError('VALIDATION_ERROR', message, { errors: { token: [message] } });
}
