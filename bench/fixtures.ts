import 'reflect-metadata';
import { INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { coreImports, FEATURE_MODULES } from '../src/app.module';
import { SessionsService } from '../src/auth/sessions.service';
import { RealtimeModule } from '../src/realtime/realtime.module';
import { UsersService } from '../src/users/users.service';
import { serve } from './lib/child';

/**
 * Fixture process: boots a Nest application context with the app's own modules (as
 * src/worker.ts does) on the bench database, and makes users and session tokens through
 * UsersService and SessionsService, so fixtures obey the same rules as real sign-ups. The
 * rate-limited OTP flow is not involved.
 */

export interface BenchUser {
  id: string;
  nickname: string;
  token: string;
}

const BATCH = 500;
let app: INestApplicationContext | null = null;

async function context(): Promise<INestApplicationContext> {
  if (app) return app;
  // No job workers or periodic tasks here, where Redis lets another process run them; the
  // embedded mode (no Redis) refuses WORKERS=off, and this process is short-lived there.
  const env = { ...process.env, WORKERS: process.env.REDIS_URL ? 'off' : 'on' };
  @Module({ imports: [...coreImports({ env }), RealtimeModule, ...FEATURE_MODULES] })
  class FixtureModule {}
  app = await NestFactory.createApplicationContext(FixtureModule, { logger: ['error', 'warn'] });
  await app.init();
  return app;
}

/** `count` users named `<prefix><n>`, each with one live session. */
async function users(args: { prefix: string; count: number }): Promise<BenchUser[]> {
  const ctx = await context();
  const dataSource = ctx.get(DataSource);
  const usersService = ctx.get(UsersService, { strict: false });
  const sessions = ctx.get(SessionsService, { strict: false });
  const made: BenchUser[] = [];
  for (let start = 0; start < args.count; start += BATCH) {
    await dataSource.transaction(async (tx) => {
      for (let n = start; n < Math.min(args.count, start + BATCH); n++) {
        const nickname = `${args.prefix}${n}`;
        const user = await usersService.create(tx, `${nickname}@bench.invalid`, nickname);
        const token = await sessions.create(tx, user.id, { deviceName: 'bench', userAgent: 'h2v-bench', ip: '127.0.0.1', location: null });
        made.push({ id: user.id, nickname, token });
      }
    });
  }
  return made;
}

/** `count` more live sessions for each user: the tokens of their other devices, by user id. */
async function sessions(args: { userIds: string[]; count: number }): Promise<Record<string, string[]>> {
  const ctx = await context();
  const dataSource = ctx.get(DataSource);
  const sessionsService = ctx.get(SessionsService, { strict: false });
  const tokens: Record<string, string[]> = {};
  await dataSource.transaction(async (tx) => {
    for (const userId of args.userIds) {
      tokens[userId] = [];
      for (let n = 0; n < args.count; n++) {
        tokens[userId].push(await sessionsService.create(tx, userId, { deviceName: `bench ${n + 2}`, userAgent: 'h2v-bench', ip: '127.0.0.1', location: null }));
      }
    }
  });
  return tokens;
}

/**
 * One SQL statement through the app's own data source: bulk fixtures in the embedded mode, where
 * the PGlite database is reachable only from inside the process that opened it.
 */
async function sql(args: { text: string; params?: unknown[] }): Promise<unknown> {
  const ctx = await context();
  return ctx.get(DataSource).query(args.text, args.params ?? []);
}

serve({
  users,
  sessions,
  sql,
  close: async () => {
    await app?.close();
    app = null;
    return true;
  },
});
