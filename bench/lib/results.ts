import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';

const RESULTS_DIR = resolve(__dirname, '..', '..', '..', 'bench', 'results');

/**
 * Writes a bench's figures to bench/results/<ISO date of `at`><suffix>.json as
 * `{date, machine: {cpus, cpu, node, ...machine}, ...figures}`; resolves the file's path.
 */
export function saveResults(suffix: string, figures: Record<string, unknown>, options: { at?: Date; machine?: Record<string, unknown> } = {}): string {
  const at = options.at ?? new Date();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${at.toISOString().replace(/:/g, '-')}${suffix}.json`);
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, ...options.machine };
  writeFileSync(file, JSON.stringify({ date: at.toISOString(), machine, ...figures }, null, 2) + '\n');
  return file;
}

/** Runs a bench's `main` and exits with its code (1, the error printed, when it throws). */
export function runMain(main: () => Promise<number | void>): void {
  main().then(
    (code) => process.exit(code ?? 0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
