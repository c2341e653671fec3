/** Human (aligned key: value lines) or JSON output for CLI results. */
import type { CliOutput } from './cli-io.js';

export type OutputFormat = 'human' | 'json';

function humanValue(v: unknown): string {
  if (Array.isArray(v)) return v.map(String).join(', ');
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}

export function print(out: CliOutput, format: OutputFormat, value: unknown): void {
  const write = (s: string): unknown => out.write(s);
  if (format === 'json') {
    write(`${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  if (typeof value !== 'object' || value === null) {
    write(`${String(value)}\n`);
    return;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  const width = Math.max(0, ...entries.map(([k]) => k.length));
  for (const [k, v] of entries) write(`${k.padEnd(width)}  ${humanValue(v)}\n`);
}
