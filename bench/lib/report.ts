import { Latency } from './histogram';

/** One line of the results table. */
export interface Row {
  scenario: string;
  figure: string;
  baseline: string;
  ratio: string;
  target: string;
  met: string;
}

export const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');

export const lat = (l: Latency): string => `p50 ${l.p50} / p95 ${l.p95} / p99 ${l.p99} / max ${l.max} ms`;

export const ratio = (value: number, baseline: number): string => (baseline > 0 && Number.isFinite(value) ? `${(value / baseline).toFixed(2)}×` : '—');

export const yesNo = (ok: boolean): string => (ok ? 'yes' : '**no**');

export function markdownTable(rows: Row[]): string {
  const head = '| scenario | figure | baseline | ratio | target | met? |\n|---|---|---|---|---|---|';
  const escape = (s: string) => s.replace(/\|/g, '\\|');
  return [head, ...rows.map((r) => `| ${[r.scenario, r.figure, r.baseline, r.ratio, r.target, r.met].map(escape).join(' | ')} |`)].join('\n');
}
