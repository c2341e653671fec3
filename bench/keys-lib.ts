/**
 * Helpers shared by the key-operation benchmarks (bench/keys*.ts): env
 * parsing, tracked child processes that are always killed, free loopback
 * ports, the closed-loop load generator (autocannon in a child process,
 * bench/load-run.ts), timing loops and formatting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadResult, LoadSpec } from './load-run.js';

export { procCpuUs } from './proc-cpu.js';
export type { LoadResult } from './load-run.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const HOST = '127.0.0.1';

export function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  const n = v === undefined || v === '' ? fallback : Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
}

// ---- child processes -------------------------------------------------------

const children = new Set<ChildProcess>();

export interface Child {
  child: ChildProcess;
  /** The last 64 KiB of stdout+stderr. */
  output: () => string;
  /** Everything written to stdout (for children that answer with JSON). */
  stdout: () => string;
}

/** Spawns a tracked `node` child; keeps the tail of its output for error messages. */
export function startNode(args: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  let stdout = '';
  const keep = (b: Buffer) => (out = (out + b.toString()).slice(-65536));
  child.stdout?.on('data', (b: Buffer) => {
    stdout += b.toString();
    keep(b);
  });
  child.stderr?.on('data', keep);
  return { child, output: () => out, stdout: () => stdout };
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL after 5 s. */
export async function stop(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

export const stopAll = () => Promise.all([...children].map(stop));

let exitHookInstalled = false;
/** Kills every tracked child synchronously on exit (watchdog, signal, uncaught error); idempotent. */
export function installExitHook(cleanup: () => void = () => undefined): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    children.forEach((c) => exited(c) || c.kill('SIGKILL'));
    cleanup();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
}

/** Waits for a child to exit (SIGKILL after `timeoutMs`); returns its exit code. */
export async function waitExit(c: Child, timeoutMs: number): Promise<number | null> {
  if (exited(c.child)) return c.child.exitCode;
  const timer = setTimeout(() => c.child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => c.child.once('exit', (x) => r(x)));
  clearTimeout(timer);
  return code;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Polls `url` until it answers 200 (or the child dies, or 30 s pass). */
export async function waitReady(name: string, srv: Child, url: string, init: RequestInit = {}): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (exited(srv.child)) throw new Error(`${name} exited before it was ready:\n${srv.output()}`);
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} not ready after 30 s:\n${srv.output()}`);
}

// ---- load generator --------------------------------------------------------

/**
 * One closed-loop autocannon run against `url` (POST `body`, JSON), in a child
 * process of its own (bench/load-run.ts), so that the server's CPU reading
 * from /proc covers the server alone. Throws if no request got a 2xx answer.
 */
export async function load(
  url: string,
  body: string,
  pid: number,
  opts: { conns: number; secs: number; headers?: Record<string, string>; requestModule?: string },
): Promise<LoadResult> {
  const spec: LoadSpec = { url, body, pid, conns: opts.conns, secs: opts.secs, headers: opts.headers ?? {} };
  if (opts.requestModule !== undefined) spec.requestModule = opts.requestModule;
  const run = startNode(['--import', 'tsx', join('bench', 'load-run.ts'), JSON.stringify(spec)]);
  const code = await waitExit(run, (opts.secs + 60) * 1000);
  const line = run.stdout().trim().split('\n').at(-1) ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    parsed = undefined;
  }
  if (code !== 0 || !isLoadResult(parsed)) throw new Error(`load generator failed (exit ${code}):\n${run.output()}`);
  // No answer at all usually means the first one took longer than the run (answers in flight at the end are dropped).
  if (parsed.ok === 0) throw new Error(`no successful requests to ${url} in ${opts.secs} s (${parsed.errors} errors, status counts ${JSON.stringify(parsed.statuses)})`);
  return parsed;
}

function isLoadResult(v: unknown): v is LoadResult {
  return typeof v === 'object' && v !== null && 'rps' in v && 'ok' in v && 'server_cpu_us_per_req' in v && 'p50_ms' in v && 'p99_ms' in v && 'statuses' in v;
}

// ---- timing ----------------------------------------------------------------

export const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The q-quantile (0..1) of already-sorted samples. */
export const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export interface Rate {
  ops: number; // per wall-clock second
  cpuUs: number; // process CPU (user+system) µs per op
  n: number;
}

/**
 * Runs several functions for about `ms` milliseconds each, in alternating
 * slices of `sliceMs`, so that changes in machine load (this VM is shared)
 * hit every function alike. Returns one Rate per function.
 */
export async function interleaved(fns: (() => unknown)[], ms: number, sliceMs = 10): Promise<Rate[]> {
  const acc = fns.map(() => ({ n: 0, ns: 0n, cpu: 0 }));
  const slices = Math.max(1, Math.round(ms / sliceMs));
  const slice = BigInt(sliceMs) * 1_000_000n;
  for (let s = 0; s < slices; s++) {
    for (let j = 0; j < fns.length; j++) {
      const i = (j + s) % fns.length; // rotate the order, so no function always runs first
      const fn = fns[i]!;
      const a = acc[i]!;
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const end = t0 + slice;
      let now = t0;
      while (now < end) {
        for (let k = 0; k < 8; k++) {
          const r = fn();
          if (r instanceof Promise) await r;
        }
        a.n += 8;
        now = process.hrtime.bigint();
      }
      a.ns += now - t0;
      const cpu = process.cpuUsage(cpu0);
      a.cpu += cpu.user + cpu.system;
    }
  }
  return acc.map((a) => ({ ops: a.n / (Number(a.ns) / 1e9), cpuUs: a.cpu / a.n, n: a.n }));
}

// ---- formatting ------------------------------------------------------------

export const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : String(n);

/** A markdown table with right-aligned numeric columns (every column but the first). */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`;
  return [line(head), sep, ...rows.map(line)].join('\n');
}

export const pass = (ok: boolean): string => (ok ? 'met' : 'MISSED');
