import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A browser's push subscription is one row, whatever its JSON's spelling (key order, whitespace,
 * `expirationTime` present or not): a WEB row's `token_hash` becomes the SHA-256 of
 * `web:<endpoint>` (the endpoint as parsed, which the row already keeps), so registering the same
 * subscription again moves that row to the caller instead of adding a second one that kept
 * pushing the first account's messages to a browser someone else now uses. Where two rows share
 * an endpoint already, the one registered last stays.
 */
export class WebPushByEndpoint1764000009910 implements MigrationInterface {
  name = 'WebPushByEndpoint1764000009910';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      DELETE FROM device_tokens d USING device_tokens n
       WHERE d.platform = 'WEB' AND n.platform = 'WEB' AND d.endpoint = n.endpoint AND (d.updated_at, d.id) < (n.updated_at, n.id)`);
    await q.query(`UPDATE device_tokens SET token_hash = sha256(convert_to('web:' || endpoint, 'UTF8')) WHERE platform = 'WEB'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE device_tokens SET token_hash = sha256(convert_to(token, 'UTF8')) WHERE platform = 'WEB'`);
  }
}
