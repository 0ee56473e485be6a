import { Injectable } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';

/** A provider method carrying a method decorator's metadata. */
export interface DecoratedMethod<T> {
  /** The metadata the decorator stored on the method. */
  meta: T;
  /** `<Provider>.<method>`, for error messages. */
  where: string;
  /** Calls the method on its provider instance. */
  call: (...args: unknown[]) => unknown;
}

/**
 * Finds the methods of every static provider that carry a given metadata key (a method
 * decorator's `SetMetadata`): how `@JobHandler` and `@OnSocketEvent` are wired at boot, so a
 * feature module only decorates its methods.
 */
@Injectable()
export class DecoratedMethods {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  find<T>(metadataKey: string | symbol): Array<DecoratedMethod<T>> {
    const found: Array<DecoratedMethod<T>> = [];
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      const prototype = Object.getPrototypeOf(instance);
      for (const method of this.scanner.getAllMethodNames(prototype)) {
        const meta = this.reflector.get<T | undefined>(metadataKey, prototype[method]);
        if (meta === undefined || meta === null || meta === '') continue;
        const fn = instance[method] as (...args: unknown[]) => unknown;
        found.push({ meta, where: `${wrapper.name}.${method}`, call: (...args) => fn.apply(instance, args) });
      }
    }
    return found;
  }
}
