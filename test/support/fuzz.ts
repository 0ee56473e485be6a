import fc from 'fast-check';
import { getMetadataStorage } from 'class-validator';

/**
 * Arbitraries for the "never 5xx, always the envelope" fuzz tests: values shaped like what a
 * route or socket event expects (so some reach the database), mixed with hostile ones.
 */

/** Cases per route or event (75 keeps each mode well under a minute here); FUZZ_RUNS raises it, FUZZ_SEED replays a run. */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS) || 75;
export const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
/** Time for one route's or event's run, generous enough for a slow shared machine. */
export const FUZZ_TIMEOUT_MS = 30_000 + FUZZ_RUNS * 200;

/** Known-good values the fixtures provide, so generated input can name real rows. */
export interface FuzzPool {
  ids: string[];
  emails: string[];
  /** Names of stored uploads and fragments of paths around them. */
  names: string[];
}

const SPECIAL_CHARS = ['\u0000', '\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uFFFF', '\u202E', '\u00A0', '%00', '\\', '"', "'", '../', '\n', '\r\n'];

/** Strings a careless parser or database would trip on, alone or inside ordinary text. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom(...SPECIAL_CHARS), fc.string({ maxLength: 10 })).map(([a, b, c]) => a + b + c),
  fc.constantFrom(
    '',
    ' ',
    '"john doe"@example.com',
    '"a"@example.com',
    'a@b@example.com',
    'user@[127.0.0.1]',
    "' OR 1=1 --",
    '$where',
    '__proto__',
    'constructor',
    '😀'.repeat(40),
    'x'.repeat(5000),
    '1e309',
    '-0',
    'NaN',
    'null',
    '{}',
    '[]',
  ),
);

/**
 * `[[[…1…]]]`, `depth` levels deep once serialised: deeper than any sane client and than a
 * recursive validator would like. Kept as a marker until JSON.stringify asks for it, because
 * fast-check's own printing of a counterexample recurses and would overflow on the real thing.
 */
class DeeplyNested {
  constructor(private readonly depth: number) {}
  toJSON(): unknown {
    let value: unknown = 1;
    for (let i = 0; i < this.depth; i++) value = [value];
    return value;
  }
  [fc.toStringMethod](): string {
    return `[…${this.depth} levels…]`;
  }
}

/** Wrong shapes that used to reach class-transformer or PostgreSQL. */
export const hostileShape: fc.Arbitrary<unknown> = fc.constantFrom(
  new DeeplyNested(1500),
  { a: new DeeplyNested(40) },
  { constructor: 1 },
  { constructor: 'x' },
  { constructor: {} },
  { constructor: { prototype: null } },
  JSON.parse('{"__proto__": {"admin": true}}'),
  { prototype: 1 },
  [[]],
  [[[]]],
  [null],
  [{}],
  { $gt: '' },
  {},
  [],
);

const fieldName = fc.oneof(fc.constantFrom('constructor', '__proto__', 'prototype', 'toString', 'a\u0000', '\uD800', ''), fc.string({ maxLength: 8 }));

const primitive: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.constantFrom(0, -1, 2 ** 31, 2 ** 53, -(2 ** 63), 1e308, 0.5, -0.0),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);

/** Any JSON value, a few levels deep, with awkward keys. */
export const anyJson: fc.Arbitrary<unknown> = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof({ maxDepth: 3 }, primitive, fc.array(tie('json'), { maxLength: 3 }), fc.dictionary(fieldName, tie('json'), { maxKeys: 3 })),
})).json;

/** What a field may get: usually something shaped right, often something hostile. */
export function fieldValue(plausible: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary: plausible }, { weight: 2, arbitrary: hostileString }, { weight: 1, arbitrary: anyJson }, { weight: 1, arbitrary: hostileShape });
}

/** An object with some of `fields` (each fuzzed), sometimes an extra key, sometimes not an object at all. */
export function objectOf(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const record = fc.record(
    Object.fromEntries(Object.entries(fields).map(([name, plausible]) => [name, fieldValue(plausible)])),
    { requiredKeys: [] },
  );
  const withExtra = fc.tuple(record, fc.dictionary(fieldName, anyJson, { maxKeys: 2 })).map(([known, extra]) => ({ ...extra, ...known }));
  return fc.oneof({ weight: 6, arbitrary: record }, { weight: 2, arbitrary: withExtra }, { weight: 1, arbitrary: anyJson }, { weight: 1, arbitrary: hostileShape });
}

type JsonSchema = {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  example?: unknown;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
};

/** A plausible value for an OpenAPI schema, resolving `$ref`s against the document's components. */
export function fromSchema(schema: JsonSchema | undefined, components: Record<string, JsonSchema>, pool: FuzzPool, name = ''): fc.Arbitrary<unknown> {
  if (!schema) return anyJson;
  if (schema.$ref) return fromSchema(components[schema.$ref.split('/').pop()!], components, pool, name);
  if (schema.oneOf) return fc.oneof(...schema.oneOf.map((s) => fromSchema(s, components, pool, name)));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const examples = schema.example === undefined ? [] : [fc.constant(schema.example)];
  switch (schema.type) {
    case 'object':
      return objectOf(Object.fromEntries(Object.entries(schema.properties ?? {}).map(([key, s]) => [key, fromSchema(s, components, pool, key)])));
    case 'array':
      return fc.array(fieldValue(fromSchema(schema.items, components, pool, name)), { maxLength: 4 });
    case 'integer':
    case 'number':
      return fc.oneof(...examples, fc.integer({ min: schema.minimum ?? -5, max: schema.maximum ?? 1_000_000 }), fc.integer());
    case 'boolean':
      return fc.boolean();
    default:
      return fc.oneof(...examples, plausibleString(name, schema.format, pool));
  }
}

/** A plausible value for a class-validator DTO property, from the names of its constraints. */
export function fromValidators(dto: Function, pool: FuzzPool): fc.Arbitrary<unknown> {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false);
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const property of new Set(metadata.map((m) => m.propertyName))) {
    const rules = metadata.filter((m) => m.propertyName === property);
    const named = (name: string) => rules.find((m) => m.name === name);
    const isIn = named('isIn');
    if (named('isUuid')) fields[property] = fc.oneof(fc.constantFrom(...pool.ids), fc.uuid());
    else if (isIn) fields[property] = fc.constantFrom(...(isIn.constraints[0] as unknown[]));
    else if (named('isInt')) fields[property] = fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer());
    else fields[property] = plausibleString(property, undefined, pool);
  }
  return objectOf(fields);
}

function plausibleString(name: string, format: string | undefined, pool: FuzzPool): fc.Arbitrary<unknown> {
  if (format === 'uuid' || /(^id|Id|Ids)$/.test(name)) return fc.oneof(fc.constantFrom(...pool.ids), fc.uuid());
  if (/email/i.test(name)) return fc.oneof(fc.constantFrom(...pool.emails), fc.emailAddress());
  if (/avatar|url|name$/i.test(name)) return fc.oneof(fc.constantFrom(...pool.names.map((n) => `/uploads/${n}`)), fc.string({ maxLength: 20 }));
  return fc.string({ maxLength: 64 });
}

/** A path parameter: a real id or name, or anything at all. */
export function pathParam(pool: FuzzPool): fc.Arbitrary<string> {
  return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pool.ids, ...pool.names, '👍', '❤') }, { weight: 2, arbitrary: hostileString });
}

/**
 * encodeURIComponent, except that an unpaired surrogate (which has no UTF-8 form) is sent as the
 * bytes a careless encoder would produce, so the server sees malformed escapes too.
 */
export function encodeLoosely(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return [...value].map((ch) => (/[\uD800-\uDFFF]/.test(ch) ? '%ED%A0%80' : encodeURIComponent(ch))).join('');
  }
}

/** Log lines that betray a fault: error level or a stack trace. */
export function faultLines(lines: string[]): string[] {
  return lines.filter((line) => /"level":(50|60)|"stack"|\\n\s+at /.test(line));
}
