/**
 * A PostgreSQL array literal (`{"a","b",NULL}`) of scalar values, for an array parameter
 * (`$1::text[]`): what node-postgres writes for a JS array, made with one join. node-postgres
 * builds it element after element (a new string per step) and runs two regular expressions on
 * every element; a batch insert passes thousands of elements per statement (issue 17).
 * Strings are quoted, with `\` and `"` escaped; numbers and booleans go as they print; null and
 * undefined are NULL.
 */
export function arrayLiteral(values: ReadonlyArray<string | number | boolean | null | undefined>): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) parts[i] = 'NULL';
    else if (typeof value !== 'string') parts[i] = String(value);
    else parts[i] = `"${value.includes('\\') || value.includes('"') ? value.replace(/[\\"]/g, '\\$&') : value}"`;
  }
  return `{${parts.join(',')}}`;
}
