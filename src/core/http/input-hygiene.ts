import type { Request } from 'express';
import type { FieldErrors } from './validation';

/**
 * Deepest nesting of objects and arrays accepted in a body, a query or a socket frame. Real
 * clients send at most three levels (a prekey inside a list inside the body); the cap keeps
 * class-transformer and class-validator, which recurse, away from hostile depths.
 */
export const MAX_INPUT_DEPTH = 32;

/**
 * Widest object and longest array accepted anywhere in an input. The widest a real client sends
 * is its settings (the known keys and up to 64 of its own), the longest a list of 1,000 ids. The
 * validation pipe spends ~12 µs per field and builds an error per unknown one: a 64 KiB frame of
 * 7,000 short keys cost ~100 ms of the event loop and answered 300 KB.
 */
export const MAX_INPUT_FIELDS = 256;
export const MAX_INPUT_ITEMS = 1_000;

/** A flood of bad strings (e.g. 200 prekeys) is reported by its first few, not all of them. */
export const MAX_REPORTED = 10;

const NUL = '\u0000';
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What PostgreSQL would refuse in a string (text columns reject NUL, jsonb rejects lone surrogates), if anything. */
export function stringProblem(value: string): string | null {
  if (value.includes(NUL)) return 'must not contain NUL characters';
  if (LONE_SURROGATE.test(value)) return 'must be well-formed Unicode (no unpaired surrogates)';
  return null;
}

/**
 * The one input rule, applied to whatever a client sent before any DTO sees it: every string
 * (values and field names alike) is well-formed UTF-16 without NUL, nothing nests deeper than
 * MAX_INPUT_DEPTH, no object is wider than MAX_INPUT_FIELDS, no array longer than
 * MAX_INPUT_ITEMS. Returns the problems by field path (`oneTimePreKeys.0.publicKey`; the input
 * itself is named `whole`), or null when the input is clean. Iterative, so a deep value cannot exhaust the stack here.
 */
export function findInputProblems(value: unknown, root = '', whole = 'body'): FieldErrors | null {
  // A Map, not an object: field names come from the client, and `constructor` or `__proto__` must not meet Object.prototype.
  const errors = new Map<string, string[]>();
  const report = (path: string, problem: string) => {
    const field = path || whole;
    if (errors.size >= MAX_REPORTED && !errors.has(field)) return;
    errors.set(field, [...(errors.get(field) ?? []), `${field} ${problem}`]);
  };
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value, path: root, depth: 1 }];
  while (stack.length && errors.size < MAX_REPORTED) {
    const { value: current, path, depth } = stack.pop()!;
    if (typeof current === 'string') {
      const problem = stringProblem(current);
      if (problem) report(path, problem);
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (depth > MAX_INPUT_DEPTH) {
      report(path, `must not nest deeper than ${MAX_INPUT_DEPTH} levels`);
      continue;
    }
    if (Array.isArray(current) ? current.length > MAX_INPUT_ITEMS : Object.keys(current).length > MAX_INPUT_FIELDS) {
      report(path, Array.isArray(current) ? `must not hold more than ${MAX_INPUT_ITEMS} items` : `must not have more than ${MAX_INPUT_FIELDS} fields`);
      continue;
    }
    const entries = Object.entries(current);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i];
      const childPath = path ? `${path}.${printable(key)}` : printable(key);
      const keyProblem = stringProblem(key);
      if (keyProblem) report(childPath, `(the field name) ${keyProblem}`);
      else stack.push({ value: child, path: childPath, depth: depth + 1 });
    }
  }
  return errors.size ? Object.fromEntries(errors) : null;
}

/**
 * A whole socket frame before it is taken apart: whether it nests deeper than MAX_INPUT_DEPTH, and
 * how many JSON values it holds (every object, array, string, number…: what it weighs in memory
 * once parsed, far more than its bytes for many small values).
 */
export function frameShape(value: unknown): { tooDeep: FieldErrors | null; values: number } {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 1 }];
  let values = 0;
  while (stack.length) {
    const { value: current, depth } = stack.pop()!;
    values++;
    if (current === null || typeof current !== 'object') continue;
    if (depth > MAX_INPUT_DEPTH) return { tooDeep: { frame: [`frame must not nest deeper than ${MAX_INPUT_DEPTH} levels`] }, values };
    for (const child of Object.values(current)) stack.push({ value: child, depth: depth + 1 });
  }
  return { tooDeep: null, values };
}

/**
 * The input rule for an HTTP request, checked by the pipeline after the body parser and before
 * routing: the parsed JSON body, the query string and the path segments (which become route
 * params). Returns the problems by field, or null (most requests: a clean path, no query, no
 * body, checked without taking anything apart).
 */
export function requestInputProblems(req: Request): FieldErrors | null {
  const pathProblem = pathProblemOf(req.path);
  const queryProblems = req.url.includes('?') ? findInputProblems(req.query) : null;
  const bodyProblems = req.body === undefined ? null : findInputProblems(req.body);
  if (!pathProblem && !queryProblems && !bodyProblems) return null;
  return { ...(pathProblem ? { path: [`path ${pathProblem}`] } : {}), ...queryProblems, ...bodyProblems };
}

/** A problem of the decoded path; a path without escapes is its own decoding. */
function pathProblemOf(path: string): string | null {
  if (!path.includes('%')) return stringProblem(path);
  return pathSegments(path).map(stringProblem).find((problem) => problem !== null) ?? null;
}

/** Decoded path segments; a malformed escape is left to the router, which refuses it. */
function pathSegments(path: string): string[] {
  return path.split('/').map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      return '';
    }
  });
}

/** A field name fit to appear in an error message: no NUL, no lone surrogate, not too long. */
function printable(key: string): string {
  const short = key.length > 64 ? key.slice(0, 64) : key;
  // Every field name of every payload comes here: the common one (no NUL, no surrogate at all) as it is.
  if (!MAYBE_UNPRINTABLE.test(short)) return short;
  return short.replace(/\u0000/g, '\uFFFD').replace(LONE_SURROGATES, '\uFFFD');
}

/** A NUL or any surrogate: a field name without one is printable as it is. */
const MAYBE_UNPRINTABLE = /[\u0000\uD800-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');
