import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Migration 1764000009910 keyed every browser subscription by its endpoint, but instances of the
 * release before it kept writing rows keyed by their JSON while a rolling deploy overlapped them
 * with it: such a row can share its endpoint with another account's row (pushing one account's
 * messages to a browser the other now uses). This repeats 1764000009910 for those rows: where
 * rows share an endpoint the one registered last stays, and every WEB row is keyed by endpoint.
 * The table is locked against writes for the two statements, so a registration between them
 * cannot make the re-key collide.
 */
export class WebPushRekeyOverlap1764000009950 implements MigrationInterface {
  name = 'WebPushRekeyOverlap1764000009950';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`LOCK TABLE device_tokens IN SHARE ROW EXCLUSIVE MODE`);
    await q.query(`
      DELETE FROM device_tokens d USING device_tokens n
       WHERE d.platform = 'WEB' AND n.platform = 'WEB' AND d.endpoint = n.endpoint AND (d.updated_at, d.id) < (n.updated_at, n.id)`);
    // A native token that is literally `web:<endpoint>` has the key a browser row is about to take (the key is unique):
    // it is no token an APNs or FCM client makes, and the browser row stays.
    await q.query(`
      DELETE FROM device_tokens d USING device_tokens w
       WHERE d.platform <> 'WEB' AND w.platform = 'WEB' AND d.token_hash = sha256(convert_to('web:' || w.endpoint, 'UTF8'))`);
    await q.query(`
      UPDATE device_tokens SET token_hash = sha256(convert_to('web:' || endpoint, 'UTF8'))
       WHERE platform = 'WEB' AND token_hash <> sha256(convert_to('web:' || endpoint, 'UTF8'))`);
  }

  async down(): Promise<void> {
    // Nothing to undo: the rows keep the keys 1764000009910 gives them.
  }
}
