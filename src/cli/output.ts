/** Human (aligned key: value lines) or JSON output for CLI results. */
export type OutputFormat = 'human' | 'json';

function humanValue(v: unknown): string {
  if (Array.isArray(v)) return v.map(String).join(', ');
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}

export function print(format: OutputFormat, value: unknown, write: (s: string) => void = (s) => process.stdout.write(s)): void {
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
