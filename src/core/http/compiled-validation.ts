import { TransformationType } from 'class-transformer';
import type { MetadataStorage as TransformerMetadata } from 'class-transformer/types/MetadataStorage';
import { getMetadataStorage, ValidationArguments, ValidationTypes } from 'class-validator';
import type { ConstraintMetadata } from 'class-validator/types/metadata/ConstraintMetadata';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';

// Where class-transformer keeps its decorators' metadata: the package exports it under no typed entry point.
const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as { defaultMetadataStorage: TransformerMetadata };

/** A property's rules as class-validator applies them: its conditions, then each constraint. */
interface PropertyRules {
  property: string;
  conditions: Array<(object: object, value: unknown) => boolean>;
  checks: Array<{ metadata: ValidationMetadata; constraints: ConstraintMetadata[] }>;
}

/** Says whether the payload is valid; when it is, the DTO instance the validation pipe would have made. */
export type Acceptor<T> = (payload: Record<string, unknown>) => T | null;

/** Field names the validation pipe strips before anything else looks at them. */
const PROTO_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * A shortcut through the validation pipe for flat payloads (a socket frame's): compiled once per
 * DTO class from the same class-validator metadata, it runs the same constraint functions with
 * the same arguments, but none of the machinery around them (metadata lookups, an error object
 * for every valid field, class-transformer's copy, promises). It answers only "valid": for a
 * payload it accepts, the pipe would have returned an instance with the same fields; anything
 * else (an unknown or prototype field, a value that is an object or array, any failed rule)
 * answers null and goes through the pipe, which finds and words the errors as always.
 *
 * Null for a DTO this does not reproduce exactly (class-transformer decorators, nested or async
 * validation, rules the pipe would skip by group): such a DTO always takes the pipe.
 */
export function compileAcceptor<T extends object>(dto: new () => T): Acceptor<T> | null {
  const storage = getMetadataStorage();
  const metadatas = storage.getTargetValidationMetadatas(dto, '', false, false, undefined);
  if (!metadatas.length || usesClassTransformer(dto, metadatas)) return null;
  const byProperty = new Map<string, ValidationMetadata[]>();
  for (const metadata of metadatas) byProperty.set(metadata.propertyName, [...(byProperty.get(metadata.propertyName) ?? []), metadata]);
  const rules: PropertyRules[] = [];
  for (const [property, list] of byProperty) {
    const rule: PropertyRules = { property, conditions: [], checks: [] };
    // class-validator: conditions first (none met: the property is skipped), then isDefined, then the others.
    for (const metadata of [...list].sort((a, b) => order(a) - order(b))) {
      if (metadata.type === ValidationTypes.WHITELIST) continue;
      if (metadata.type === ValidationTypes.CONDITIONAL_VALIDATION) rule.conditions.push(metadata.constraints[0] as PropertyRules['conditions'][number]);
      else if (metadata.type === ValidationTypes.CUSTOM_VALIDATION || metadata.type === ValidationTypes.IS_DEFINED) {
        const constraints = storage.getTargetValidatorConstraints(metadata.constraintCls);
        if (!constraints.length || constraints.some((c) => c.async)) return null;
        rule.checks.push({ metadata, constraints });
      } else return null;
    }
    rules.push(rule);
  }
  return (payload) => {
    for (const key of Object.keys(payload)) {
      if (!byProperty.has(key) || PROTO_KEYS.has(key)) return null;
      const value = payload[key];
      if (value !== null && typeof value === 'object') return null;
    }
    const entity = Object.assign(new dto(), payload);
    for (const { property, conditions, checks } of rules) {
      const value = (entity as Record<string, unknown>)[property];
      if (!meetsAll(conditions, entity, value)) continue;
      for (const { metadata, constraints } of checks) {
        if (metadata.validateIf && !metadata.validateIf(entity, value)) continue;
        const args: ValidationArguments = { targetName: dto.name, property, object: entity, value, constraints: metadata.constraints };
        for (const constraint of constraints) {
          const valid: unknown = constraint.instance.validate(value, args);
          if (!valid || typeof (valid as Promise<unknown>).then === 'function') return null;
        }
      }
    }
    return entity;
  };
}

/** Whether every condition holds (a loop: a closure per property and payload is garbage on every frame). */
function meetsAll(conditions: PropertyRules['conditions'], entity: object, value: unknown): boolean {
  for (const condition of conditions) if (!condition(entity, value)) return false;
  return true;
}

const order = (metadata: ValidationMetadata): number =>
  metadata.type === ValidationTypes.CONDITIONAL_VALIDATION ? 0 : metadata.type === ValidationTypes.IS_DEFINED ? 1 : 2;

/** Whether class-transformer would do more for the DTO than copy a flat payload's fields (or its rules are group-bound). */
function usesClassTransformer(dto: new () => object, metadatas: ValidationMetadata[]): boolean {
  if (metadatas.some((m) => m.groups?.length || m.always !== undefined)) return true;
  if (defaultMetadataStorage.getExposedMetadatas(dto).length || defaultMetadataStorage.getExcludedMetadatas(dto).length) return true;
  return metadatas.some(
    (m) =>
      defaultMetadataStorage.findTypeMetadata(dto, m.propertyName) !== undefined ||
      defaultMetadataStorage.findTransformMetadatas(dto, m.propertyName, TransformationType.PLAIN_TO_CLASS).length > 0,
  );
}
