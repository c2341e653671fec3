/**
 * Compatible APIs vs the native route (issue #8): the same encrypt of a
 * 128-byte plaintext under the same aes256-gcm key, through `/v1` and through
 * each compat surface, against ONE server process (bench/keyhold-noaudit-
 * server.ts: dev-mode setup without the audit log, so the figure is the
 * translation's cost, not the log's), closed loop, keep-alive, BENCH_COMPAT_CONNS
 * connections. Rounds alternate the surfaces; the median of each figure is
 * printed with its ratio to `/v1` in the same run (target >= 0.85 req/s).
 * Server CPU µs per request (/proc) is the steadiest figure on this shared
 * machine: a ratio of CPU per request is printed too (native / compat, so
 * higher is better and 1.00 means "costs the same").
 *
 * Surfaces: `/v1` (Bearer), Vault transit (`X-Vault-Token`), and whichever
 * of AWS KMS (SigV4) and VSSM the build has (skipped with a note if absent).
 *
 * Env: BENCH_COMPAT_SECS (5), BENCH_COMPAT_ROUNDS (3), BENCH_COMPAT_CONNS (16).
 * Standalone: node --import tsx bench/compat.ts
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const env = (name: string, d: number) => Number(process.env[name] ?? d);
const SECS = env('BENCH_COMPAT_SECS', 5);
const ROUNDS = env('BENCH_COMPAT_ROUNDS', 3);
const CONNS = env('BENCH_COMPAT_CONNS', 16);
const TOKEN = `bench-${randomBytes(8).toString('hex')}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const cpuOf = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

interface Call {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** One surface: how to build a request (fresh per call where the protocol needs it) and how to tell success. */
export interface Surface {
  name: string;
  call: () => Call;
  ok: (status: number, text: string) => boolean;
}

function post(agent: http.Agent, port: number, c: Call): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: c.path, method: 'POST', agent, headers: { 'content-length': Buffer.byteLength(c.body), ...c.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(c.body);
  });
}

async function run(surface: Surface, port: number, pid: number): Promise<{ rps: number; cpuUs: number; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNS });
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  const end = Date.now() + SECS * 1000;
  const cpu0 = cpuOf(pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNS }, async () => {
      while (Date.now() < end) {
        const r = await post(agent, port, surface.call());
        if (surface.ok(r.status, r.text)) ok++;
        else {
          errors++;
          firstError ??= `${r.status} ${r.text.slice(0, 200)}`;
        }
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuOf(pid) - cpu0;
  agent.destroy();
  if (firstError !== undefined) console.error(`  ${surface.name}: ${errors} errors, first: ${firstError}`);
  return { rps: ok / secs, cpuUs: (cpu * 1e6) / Math.max(1, ok), errors };
}

const plaintext = randomBytes(128).toString('base64');
const json = (extra: Record<string, string> = {}) => ({ 'content-type': 'application/json', ...extra });

const SURFACES: Surface[] = [
  {
    name: '/v1 (native, Bearer)',
    call: () => ({ path: '/v1/keys/bench/encrypt', headers: json({ authorization: `Bearer ${TOKEN}` }), body: JSON.stringify({ plaintext }) }),
    ok: (s) => s === 200,
  },
  {
    name: 'Vault transit (X-Vault-Token)',
    call: () => ({ path: '/v1/transit/encrypt/bench', headers: json({ 'x-vault-token': TOKEN }), body: JSON.stringify({ plaintext }) }),
    ok: (s) => s === 200,
  },
];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-bench-compat-'));
  const port = 20000 + Math.floor(Math.random() * 2000);
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./keyhold-noaudit-server.ts', import.meta.url).pathname, String(port), dir, TOKEN], { stdio: 'ignore' });
  try {
    const agent = new http.Agent({ keepAlive: true });
    for (let i = 0; ; i++) {
      try {
        const r = await post(agent, port, { path: '/v1/keys', headers: json({ authorization: `Bearer ${TOKEN}` }), body: JSON.stringify({ name: 'bench', type: 'aes256-gcm' }) });
        if (r.status === 200) break;
        if (i > 250) console.error(r.status, r.text.slice(0, 200));
      } catch (e) {
        if (i > 250) console.error(String(e));
      }
      if (i > 300) throw new Error('bench server did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
    agent.destroy();
    // Warm-up: V8 optimises each route's path; a short run of each before measuring.
    for (const s of SURFACES) await runFor(s, port, 2);
    const results = new Map<string, { rps: number[]; cpu: number[] }>(SURFACES.map((s) => [s.name, { rps: [], cpu: [] }]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of round % 2 === 0 ? SURFACES : [...SURFACES].reverse()) {
        const r = await run(s, port, child.pid!);
        results.get(s.name)!.rps.push(r.rps);
        results.get(s.name)!.cpu.push(r.cpuUs);
      }
    }
    const base = results.get(SURFACES[0]!.name)!;
    const baseRps = median(base.rps);
    const baseCpu = median(base.cpu);
    console.log(`\n## Compat surfaces vs /v1: encrypt 128 B, aes256-gcm, ${CONNS} connections, ${ROUNDS} rounds of ${SECS} s (median)\n`);
    console.log('| surface | req/s | vs /v1 (target >= 0.85) | server CPU µs/req | CPU ratio (/v1 ÷ surface) |');
    console.log('|---|---:|---:|---:|---:|');
    for (const s of SURFACES) {
      const r = results.get(s.name)!;
      console.log(`| ${s.name} | ${median(r.rps).toFixed(0)} | ${(median(r.rps) / baseRps).toFixed(2)} | ${median(r.cpu).toFixed(0)} | ${(baseCpu / median(r.cpu)).toFixed(2)} |`);
    }
  } finally {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runFor(s: Surface, port: number, secs: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNS });
  const end = Date.now() + secs * 1000;
  await Promise.all(
    Array.from({ length: CONNS }, async () => {
      while (Date.now() < end) await post(agent, port, s.call());
    }),
  );
  agent.destroy();
}

await main();
