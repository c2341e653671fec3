/**
 * Key-operation benchmarks, all in one run, each against a baseline measured
 * in the same run:
 *   1. bench/keys-inprocess.ts  keys layer vs raw node:crypto (target ratio >= 0.8)
 *   2. bench/keys-http.ts       HTTP single-item encrypt vs bare Fastify echo (>= 0.6)
 *   3. bench/keys-http.ts       batch encrypt of 1000 items vs raw node:crypto (>= 0.5)
 *   4. bench/keys-scale.ts      100,000-key vault vs 10-key vault (latency within 10%)
 *   5. bench/keys-breakdown.ts  diagnostic: components, and emulated src changes
 * Their header comments say what is measured and how.
 *
 * Usage: node --import tsx bench/keys.ts   (also run at the end of `npm run bench`)
 * Runs `npm run build` first (the HTTP part starts dist/cli/main.js) unless
 * BENCH_SKIP_BUILD=1. Loopback only. Every child process is killed at the end,
 * on error, on a signal and on the watchdog timeout (BENCH_KEYS_TIMEOUT_SECS, 600).
 * Takes about 4 minutes on the 2-core bench machine.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { envInt, fmt, installExitHook, pass, ROOT, stopAll, table } from './keys-lib.js';
import { formatInProcess, inProcessBench, IN_PROCESS_TARGET } from './keys-inprocess.js';
import { batchInjectBench, BATCH_TARGET, formatBatch, formatHttp, httpBench, HTTP_TARGET } from './keys-http.js';
import { formatScale, scaleBench, SCALE_TARGET } from './keys-scale.js';
import { breakdownBench, formatBreakdown } from './keys-breakdown.js';

// bench/run.ts passes a directory inside its own temp dir (which it removes even if this process is killed).
const given = process.env.BENCH_KEYS_DIR;
const tempDir = given !== undefined && given !== '' ? mkdtempSync(join(given, 'keys-')) : mkdtempSync(join(tmpdir(), 'keyhold-bench-keys-'));
installExitHook(() => rmSync(tempDir, { recursive: true, force: true }));

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const section = (title: string) => console.log(`\n## ${title} (load average ${loadavg()})\n`);

async function main(): Promise<void> {
  const t0 = Date.now();
  if (process.env.BENCH_SKIP_BUILD !== '1') {
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', process.stderr, 'inherit'], timeout: 180_000 });
    if (build.status !== 0) throw new Error('npm run build failed');
  }
  console.log(`# Keyhold key-operation bench: node ${process.version}, ${cpus().length} CPUs, ${new Date().toISOString()}`);

  section('1. In-process: keys layer vs raw node:crypto');
  const inproc = await inProcessBench();
  console.log(formatInProcess(inproc));

  section('3. Batch encrypt (in-process inject)');
  const batch = await batchInjectBench(tempDir);
  console.log('(printed with the HTTP batch rows below)');

  section('2. HTTP single-item encrypt vs bare Fastify echo, and HTTP batch');
  const http = await httpBench(join(tempDir, 'dev'));
  console.log(formatHttp(http));
  console.log('');
  console.log(formatBatch(batch, http));

  section('4. Scale: 100k-key vault vs 10-key vault');
  const scale = await scaleBench(tempDir);
  console.log(formatScale(scale));

  section('5. Diagnostic: keys-layer breakdown and emulated src changes');
  console.log(formatBreakdown(await breakdownBench()));

  section('Summary');
  const rows: string[][] = [
    ...inproc.cases.map((c) => [`1. ${c.name}, keys/raw ops/s`, `>= ${IN_PROCESS_TARGET}`, fmt(c.ratio, 2), pass(c.ratio >= IN_PROCESS_TARGET)]),
    ['2. HTTP encrypt 128 B, Keyhold/bare req/s', `>= ${HTTP_TARGET}`, fmt(http.ratio, 2), pass(http.ratio >= HTTP_TARGET)],
    ['3. batch 1000 x 128 B, inject/raw items/s', `>= ${BATCH_TARGET}`, fmt(batch.ratio, 2), pass(batch.ratio >= BATCH_TARGET)],
    ['4. scale cold, 100k/10 p50 latency', `<= ${SCALE_TARGET}`, fmt(scale.ratios.coldP50, 2), pass(scale.ratios.coldP50 <= SCALE_TARGET)],
    ['4. scale warm, 100k/10 p50 latency', `<= ${SCALE_TARGET}`, fmt(scale.ratios.warmP50, 2), pass(scale.ratios.warmP50 <= SCALE_TARGET)],
    ['4. scale cold, 100k/10 mean latency', `<= ${SCALE_TARGET}`, fmt(scale.ratios.coldMean, 2), pass(scale.ratios.coldMean <= SCALE_TARGET)],
    ['4. scale warm, 100k/10 mean latency', `<= ${SCALE_TARGET}`, fmt(scale.ratios.warmMean, 2), pass(scale.ratios.warmMean <= SCALE_TARGET)],
  ];
  console.log(table(['figure', 'target', 'measured', 'result'], rows));
  console.log(`\nTotal ${fmt((Date.now() - t0) / 1000)} s.`);
}

const watchdog = setTimeout(() => {
  console.error('bench/keys.ts: watchdog timeout, killing children');
  process.exit(2);
}, envInt('BENCH_KEYS_TIMEOUT_SECS', 600) * 1000);
watchdog.unref();

try {
  await main();
} catch (e) {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exitCode = 1;
} finally {
  await stopAll();
  clearTimeout(watchdog);
}
