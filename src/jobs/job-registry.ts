import { Injectable, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
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

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      const prototype = Object.getPrototypeOf(instance);
      for (const method of this.scanner.getAllMethodNames(prototype)) {
        const name = this.reflector.get<string>(JOB_HANDLER, prototype[method]);
        if (!name) continue;
        if (!jobPolicy(name)) throw new Error(`@JobHandler('${name}') on ${wrapper.name}.${method}: job is not declared in JOBS`);
        if (this.handlers.has(name)) throw new Error(`Job '${name}' has two handlers`);
        this.handlers.set(name, (data) => (instance[method] as JobFunction).call(instance, data));
      }
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
