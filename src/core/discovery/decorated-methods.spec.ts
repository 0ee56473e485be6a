import { Injectable, Module, SetMetadata } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JobHandler } from '../../jobs/job-handler.decorator';
import { JobRegistry } from '../../jobs/job-registry';
import { DecoratedMethods } from './decorated-methods';
import { DecoratedMethodsModule } from './decorated-methods.module';

const MARK = Symbol('test:mark');
const Mark = (label: string) => SetMetadata(MARK, label);

@Injectable()
class Marked {
  readonly prefix = 'marked';
  @Mark('first')
  first(value: string): string {
    return `${this.prefix}:${value}`;
  }
  plain(): string {
    return 'plain';
  }
}

@Module({ imports: [DecoratedMethodsModule], providers: [Marked] })
class MarkedModule {}

describe('DecoratedMethods', () => {
  it('finds the decorated methods of providers, each called on its own instance', async () => {
    const app = await NestFactory.createApplicationContext(MarkedModule, { logger: false });
    const found = app.get(DecoratedMethods).find<string>(MARK);
    expect(found.map(({ meta, where }) => [meta, where])).toEqual([['first', 'Marked.first']]);
    expect(found[0].call('x')).toBe('marked:x');
    await app.close();
  });

  it('lets JobRegistry refuse a handler of a job JOBS does not declare', async () => {
    @Injectable()
    class Stray {
      @JobHandler('no-such-job' as never)
      run(): Promise<void> {
        return Promise.resolve();
      }
    }
    @Module({ imports: [DecoratedMethodsModule], providers: [Stray, JobRegistry] })
    class StrayModule {}
    await expect(NestFactory.createApplicationContext(StrayModule, { logger: false })).rejects.toThrow("@JobHandler('no-such-job') on Stray.run: job is not declared in JOBS");
  });
});
