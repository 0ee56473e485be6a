import { Logger } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import type { AppConfig } from '../core/config/app-config';
import { CloseCode } from './client-events';
import type { ConnectionRegistry } from './connection-registry';
import type { RealtimePublisher } from './realtime-publisher';
import { SessionWatch } from './session-watch';

describe('SessionWatch', () => {
  afterEach(() => jest.restoreAllMocks());

  /** A watch over sockets of sessions s1 and s2, whose database answers come from `answers` in turn (an Error: unreachable). */
  function watchWith(answers: Array<string[] | Error>) {
    const disconnect = jest.fn();
    const registry = { all: () => [{ sessionId: 's1' }, { sessionId: 's2' }], disconnect } as unknown as ConnectionRegistry;
    const authenticator = {
      liveSessions: async () => {
        const answer = answers.shift()!;
        if (answer instanceof Error) throw answer;
        return new Set(answer);
      },
    };
    const moduleRef = { get: () => authenticator } as unknown as ModuleRef;
    const watch = new SessionWatch(registry, {} as RealtimePublisher, moduleRef, { values: { sessionRecheckSeconds: 30 } } as AppConfig);
    return { watch, disconnect };
  }

  it('logs a database outage once while every re-check fails, closes nothing meanwhile, and says when re-checks work again', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const refused = () => new Error('connect ECONNREFUSED 127.0.0.1:5432');
    const { watch, disconnect } = watchWith([refused(), refused(), refused(), ['s1'], ['s1']]);

    for (let i = 0; i < 3; i++) expect(await watch.recheck()).toBe(0);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toContain('session re-check failed, will retry');
    expect(disconnect).not.toHaveBeenCalled();

    expect(await watch.recheck()).toBe(1);
    expect(disconnect).toHaveBeenCalledWith({ sessionIds: ['s2'] }, CloseCode.SessionTerminated, 'session ended');
    expect(log).toHaveBeenCalledWith('session re-check works again');
    await watch.recheck();
    expect(log).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledTimes(1);
  });
});
