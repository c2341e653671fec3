/**
 * Key operations over HTTP, and the batch route.
 *
 * 1. Single-item encrypt over HTTP: a Keyhold dev server (child process,
 *    `node dist/cli/main.js server --dev ...`, key "bench" of the default type
 *    aes256-gcm created with POST /v1/keys) answering
 *    POST /v1/keys/bench/encrypt {"plaintext":"<128 random bytes, base64>"},
 *    vs the bare Fastify route POST /echo of bench/bare-server.ts, which parses
 *    the same JSON body and sends it back. A third, diagnostic row: the same
 *    bare server's POST /keys-encrypt, which runs the keys layer (keys.get +
 *    encrypt, base64 in and out) with none of Keyhold's hooks; and a fourth:
 *    bench/keyhold-noaudit-server.ts, Keyhold set up as dev mode does but
 *    without the audit log (dev mode always audits). So the extra CPU splits
 *    into operation, framework and audit. Closed loop with autocannon in its
 *    own process (bench/load-run.ts), keep-alive, BENCH_KEYS_CONNS (32)
 *    connections, server CPU µs per request from /proc (bench/proc-cpu.ts). Warm-up per server, then rounds that
 *    alternate the two servers; medians reported.
 * 2. Batch encrypt of 1000 x 128 B items through
 *    POST /v1/keys/bench/encrypt/batch, in-process with `app.api.inject` (a
 *    vault built with buildKeyhold on SqliteBackend(':memory:'), initialised
 *    and unsealed through the routes; no audit file configured, so no audit
 *    log), vs raw node:crypto encrypting the same
 *    1000 items in-process. Items/s, interleaved in 50 ms slices. The same
 *    batch is also sent to the dev server over HTTP (sequential fetch, server
 *    CPU from /proc), with the bare /echo of the same body for comparison.
 *
 * Needs a built dist/ (bench/keys.ts runs `npm run build` first).
 * Env: BENCH_KEYS_SECS (5), BENCH_KEYS_WARMUP_SECS (5), BENCH_KEYS_HTTP_ROUNDS (3),
 * BENCH_KEYS_CONNS (32), BENCH_BATCH_MS (600) per variant per round,
 * BENCH_BATCH_ROUNDS (5), BENCH_BATCH_HTTP (20) sequential HTTP batches.
 *
 * Standalone: node --import tsx bench/keys-http.ts
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveConfig } from '../src/config/load-config.js';
import { buildKeyhold } from '../src/api/keyhold-app.js';
import { SqliteBackend } from '../src/storage/sqlite-backend.js';
import {
  envInt, fmt, freePort, HOST, installExitHook, interleaved, load, median, pass, procCpuUs, startNode, stop, table, waitReady,
  type LoadResult, type Rate,
} from './keys-lib.js';

export const HTTP_TARGET = 0.6;
export const BATCH_TARGET = 0.5;
const TOKEN = 'bench-token';
const BATCH = 1000;

export interface HttpSummary {
  rps: number;
  p50: number;
  p99: number;
  cpu: number;
  rounds: LoadResult[];
  errors: number;
}

export interface SeqBatch {
  itemsPerSec: number;
  msPerBatch: number;
  serverCpuMsPerBatch: number;
  n: number;
}

export interface HttpResult {
  conns: number;
  secs: number;
  warmupSecs: number;
  bare: HttpSummary;
  bareKeys: HttpSummary; // bare Fastify + keys layer, no Keyhold hooks (diagnostic)
  noAudit: HttpSummary; // Keyhold as in dev mode but without the audit log (diagnostic)
  keyhold: HttpSummary;
  ratio: number; // keyhold rps / bare rps
  ratios: number[]; // per round
  batchHttp: SeqBatch;
  batchEcho: SeqBatch;
}

function summarize(rs: LoadResult[]): HttpSummary {
  return {
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => Number(r.p50_ms))),
    p99: median(rs.map((r) => Number(r.p99_ms))),
    cpu: median(rs.map((r) => r.server_cpu_us_per_req)),
    rounds: rs,
    errors: rs.reduce((n, r) => n + r.errors, 0),
  };
}

/** 1000 items of 128 random bytes, as the batch route takes them. */
export function batchBody(): { body: string; items: Buffer[] } {
  const items = Array.from({ length: BATCH }, () => randomBytes(128));
  return { body: JSON.stringify({ items: items.map((b) => ({ plaintext: b.toString('base64') })) }), items };
}

/** Sends `body` to `url` `n` times in sequence; wall time and the server's CPU per request. */
async function sequential(url: string, body: string, pid: number, n: number, headers: Record<string, string>, check: (json: unknown) => void): Promise<SeqBatch> {
  const post = async () => {
    const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text;
  };
  check(JSON.parse(await post()));
  for (let i = 0; i < 3; i++) await post(); // warm-up
  const cpu0 = procCpuUs(pid);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await post();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / n;
  const cpuMs = (procCpuUs(pid) - cpu0) / 1000 / n;
  return { itemsPerSec: (BATCH * 1000) / ms, msPerBatch: ms, serverCpuMsPerBatch: cpuMs, n };
}

function isResults(v: unknown): v is { results: { ciphertext?: unknown }[] } {
  return typeof v === 'object' && v !== null && 'results' in v && Array.isArray(v.results);
}

function checkBatch(json: unknown): void {
  if (!isResults(json) || json.results.length !== BATCH || !json.results.every((r) => typeof r.ciphertext === 'string' && r.ciphertext.startsWith('keyhold:v1:')))
    throw new Error('batch encrypt did not return 1000 ciphertexts');
}

export async function httpBench(dataDir: string): Promise<HttpResult> {
  const secs = envInt('BENCH_KEYS_SECS', 5);
  const warmupSecs = envInt('BENCH_KEYS_WARMUP_SECS', 5);
  const rounds = envInt('BENCH_KEYS_HTTP_ROUNDS', 3);
  const conns = envInt('BENCH_KEYS_CONNS', 32);
  const batchN = envInt('BENCH_BATCH_HTTP', 20);
  const [barePort, apiPort, healthPort, naPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const bareSrv = startNode(['--import', 'tsx', join('bench', 'bare-server.ts'), String(barePort)]);
  const khSrv = startNode([
    join('dist', 'cli', 'main.js'), 'server', '--dev', '--data-dir', dataDir,
    '--api-port', String(apiPort), '--health-port', String(healthPort),
    '--dev-root-token', TOKEN, '--log-level', 'silent',
  ]);
  mkdirSync(join(dataDir, '..', 'noaudit'), { recursive: true });
  const naSrv = startNode(['--import', 'tsx', join('bench', 'keyhold-noaudit-server.ts'), String(naPort), join(dataDir, '..', 'noaudit'), TOKEN]);
  try {
    const bareUrl = `http://${HOST}:${barePort}/echo`;
    const api = `http://${HOST}:${apiPort}`;
    await waitReady('bare server', bareSrv, bareUrl, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    await waitReady('keyhold', khSrv, `${api}/v1/sys/health`);
    const naApi = `http://${HOST}:${naPort}`;
    await waitReady('keyhold without audit', naSrv, `${naApi}/v1/sys/health`);
    const auth = { authorization: `Bearer ${TOKEN}` };
    for (const base of [api, naApi]) {
      const created = await fetch(`${base}/v1/keys`, { method: 'POST', body: JSON.stringify({ name: 'bench' }), headers: { 'content-type': 'application/json', ...auth } });
      if (created.status !== 200) throw new Error(`creating the key at ${base} failed: HTTP ${created.status} ${await created.text()}`);
    }

    const body = JSON.stringify({ plaintext: randomBytes(128).toString('base64') });
    const khUrl = `${api}/v1/keys/bench/encrypt`;
    const probe = await fetch(khUrl, { method: 'POST', body, headers: { 'content-type': 'application/json', ...auth } });
    const probeText = await probe.text();
    if (probe.status !== 200 || !probeText.includes('"ciphertext":"keyhold:v1:')) throw new Error(`encrypt probe failed: HTTP ${probe.status} ${probeText}`);
    const echo = await fetch(bareUrl, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    if ((await echo.text()) !== body) throw new Error('bare /echo does not echo the body');

    const bareKeysUrl = `http://${HOST}:${barePort}/keys-encrypt`;
    const bk = await fetch(bareKeysUrl, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    if (!(await bk.text()).includes('"ciphertext":"keyhold:v1:')) throw new Error('bare /keys-encrypt probe failed');

    const runBare = (s: number) => load(bareUrl, body, bareSrv.child.pid!, { conns, secs: s });
    const runBareKeys = (s: number) => load(bareKeysUrl, body, bareSrv.child.pid!, { conns, secs: s });
    const runKh = (s: number) => load(khUrl, body, khSrv.child.pid!, { conns, secs: s, headers: auth });
    const runNa = (s: number) => load(`${naApi}/v1/keys/bench/encrypt`, body, naSrv.child.pid!, { conns, secs: s, headers: auth });
    // JIT warm-up, discarded (Keyhold's CPU per request takes ~25k requests to settle).
    await runBare(warmupSecs);
    await runBareKeys(Math.ceil(warmupSecs / 2));
    await runNa(warmupSecs);
    await runKh(warmupSecs);
    const bareRuns: LoadResult[] = [];
    const bareKeysRuns: LoadResult[] = [];
    const naRuns: LoadResult[] = [];
    const khRuns: LoadResult[] = [];
    for (let i = 0; i < rounds; i++) {
      // The order rotates so that no server always runs first in a round.
      const order = [
        async () => bareRuns.push(await runBare(secs)),
        async () => khRuns.push(await runKh(secs)),
        async () => bareKeysRuns.push(await runBareKeys(secs)),
        async () => naRuns.push(await runNa(secs)),
      ];
      for (let j = 0; j < order.length; j++) await order[(i + j) % order.length]!();
    }
    const [bare, bareKeys, noAudit, keyhold] = [summarize(bareRuns), summarize(bareKeysRuns), summarize(naRuns), summarize(khRuns)];

    const { body: bb } = batchBody();
    const batchHttp = await sequential(`${khUrl}/batch`, bb, khSrv.child.pid!, batchN, auth, checkBatch);
    const batchEcho = await sequential(bareUrl, bb, bareSrv.child.pid!, batchN, {}, (j) => {
      if (JSON.stringify(j) !== bb) throw new Error('echo of the batch body differs');
    });
    return {
      conns, secs, warmupSecs, bare, bareKeys, noAudit, keyhold,
      ratio: keyhold.rps / bare.rps,
      ratios: khRuns.map((k, i) => k.rps / bareRuns[i]!.rps),
      batchHttp, batchEcho,
    };
  } finally {
    await stop(khSrv.child); // SIGTERM, then SIGKILL after 5 s
    await stop(naSrv.child);
    await stop(bareSrv.child);
  }
}

// ---- batch, in-process ----------------------------------------------------------

export interface BatchResult {
  inject: Rate; // batches per second
  raw: Rate; // 1000-item raw loops per second
  ratio: number; // median over rounds of inject items/s / raw items/s
  ratios: number[];
  injectItemsPerSec: number;
  rawItemsPerSec: number;
  ms: number;
  rounds: number;
}

export async function batchInjectBench(dir: string): Promise<BatchResult> {
  const ms = envInt('BENCH_BATCH_MS', 600);
  const rounds = envInt('BENCH_BATCH_ROUNDS', 5);
  const config = resolveConfig({ storage: { path: join(dir, 'unused.db') }, listeners: { api: { port: 0 }, health: { port: 0 } }, log: { level: 'silent' } });
  const app = await buildKeyhold(config, { backend: new SqliteBackend({ path: ':memory:' }), logger: false });
  try {
    const init = await app.api.inject({ method: 'POST', url: '/v1/sys/init', payload: { shares: 3, threshold: 2 } });
    if (init.statusCode !== 200) throw new Error(`init failed: ${init.statusCode} ${init.body}`);
    const { shares, rootToken } = init.json<{ shares: string[]; rootToken: string }>();
    for (const key of shares.slice(0, 2)) {
      const r = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key } });
      if (r.statusCode !== 200) throw new Error(`unseal failed: ${r.statusCode} ${r.body}`);
    }
    const headers = { authorization: `Bearer ${rootToken}`, 'content-type': 'application/json' };
    const created = await app.api.inject({ method: 'POST', url: '/v1/keys', headers, payload: JSON.stringify({ name: 'bench' }) });
    if (created.statusCode !== 200) throw new Error(`creating the key failed: ${created.statusCode} ${created.body}`);

    const { body, items } = batchBody();
    const url = '/v1/keys/bench/encrypt/batch';
    const first = await app.api.inject({ method: 'POST', url, headers, payload: body });
    if (first.statusCode !== 200) throw new Error(`batch failed: ${first.statusCode} ${first.body.slice(0, 300)}`);
    checkBatch(first.json());
    const viaInject = async () => {
      const r = await app.api.inject({ method: 'POST', url, headers, payload: body });
      if (r.statusCode !== 200) throw new Error(`batch failed: ${r.statusCode}`);
    };
    const rawKey = randomBytes(32);
    const rawBatch = () => {
      const out: Buffer[] = [];
      for (const pt of items) {
        const iv = randomBytes(12);
        const c = createCipheriv('aes-256-gcm', rawKey, iv);
        const ct = c.update(pt);
        const fin = c.final();
        out.push(Buffer.concat([iv, ct, fin, c.getAuthTag()]));
      }
      return out;
    };
    await interleaved([viaInject, rawBatch], 400, 50); // JIT warm-up
    const injects: Rate[] = [];
    const raws: Rate[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const [inj, raw] = await interleaved([viaInject, rawBatch], ms, 50);
      injects.push(inj!);
      raws.push(raw!);
      ratios.push(inj!.ops / raw!.ops);
    }
    const med = (rs: Rate[]): Rate => ({ ops: median(rs.map((r) => r.ops)), cpuUs: median(rs.map((r) => r.cpuUs)), n: rs.reduce((n, r) => n + r.n, 0) });
    const [inject, raw] = [med(injects), med(raws)];
    return { inject, raw, ratio: median(ratios), ratios, injectItemsPerSec: inject.ops * BATCH, rawItemsPerSec: raw.ops * BATCH, ms, rounds };
  } finally {
    await app.close();
  }
}

// ---- output ----------------------------------------------------------------------

export function formatHttp(r: HttpResult): string {
  const row = (name: string, s: HttpSummary) => [name, fmt(s.rps), fmt(s.p50, 2), fmt(s.p99, 2), fmt(s.cpu), s.rounds.map((x) => `${fmt(x.rps)}/${x.server_cpu_us_per_req}`).join(' '), String(s.errors)];
  return [
    `HTTP single-item encrypt, 128 B plaintext, loopback keep-alive, ${r.conns} connections (warm-up ${r.warmupSecs} s, then ${r.bare.rounds.length} alternating rounds x ${r.secs} s; medians)`,
    '',
    table(
      ['server', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'rounds req/s / CPU µs', 'non-200'],
      [
        row('bare Fastify POST /echo (baseline)', r.bare),
        row('bare Fastify + keys layer encrypt (diagnostic)', r.bareKeys),
        row('Keyhold as dev, audit off (diagnostic)', r.noAudit),
        row('Keyhold dev server POST /v1/keys/bench/encrypt', r.keyhold),
      ],
    ),
    '',
    `Keyhold/baseline throughput ${fmt(r.ratio, 2)}x (rounds ${r.ratios.map((x) => fmt(x, 2)).join(' ')}; target >= ${HTTP_TARGET}: ${pass(r.ratio >= HTTP_TARGET)}), ` +
      `CPU per request ${fmt(r.keyhold.cpu / r.bare.cpu, 2)}x (+${fmt(r.keyhold.cpu - r.bare.cpu)} µs).\n` +
      `Split of the extra CPU per request: keys layer + base64 (bare+keys minus echo) ${fmt(r.bareKeys.cpu - r.bare.cpu)} µs, ` +
      `Keyhold's hooks, auth, schemas, metrics (audit off minus bare+keys) ${fmt(r.noAudit.cpu - r.bareKeys.cpu)} µs, ` +
      `audit log (dev server minus audit off) ${fmt(r.keyhold.cpu - r.noAudit.cpu)} µs. ` +
      `Throughput vs echo: bare+keys ${fmt(r.bareKeys.rps / r.bare.rps, 2)}x, audit off ${fmt(r.noAudit.rps / r.bare.rps, 2)}x.`,
  ].join('\n');
}

export function formatBatch(b: BatchResult, h?: HttpResult): string {
  const rows = [
    [`inject POST /v1/keys/bench/encrypt/batch (1000 items, audit off)`, fmt(b.injectItemsPerSec), fmt(1e3 / b.inject.ops, 2), fmt(b.inject.cpuUs / 1e3, 2)],
    [`raw node:crypto, 1000 items (baseline)`, fmt(b.rawItemsPerSec), fmt(1e3 / b.raw.ops, 2), fmt(b.raw.cpuUs / 1e3, 2)],
  ];
  if (h !== undefined) {
    rows.push([`HTTP POST .../encrypt/batch to the dev server (audited), sequential (n=${h.batchHttp.n})`, fmt(h.batchHttp.itemsPerSec), fmt(h.batchHttp.msPerBatch, 2), `${fmt(h.batchHttp.serverCpuMsPerBatch, 2)} (server)`]);
    rows.push([`HTTP bare /echo of the same body (n=${h.batchEcho.n})`, fmt(h.batchEcho.itemsPerSec), fmt(h.batchEcho.msPerBatch, 2), `${fmt(h.batchEcho.serverCpuMsPerBatch, 2)} (server)`]);
  }
  return [
    `Batch encrypt, 1000 x 128 B items (in-process rows: median of ${b.rounds} rounds x ${b.ms} ms per variant, interleaved in 50 ms slices)`,
    '',
    table(['path', 'items/s', 'ms per 1000', 'CPU ms per 1000'], rows),
    '',
    `inject/raw items/s ${fmt(b.ratio, 2)}x (rounds ${b.ratios.map((x) => fmt(x, 2)).join(' ')}; target >= ${BATCH_TARGET}: ${pass(b.ratio >= BATCH_TARGET)})` +
      (h === undefined ? '' : `; HTTP batch/raw ${fmt(h.batchHttp.itemsPerSec / b.rawItemsPerSec, 2)}x`),
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-bench-keys-'));
  installExitHook(() => rmSync(dir, { recursive: true, force: true }));
  const b = await batchInjectBench(dir);
  const h = await httpBench(join(dir, 'dev'));
  console.log(formatHttp(h));
  console.log('');
  console.log(formatBatch(b, h));
}
