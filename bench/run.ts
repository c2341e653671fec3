/**
 * Keyhold benchmark harness: `npm run bench` (node --import tsx bench/run.ts).
 *
 * 1. HTTP. Builds Keyhold (`npm run build`), then starts two servers as child
 *    processes on loopback: a bare Fastify route returning 32 random bytes
 *    (bench/bare-server.ts, the baseline) and a Keyhold dev server, whose
 *    `POST /v1/sys/tools/random {"bytes":32}` does the same work behind
 *    Keyhold's hooks (seal gate, root-token check, schema validation, metrics).
 *    Each gets a warm-up (Keyhold's CPU per request takes ~25k requests to
 *    settle as V8 optimises), then closed-loop runs of autocannon, each in a
 *    process of its own (bench/load-run.ts), with the server's CPU time
 *    (user+system, all threads) read from /proc before and after
 *    (bench/proc-cpu.ts). Prints req/s, p50, p99, server CPU µs per request
 *    and the Keyhold/baseline ratios.
 * 2. Barrier, in-process, on a temp SQLite file: put+get round trips of a
 *    256-byte record (each put is a durable SQLite commit, synchronous=FULL, so
 *    fsync dominates), get only, and encryptOp+decryptRecord with no I/O; each
 *    against raw node:crypto AES-256-GCM encrypt+decrypt of the same bytes.
 *
 * 3. Key operations: bench/keys.ts (in-process keys layer, HTTP encrypt, batch,
 *    100k-key scale), run as a child process after the above with the build
 *    already done. BENCH_KEYS=0 skips it; `node --import tsx bench/keys.ts`
 *    runs it alone.
 *
 * Rounds alternate the two servers and the median of each figure is printed:
 * this machine is shared, and server CPU µs per request is the steadiest figure.
 *
 * The load generator runs in its own process, so the server CPU figure is the
 * server's alone, but it shares the machine's cores with the server it measures.
 *
 * Env: BENCH_SECS (5) and BENCH_CONNS (16) per load run, BENCH_ROUNDS (3),
 * BENCH_WARMUP_SECS (5), BENCH_PUTS (200) put+get round trips, BENCH_GETS
 * (5000), BENCH_CRYPTO_OPS (20000). Every child
 * is killed at the end, on error and on a watchdog timeout.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Barrier } from '../src/barrier/barrier.js';
import { SqliteBackend } from '../src/storage/sqlite-backend.js';
import { envInt, freePort, HOST, installExitHook, load, median, ROOT, startNode, stopAll, waitReady, type LoadResult } from './keys-lib.js';

const TOKEN = 'bench-token';
const SECS = envInt('BENCH_SECS', 5);
const CONNS = envInt('BENCH_CONNS', 16);
const WARMUP_SECS = envInt('BENCH_WARMUP_SECS', 5);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const PUTS = envInt('BENCH_PUTS', 200);
const GETS = envInt('BENCH_GETS', 5000);
const CRYPTO_OPS = envInt('BENCH_CRYPTO_OPS', 20000);

const tempDir = mkdtempSync(join(tmpdir(), 'keyhold-bench-'));
installExitHook(() => rmSync(tempDir, { recursive: true, force: true }));

interface Summary {
  rps: number;
  p50: number;
  p99: number;
  cpu: number;
  cpuRounds: number[];
  errors: number;
}

/** Median of each figure over the rounds (rounds interleave the two servers, so drift in machine load hits both). */
function summarize(rs: LoadResult[]): Summary {
  return {
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => Number(r.p50_ms))),
    p99: median(rs.map((r) => Number(r.p99_ms))),
    cpu: median(rs.map((r) => r.server_cpu_us_per_req)),
    cpuRounds: rs.map((r) => r.server_cpu_us_per_req),
    errors: rs.reduce((n, r) => n + r.errors, 0),
  };
}

async function httpBench(dataDir: string): Promise<{ bare: Summary; keyhold: Summary }> {
  const [barePort, apiPort, healthPort] = [await freePort(), await freePort(), await freePort()];
  const bareSrv = startNode(['--import', 'tsx', join('bench', 'bare-server.ts'), String(barePort)]);
  const khSrv = startNode([
    join('dist', 'cli', 'main.js'), 'server', '--dev', '--data-dir', dataDir,
    '--api-port', String(apiPort), '--health-port', String(healthPort),
    '--dev-root-token', TOKEN, '--log-level', 'silent',
  ]);
  const bareUrl = `http://${HOST}:${barePort}/random`;
  const khUrl = `http://${HOST}:${apiPort}/v1/sys/tools/random`;
  await waitReady('bare server', bareSrv, bareUrl, { method: 'POST' });
  await waitReady('keyhold', khSrv, `http://${HOST}:${apiPort}/v1/sys/health`);
  // One answered request before any timed run: the first one on a fresh server takes seconds (lazy
  // set-up behind the route), longer than a short warm-up, and autocannon drops answers still in flight
  // when a run ends, so a warm-up shorter than that first answer would count nothing.
  const probe = await fetch(khUrl, { method: 'POST', body: '{"bytes":32}', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(60_000) });
  const probeText = await probe.text();
  if (probe.status !== 200 || !probeText.includes('"random"')) throw new Error(`probe of ${khUrl} failed: HTTP ${probe.status} ${probeText.slice(0, 300)}`);

  const runBare = (secs: number) => load(bareUrl, '{}', bareSrv.child.pid!, { conns: CONNS, secs });
  const runKh = (secs: number) => load(khUrl, '{"bytes":32}', khSrv.child.pid!, { conns: CONNS, secs, headers: { authorization: `Bearer ${TOKEN}` } });
  await runBare(WARMUP_SECS); // JIT warm-up, discarded: the first ~25k requests cost more CPU
  await runKh(WARMUP_SECS);
  const bareRuns: LoadResult[] = [];
  const khRuns: LoadResult[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    bareRuns.push(await runBare(SECS));
    khRuns.push(await runKh(SECS));
  }
  const [bare, keyhold] = [summarize(bareRuns), summarize(khRuns)];
  if (keyhold.errors > 0 || bare.errors > 0) console.warn(`warning: non-200 answers: bare ${bare.errors}, keyhold ${keyhold.errors}`);
  await stopAll();
  return { bare, keyhold };
}

// ---- barrier micro-benchmark -----------------------------------------------

interface Timing {
  ops: number; // per wall-clock second
  us: number; // wall-clock µs per op
  cpuUs: number; // process CPU (user+system) µs per op: steadier on a shared machine, excludes fsync waits
}

async function timeOps(n: number, fn: () => unknown): Promise<Timing> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  const cpu = process.cpuUsage(cpu0);
  return { ops: 1e6 / us, us, cpuUs: (cpu.user + cpu.system) / n };
}

const VALUE = randomBytes(256);
const RAW_KEY = randomBytes(32);

/** The floor: AES-256-GCM through node:crypto, fresh 96-bit nonce, no AAD. */
function rawRoundTrip(): void {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', RAW_KEY, iv);
  const ct = Buffer.concat([c.update(VALUE), c.final()]);
  const d = createDecipheriv('aes-256-gcm', RAW_KEY, iv);
  d.setAuthTag(c.getAuthTag());
  if (Buffer.concat([d.update(ct), d.final()]).length !== VALUE.length) throw new Error('raw round trip');
}

async function barrierBench(dir: string): Promise<Record<'putGet' | 'get' | 'crypto' | 'raw', Timing>> {
  const backend = new SqliteBackend({ path: join(dir, 'barrier-bench.db') });
  const barrier = new Barrier(backend);
  try {
    await backend.transaction([barrier.createKeyring(randomBytes(32))]);
    const path = 'bench/record';
    const cryptoOnly = () => {
      const op = barrier.encryptOp({ type: 'put', path, value: VALUE });
      if (op.type !== 'put' || barrier.decryptRecord(path, op.value).length !== VALUE.length) throw new Error('barrier round trip');
    };
    const putGet = async () => {
      await barrier.put(path, VALUE);
      if ((await barrier.get(path))?.length !== VALUE.length) throw new Error('barrier put+get');
    };
    // Warm-up (JIT, SQLite page cache), then measure.
    await timeOps(20, putGet);
    await timeOps(2000, cryptoOnly);
    await timeOps(2000, rawRoundTrip);
    return {
      putGet: await timeOps(PUTS, putGet),
      get: await timeOps(GETS, () => barrier.get(path)),
      crypto: await timeOps(CRYPTO_OPS, cryptoOnly),
      raw: await timeOps(CRYPTO_OPS, rawRoundTrip),
    };
  } finally {
    barrier.seal();
    await backend.close();
  }
}

// ---- main --------------------------------------------------------------------

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', process.stderr, 'inherit'], timeout: 180_000 });
  if (build.status !== 0) throw new Error('npm run build failed');

  try {
    console.log(`Keyhold bench: node ${process.version}, ${ROUNDS} rounds x ${SECS} s per server, ${CONNS} conns (warm-up ${WARMUP_SECS} s), loopback\n`);
    const { bare, keyhold } = await httpBench(join(tempDir, 'dev'));
    console.log(`| HTTP POST, 32 random bytes (median of ${ROUNDS}) |  req/s | p50 ms | p99 ms | server CPU µs/req | CPU µs/req per round |`);
    console.log('|----------------------------------------|-------:|-------:|-------:|------------------:|----------------------|');
    for (const [name, r] of [['bare Fastify (baseline)', bare], ['Keyhold /v1/sys/tools/random', keyhold]] as const)
      console.log(
        `| ${name.padEnd(38)} | ${fmt(r.rps).padStart(6)} | ${fmt(r.p50, 2).padStart(6)} | ${fmt(r.p99, 2).padStart(6)} | ${fmt(r.cpu).padStart(17)} | ${r.cpuRounds.join(' / ').padEnd(20)} |`,
      );
    console.log(`\nKeyhold/baseline: throughput ${fmt(keyhold.rps / bare.rps, 2)}x, CPU per request ${fmt(keyhold.cpu / bare.cpu, 2)}x\n`);

    const b = await barrierBench(tempDir);
    console.log('| Barrier, 256-byte record (in-process)         |   ops/s |   µs/op | CPU µs/op | CPU vs raw |');
    console.log('|-----------------------------------------------|--------:|--------:|----------:|-----------:|');
    const rows: [string, Timing][] = [
      [`put+get round trip, SQLite fsync (n=${PUTS})`, b.putGet],
      [`get only, SQLite read (n=${GETS})`, b.get],
      [`encryptOp+decryptRecord, no I/O (n=${CRYPTO_OPS})`, b.crypto],
      [`raw node:crypto AES-256-GCM enc+dec (n=${CRYPTO_OPS})`, b.raw],
    ];
    for (const [name, t] of rows)
      console.log(
        `| ${name.padEnd(45)} | ${fmt(t.ops).padStart(7)} | ${fmt(t.us, 1).padStart(7)} | ${fmt(t.cpuUs, 1).padStart(9)} | ${(fmt(t.cpuUs / b.raw.cpuUs, 1) + 'x').padStart(10)} |`,
      );
    console.log(
      `\nput+get is bound by the durable commit (WAL fsync per put, synchronous=FULL): ${fmt(b.putGet.us, 0)} µs wall per round trip, ` +
        `of which only ${fmt(b.putGet.cpuUs, 0)} µs is CPU; the rest is waiting for the disk.`,
    );

    if (process.env.BENCH_KEYS !== '0') {
      console.log('');
      await keysBench();
    }
  } finally {
    await stopAll(); // gracefully; the temp dir is removed on exit
  }
}

const KEYS_TIMEOUT_SECS = 600;

/**
 * bench/keys.ts in a child process (its own memory figures stay clean), output
 * passed through. It runs in its own process group, so that on any exit of this
 * process the whole group (keys.ts and the servers and load generators it
 * started) is killed at once.
 */
async function keysBench(): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', join('bench', 'keys.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
    env: { ...process.env, BENCH_SKIP_BUILD: '1', BENCH_KEYS_TIMEOUT_SECS: String(KEYS_TIMEOUT_SECS), BENCH_KEYS_DIR: tempDir },
  });
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  };
  process.prependOnceListener('exit', killGroup); // before the temp dir is removed
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  killGroup(); // anything keys.ts left behind
  process.removeListener('exit', killGroup);
  if (code !== 0) throw new Error(`bench/keys.ts failed (exit ${code})`);
}

const watchdog = setTimeout(
  () => {
    console.error('bench: watchdog timeout, killing children');
    process.exit(2);
  },
  (240 + 2 * (ROUNDS * SECS + WARMUP_SECS) + (process.env.BENCH_KEYS === '0' ? 0 : KEYS_TIMEOUT_SECS + 30)) * 1000,
);
watchdog.unref();

main().then(
  () => clearTimeout(watchdog),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  },
);
