import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Registering a browser subscription now also deletes any other WEB row for its endpoint, and
 * unregistering deletes every row for it: rows keyed the way releases before 1764000009910 keyed
 * them (the SHA-256 of the subscription's JSON as sent) are still written by such instances while
 * a rolling deploy overlaps them with this one, and a row of that kind would keep pushing its
 * account's messages to a browser another account registered since. This index finds a browser's
 * rows by endpoint. Built CONCURRENTLY (registrations go on meanwhile; a build that failed
 * half-way is dropped first when this runs again).
 */
export class WebPushEndpointIndex1764000009940 implements MigrationInterface {
  name = 'WebPushEndpointIndex1764000009940';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS device_tokens_web_endpoint_idx`);
    await q.query(`CREATE INDEX CONCURRENTLY device_tokens_web_endpoint_idx ON device_tokens (endpoint) WHERE platform = 'WEB'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS device_tokens_web_endpoint_idx`);
  }
}
