/**
 * One closed-loop load run with autocannon, in its own process: the benches
 * start this file as a child (bench/keys-lib.ts load()), so the load
 * generator's CPU is never counted as the server's, and the server's CPU
 * time is read from /proc (bench/proc-cpu.ts) just before the first request
 * and just after the last answer.
 *
 * Closed loop: `conns` keep-alive connections, each sending its next request
 * when the previous one is answered (no pipelining), for `secs` seconds or
 * `amount` requests. Latency percentiles are computed here from every 2xx
 * answer's response time (fractional ms), because autocannon's own histogram
 * keeps whole milliseconds, too coarse for loopback answers of 1-5 ms.
 *
 * Usage: node --import tsx bench/load-run.ts '<LoadSpec as JSON>'
 * Prints one line of JSON (LoadResult) on stdout; exits 1 with the reason on stderr.
 */
import autocannon, { type Request, type RequestSpec, type Result } from 'autocannon';
import { pathToFileURL } from 'node:url';
import { procCpuUs } from './proc-cpu.js';

export interface LoadSpec {
  url: string;
  body: string;
  /** Sent with every request, besides content-type: application/json (which they may override). */
  headers?: Record<string, string>;
  conns: number;
  /** Seconds; ignored when `amount` is given. */
  secs?: number;
  amount?: number;
  /** The server's pid: its CPU time is read from /proc/<pid>/stat before and after. */
  pid: number;
  /**
   * For requests that must differ each time (fresh nonces, signatures): an
   * absolute path or file URL of a module whose default export takes the
   * prepared request ({method, path, headers, body}) and returns the one to
   * send. Loaded here, in the load process, so its CPU is not the server's.
   */
  requestModule?: string;
}

export interface LoadResult {
  /** 2xx answers per second of wall time. */
  rps: number;
  ok: number;
  /** Non-2xx answers plus connection errors and timeouts. */
  errors: number;
  /** Answer count per status code, for error messages. */
  statuses: Record<string, number>;
  p50_ms: number;
  p99_ms: number;
  /** Server CPU (user + system, all threads) per 2xx answer, µs, rounded. */
  server_cpu_us_per_req: number;
  secs: number;
  conns: number;
}

function isSpec(v: unknown): v is LoadSpec {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return typeof s.url === 'string' && typeof s.body === 'string' && Number.isInteger(s.conns) && Number.isInteger(s.pid)
    && (s.secs === undefined || typeof s.secs === 'number') && (s.amount === undefined || Number.isInteger(s.amount))
    && (s.headers === undefined || (typeof s.headers === 'object' && s.headers !== null))
    && (s.requestModule === undefined || typeof s.requestModule === 'string');
}

type RequestHook = (req: Request) => Request;

async function loadHook(spec: string): Promise<RequestHook> {
  const url = spec.startsWith('file:') ? spec : pathToFileURL(spec).href;
  const mod = (await import(url)) as { default?: unknown };
  if (typeof mod.default !== 'function') throw new Error(`${spec}: no default export function`);
  return mod.default as RequestHook;
}

const quantile = (sorted: Float64Array, q: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const request: RequestSpec = { method: 'POST', path: new URL(spec.url).pathname + new URL(spec.url).search, headers: { 'content-type': 'application/json', ...spec.headers }, body: spec.body };
  if (spec.requestModule !== undefined) {
    const hook = await loadHook(spec.requestModule);
    request.setupRequest = (req) => hook(req);
  }
  const latencies: number[] = [];
  const cpu0 = procCpuUs(spec.pid);
  const t0 = process.hrtime.bigint();
  const result = await new Promise<Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        connections: spec.conns,
        pipelining: 1,
        timeout: 30,
        ...(spec.amount !== undefined ? { amount: spec.amount } : { duration: spec.secs ?? 5 }),
        requests: [request],
      },
      (err, res) => (err === null ? resolve(res) : reject(err)),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
  const cpuUs = procCpuUs(spec.pid) - cpu0;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const ok = result['2xx'];
  const sorted = Float64Array.from(latencies).sort();
  const statuses: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statuses[code] = Number(count);
  return {
    rps: Math.round(ok / secs),
    ok,
    errors: result.non2xx + result.errors,
    statuses,
    p50_ms: Math.round(quantile(sorted, 0.5) * 100) / 100,
    p99_ms: Math.round(quantile(sorted, 0.99) * 100) / 100,
    server_cpu_us_per_req: Math.round(cpuUs / Math.max(ok, 1)),
    secs: Math.round(secs * 100) / 100,
    conns: spec.conns,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const spec: unknown = JSON.parse(process.argv[2] ?? '');
    if (!isSpec(spec)) throw new Error('usage: load-run.ts \'{"url":…,"body":…,"conns":N,"secs":S,"pid":P}\'');
    console.log(JSON.stringify(await runLoad(spec)));
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exitCode = 1;
  }
}
