import { Injectable, OnModuleInit } from '@nestjs/common';
import { DecoratedMethods } from '../core/discovery/decorated-methods';
import { JOB_HANDLER } from './job-handler.decorator';
import { JOBS, JobPolicy, jobPolicy } from './job-names';

export type JobFunction = (data: unknown) => Promise<unknown>;

/**
 * Finds the `@JobHandler` methods at boot and refuses to start when a job has no handler,
 * two handlers, or a handler for a job that is not declared in JOBS.
 */
@Injectable()
export class JobRegistry implements OnModuleInit {
  private readonly handlers = new Map<string, JobFunction>();

  constructor(private readonly methods: DecoratedMethods) {}

  onModuleInit(): void {
    for (const { meta: name, where, call } of this.methods.find<string>(JOB_HANDLER)) {
      if (!jobPolicy(name)) throw new Error(`@JobHandler('${name}') on ${where}: job is not declared in JOBS`);
      if (this.handlers.has(name)) throw new Error(`Job '${name}' has two handlers`);
      this.handlers.set(name, (data) => call(data) as Promise<unknown>);
    }
    const missing = Object.keys(JOBS).filter((name) => !this.handlers.has(name));
    if (missing.length) throw new Error(`Jobs without a @JobHandler: ${missing.join(', ')}`);
  }

  handler(name: string): JobFunction {
    const handler = this.handlers.get(name);
    if (!handler) throw new Error(`No handler for job '${name}'`);
    return handler;
  }

  policy(name: string): JobPolicy {
    const policy = jobPolicy(name);
    if (!policy) throw new Error(`Unknown job '${name}'`);
    return policy;
  }
}
