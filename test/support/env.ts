/** The services e2e tests run against: real Postgres + Redis when these are set, embedded otherwise. */
export const TEST_DATABASE_URL = process.env.DATABASE_URL || null;
export const TEST_REDIS_URL = process.env.REDIS_URL || null;
/** A Redis Cluster's seed nodes (`host:port,host:port`; .ci/redis-cluster starts one): the multi-instance suites run on it as well. */
export const TEST_REDIS_CLUSTER_NODES = process.env.REDIS_CLUSTER_TEST_NODES?.trim() || null;
/** One template per jest run (several runs may share a server); global setup names it. */
export function templateDatabase(): string {
  process.env.H2V_TEST_TEMPLATE ??= `h2v_tpl_${process.pid}_${Date.now().toString(36)}`;
  return process.env.H2V_TEST_TEMPLATE;
}

/** The URL of another database on the same server. */
export function databaseUrl(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

/** The migrated PGlite data directory global setup leaves for embedded runs (copied per backend). */
export const EMBEDDED_TEMPLATE_ENV = 'H2V_TEST_PGLITE_TEMPLATE';
