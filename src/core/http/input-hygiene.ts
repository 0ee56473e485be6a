import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../errors';
import type { FieldErrors } from './validation';

/**
 * Deepest nesting of objects and arrays accepted in a body, a query or a socket frame. Real
 * clients send at most three levels (a prekey inside a list inside the body); the cap keeps
 * class-transformer and class-validator, which recurse, away from hostile depths.
 */
export const MAX_INPUT_DEPTH = 32;

/** A flood of bad strings (e.g. 200 prekeys) is reported by its first few, not all of them. */
const MAX_REPORTED = 10;

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
 * (values and field names alike) is well-formed UTF-16 without NUL, and nothing nests deeper
 * than MAX_INPUT_DEPTH. Returns the problems by field path (`oneTimePreKeys.0.publicKey`), or
 * null when the input is clean. Iterative, so a deep value cannot exhaust the stack here.
 */
export function findInputProblems(value: unknown, root = ''): FieldErrors | null {
  // A Map, not an object: field names come from the client, and `constructor` or `__proto__` must not meet Object.prototype.
  const errors = new Map<string, string[]>();
  const report = (path: string, problem: string) => {
    const field = path || 'body';
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

/** Nesting depth only, for a whole socket frame before it is taken apart. */
export function findDepthProblem(value: unknown): FieldErrors | null {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 1 }];
  while (stack.length) {
    const { value: current, depth } = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth > MAX_INPUT_DEPTH) return { frame: [`frame must not nest deeper than ${MAX_INPUT_DEPTH} levels`] };
    for (const child of Object.values(current)) stack.push({ value: child, depth: depth + 1 });
  }
  return null;
}

/**
 * Express middleware, after the body parser and before routing: the parsed JSON body, the query
 * string and the path segments (which become route params) all obey the input rule, else the
 * request is answered 422 VALIDATION_ERROR naming the fields.
 */
export function inputHygiene(req: Request, res: Response, next: NextFunction): void {
  const pathProblem = pathSegments(req.path).map(stringProblem).find((problem) => problem !== null);
  const errors: FieldErrors = {
    ...(pathProblem ? { path: [`path ${pathProblem}`] } : {}),
    ...findInputProblems(req.query),
    ...(req.body === undefined ? {} : findInputProblems(req.body)),
  };
  if (!Object.keys(errors).length) return next();
  const error = new AppError('VALIDATION_ERROR', undefined, { errors });
  res.status(error.status).json(error.toBody());
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
  return key.slice(0, 64).replace(/\u0000/g, '\uFFFD').replace(new RegExp(LONE_SURROGATE.source, 'g'), '\uFFFD');
}
