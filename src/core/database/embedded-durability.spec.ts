import { Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { EMBEDDED_DURABILITY_WARNING, EmbeddedDurabilityNotice } from './embedded-durability';

describe('EmbeddedDurabilityNotice', () => {
  const warnings = (nodeEnv: string, databaseUrl: string | null): string[] => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const config = { values: { nodeEnv, databaseUrl }, get isProduction() { return nodeEnv === 'production'; } } as unknown as AppConfig;
      new EmbeddedDurabilityNotice(config).onApplicationBootstrap();
      return warn.mock.calls.map(([message]) => String(message));
    } finally {
      warn.mockRestore();
    }
  };

  it('warns a production start on the embedded database that it is not safe against a power loss', () => {
    expect(warnings('production', null)).toEqual([EMBEDDED_DURABILITY_WARNING]);
    expect(EMBEDDED_DURABILITY_WARNING).toMatch(/power loss/);
  });

  it('says nothing in development, or on PostgreSQL', () => {
    expect(warnings('development', null)).toEqual([]);
    expect(warnings('production', 'postgres://db/h2v')).toEqual([]);
  });
});
