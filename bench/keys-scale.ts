/**
 * Scale: a vault of 100,000 keys vs a vault of 10 keys. Latency of
 * `keys.get(name)` + encrypt (aes256-gcm, 128 B) for a random existing key,
 * cold and warm, and resident memory.
 *
 * Each vault is a temp SQLite file (the normal backend, WAL, synchronous=FULL)
 * so that the process's memory holds what a server would hold, not the whole
 * database. Steps, each in its own child process (spawned by scaleBench()):
 *
 *  build N    creates the keyring and writes N aes256-gcm key records in barrier
 *             transactions of 5,000 (one durable commit each), exactly as
 *             KeyStore.put stores them (view "keys/", path indexPath("key", name),
 *             encodeKeyRecord); then checks that KeyManager.get reads some back.
 *             Creation time is printed but is not the figure.
 *  memory N   `node --expose-gc`: unseals, gc, RSS; then touches every key
 *             (get + encrypt, so the key and its parsed handles are cached), gc, RSS.
 *  latency    opens both vaults in one process and alternates between them, so
 *             machine load hits both alike:
 *             cold  first touch of a key: a new KeyManager on the same barrier
 *                   (empty KeyStore cache) per group of 10 keys, as after unseal;
 *                   for the 100k vault every cold sample is a key not touched
 *                   before in the process (so its SQLite pages are not in
 *                   SQLite's own cache either); for the 10-key vault the 10 keys
 *                   are reused with a new KeyManager per group.
 *             warm  every key of both vaults touched first; then random keys,
 *                   in alternating 20 ms slices.
 *
 *             storage  then, for attribution, first reads of further unused
 *                   records alone: through BarrierView.get, and as the plain
 *                   SELECT on a read-only better-sqlite3 connection with default
 *                   settings and with PRAGMA mmap_size = 256 MiB (a what-if for
 *                   SqliteBackend; src/ is untouched).
 *
 * Latency is wall-clock time per get+encrypt measured with hrtime around each
 * call. Env: BENCH_SCALE_KEYS (100000), BENCH_SCALE_COLD (2000) cold samples
 * per vault, BENCH_SCALE_WARM_MS (3000) per vault.
 *
 * Standalone: node --import tsx bench/keys-scale.ts
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { Barrier, type BarrierOp } from '../src/barrier/barrier.js';
import { LOGICAL_PREFIX } from '../src/barrier/paths.js';
import { SqliteBackend } from '../src/storage/sqlite-backend.js';
import { generateVersion, KeyManager } from '../src/keys/key-manager.js';
import { encodeKeyRecord, type KeyRecord } from '../src/keys/key-record.js';
import { encrypt } from '../src/keys/operations/encrypt.js';
import { envInt, fmt, installExitHook, pass, quantile, startNode, table, waitExit } from './keys-lib.js';

export const SCALE_TARGET = 1.1; // 100k latency / 10-key latency

const SELF = fileURLToPath(import.meta.url);
const name = (i: number) => `key-${i}`;
const PLAINTEXT = new Uint8Array(randomBytes(128));

function rootKeyFromEnv(): Uint8Array {
  const hex = process.env.BENCH_ROOT_KEY ?? '';
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error('BENCH_ROOT_KEY must be 64 hex digits');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

async function open(path: string): Promise<{ backend: SqliteBackend; barrier: Barrier }> {
  const backend = new SqliteBackend({ path });
  const barrier = new Barrier(backend);
  await barrier.unseal(rootKeyFromEnv());
  return { backend, barrier };
}

const getEncrypt = async (keys: KeyManager, n: string) => encrypt(await keys.get(n), { plaintext: PLAINTEXT });

// ---- child modes ---------------------------------------------------------------

async function build(path: string, count: number): Promise<object> {
  const t0 = Date.now();
  const backend = new SqliteBackend({ path });
  const barrier = new Barrier(backend);
  try {
    await backend.transaction([barrier.createKeyring(rootKeyFromEnv())]);
    const view = barrier.view('keys/');
    let ops: BarrierOp[] = [];
    for (let i = 0; i < count; i++) {
      const now = new Date().toISOString();
      const record: KeyRecord = {
        format: 1, name: name(i), type: 'aes256-gcm', description: '', tags: {}, createdAt: now, updatedAt: now, state: 'enabled',
        exportable: false, legacy: false, sealWrap: false, publicOnly: false, latestVersion: 1, minDecryptionVersion: 1,
        minEncryptionVersion: 0, minAvailableVersion: 1, autoRotatePeriodSeconds: 0, lastRotatedAt: now,
        versions: [generateVersion('aes256-gcm', 1, now)],
      };
      ops.push({ type: 'put', path: view.indexPath('key', record.name), value: encodeKeyRecord(record) });
      if (ops.length === 5000 || i === count - 1) {
        await view.transaction(ops);
        ops = [];
      }
    }
    // The records must be what KeyStore reads: a fresh KeyManager finds and uses them.
    const keys = new KeyManager(barrier);
    for (const i of [0, count - 1, Math.floor(count / 2)]) await getEncrypt(keys, name(i));
    return { count, buildMs: Date.now() - t0 };
  } finally {
    barrier.seal();
    await backend.close();
  }
}

const mb = (n: number) => Math.round((n / 1048576) * 100) / 100;
function mem(): { rssMB: number; heapMB: number; externalMB: number } {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { rssMB: mb(m.rss), heapMB: mb(m.heapUsed), externalMB: mb(m.external + m.arrayBuffers) };
}

async function memory(path: string, count: number): Promise<object> {
  if (globalThis.gc === undefined) throw new Error('memory mode needs node --expose-gc');
  const { backend, barrier } = await open(path);
  try {
    const keys = new KeyManager(barrier);
    await getEncrypt(keys, name(0)); // code paths loaded and compiled before the first figure
    const unsealed = mem();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) await getEncrypt(keys, name(i));
    const touchAllMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const warm = mem();
    return { count, dbMB: mb(statSync(path).size + (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0)), unsealed, warm, touchAllMs };
  } finally {
    barrier.seal();
    await backend.close();
  }
}

interface Lat {
  n: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
}

function lat(samples: number[]): Lat {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, meanUs: s.reduce((a, b) => a + b, 0) / s.length, p50Us: quantile(s, 0.5), p99Us: quantile(s, 0.99) };
}

async function timed(keys: KeyManager, n: string, out: number[]): Promise<void> {
  const t0 = process.hrtime.bigint();
  await getEncrypt(keys, n);
  out.push(Number(process.hrtime.bigint() - t0) / 1000);
}

async function latency(smallPath: string, smallCount: number, bigPath: string, bigCount: number): Promise<object> {
  const coldN = envInt('BENCH_SCALE_COLD', 2000);
  const warmMs = envInt('BENCH_SCALE_WARM_MS', 3000);
  const vaults = [await open(smallPath), await open(bigPath)];
  const counts = [smallCount, bigCount];
  try {
    const order = counts.map((c) => shuffle(Array.from({ length: c }, (_, i) => name(i))));
    const GROUP = Math.min(10, smallCount);
    const WARMUP_GROUPS = 30;
    const STORAGE_N = 500; // per method and vault
    if (bigCount < (WARMUP_GROUPS + Math.ceil(coldN / GROUP) + (3 * STORAGE_N) / GROUP) * GROUP) throw new Error('the big vault is too small for the cold samples');
    let bigNext = 0;
    /** The next group of cold names for vault v: unused names of the big vault; the 10 keys, reshuffled, of the small one. */
    const coldGroup = (v: number): string[] => {
      if (v === 1) {
        const g = order[1]!.slice(bigNext, bigNext + GROUP);
        bigNext += GROUP;
        return g;
      }
      return shuffle([...order[0]!]).slice(0, GROUP);
    };
    // JIT warm-up on both vaults (its names are not sampled again for the big vault).
    for (let g = 0; g < WARMUP_GROUPS; g++) {
      for (let v = 0; v < 2; v++) {
        const keys = new KeyManager(vaults[v]!.barrier);
        for (const n of coldGroup(v)) for (let r = 0; r < 20; r++) await getEncrypt(keys, n);
      }
    }
    const cold: number[][] = [[], []];
    for (let g = 0; g * GROUP < coldN; g++) {
      for (let j = 0; j < 2; j++) {
        const v = (g + j) % 2;
        const keys = new KeyManager(vaults[v]!.barrier);
        for (const n of coldGroup(v)) await timed(keys, n, cold[v]!);
      }
    }
    // Attribution of the cold cost to storage: first reads of unused records, three ways.
    //  barrier   BarrierView.get (SqliteBackend as configured in src + barrier decryption)
    //  sqlite    the same SELECT on a second, read-only better-sqlite3 connection (defaults)
    //  mmap      the same with PRAGMA mmap_size = 256 MiB (what-if for SqliteBackend)
    const views = vaults.map((x) => x.barrier.view('keys/'));
    const conns = [smallPath, bigPath].map((p) => [new Database(p, { readonly: true }), new Database(p, { readonly: true })] as const);
    for (const [, mm] of conns) mm.pragma('mmap_size = 268435456');
    const selects = conns.map(([plain, mm]) => [plain, mm].map((db) => db.prepare<[string], { value: Buffer }>('SELECT value FROM kv WHERE key = ?')));
    const storage = { barrier: [[], []] as number[][], sqlite: [[], []] as number[][], mmap: [[], []] as number[][] };
    try {
      for (let g = 0; g * GROUP < STORAGE_N; g++) {
        for (let j = 0; j < 2; j++) {
          const v = (g + j) % 2;
          const time = async (out: number[], read: (path: string) => unknown) => {
            for (const n of coldGroup(v)) {
              const path = views[v]!.indexPath('key', n);
              const t0 = process.hrtime.bigint();
              const r = read(path);
              if ((r instanceof Promise ? await r : r) === undefined) throw new Error('record missing');
              out.push(Number(process.hrtime.bigint() - t0) / 1000);
            }
          };
          await time(storage.barrier[v]!, (path) => views[v]!.get(path));
          await time(storage.sqlite[v]!, (path) => selects[v]![0]!.get(`${LOGICAL_PREFIX}keys/${path}`));
          await time(storage.mmap[v]!, (path) => selects[v]![1]!.get(`${LOGICAL_PREFIX}keys/${path}`));
        }
      }
    } finally {
      for (const pair of conns) for (const db of pair) db.close();
    }
    // Warm: one KeyManager per vault with every key cached, then random keys in alternating slices.
    const warmKeys = vaults.map((x) => new KeyManager(x.barrier));
    for (let v = 0; v < 2; v++) for (const n of order[v]!) await getEncrypt(warmKeys[v]!, n);
    const warm: number[][] = [[], []];
    const slices = Math.max(1, Math.round(warmMs / 20));
    for (let s = 0; s < slices; s++) {
      for (let j = 0; j < 2; j++) {
        const v = (s + j) % 2;
        const names = order[v]!;
        const end = process.hrtime.bigint() + 20_000_000n;
        while (process.hrtime.bigint() < end) await timed(warmKeys[v]!, names[Math.floor(Math.random() * names.length)]!, warm[v]!);
      }
    }
    const st = (v: number) => ({ barrier: lat(storage.barrier[v]!), sqlite: lat(storage.sqlite[v]!), mmap: lat(storage.mmap[v]!) });
    return {
      small: { count: smallCount, cold: lat(cold[0]!), warm: lat(warm[0]!), storage: st(0) },
      big: { count: bigCount, cold: lat(cold[1]!), warm: lat(warm[1]!), storage: st(1) },
    };
  } finally {
    for (const x of vaults) {
      x.barrier.seal();
      await x.backend.close();
    }
  }
}

// ---- orchestration (parent) ------------------------------------------------------

interface MemResult {
  count: number;
  dbMB: number;
  unsealed: { rssMB: number; heapMB: number; externalMB: number };
  warm: { rssMB: number; heapMB: number; externalMB: number };
  touchAllMs: number;
}

interface VaultLat {
  count: number;
  cold: Lat;
  warm: Lat;
  /** First reads of one record: through the barrier, plain SQLite, SQLite with mmap. */
  storage: { barrier: Lat; sqlite: Lat; mmap: Lat };
}

interface LatResult {
  small: VaultLat;
  big: VaultLat;
}

export interface ScaleResult {
  buildMs: [number, number];
  memory: [MemResult, MemResult];
  latency: LatResult;
  /** big / small, of the p50 and of the mean */
  ratios: { coldP50: number; warmP50: number; coldMean: number; warmMean: number };
}

async function child<T>(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, extraNode: string[] = []): Promise<T> {
  const c = startNode([...extraNode, '--import', 'tsx', SELF, ...args], env);
  const code = await waitExit(c, timeoutMs);
  const line = c.stdout().trim().split('\n').at(-1) ?? '';
  if (code !== 0) throw new Error(`keys-scale ${args[0]} failed (exit ${code}):\n${c.output()}`);
  return JSON.parse(line) as T;
}

export async function scaleBench(dir: string): Promise<ScaleResult> {
  const big = envInt('BENCH_SCALE_KEYS', 100_000);
  const small = 10;
  const env = { ...process.env, BENCH_ROOT_KEY: randomBytes(32).toString('hex') };
  const [smallDb, bigDb] = [join(dir, 'scale-10.db'), join(dir, `scale-${big}.db`)];
  const b1 = await child<{ buildMs: number }>(['build', smallDb, String(small)], env, 60_000);
  const b2 = await child<{ buildMs: number }>(['build', bigDb, String(big)], env, 180_000);
  const m1 = await child<MemResult>(['memory', smallDb, String(small)], env, 60_000, ['--expose-gc']);
  const m2 = await child<MemResult>(['memory', bigDb, String(big)], env, 180_000, ['--expose-gc']);
  const l = await child<LatResult>(['latency', smallDb, String(small), bigDb, String(big)], env, 180_000);
  const ratios = {
    coldP50: l.big.cold.p50Us / l.small.cold.p50Us,
    warmP50: l.big.warm.p50Us / l.small.warm.p50Us,
    coldMean: l.big.cold.meanUs / l.small.cold.meanUs,
    warmMean: l.big.warm.meanUs / l.small.warm.meanUs,
  };
  return { buildMs: [b1.buildMs, b2.buildMs], memory: [m1, m2], latency: l, ratios };
}

export function formatScale(r: ScaleResult): string {
  const { small, big } = r.latency;
  const row = (what: string, v: VaultLat, m: MemResult, mode: 'cold' | 'warm') => {
    const x = v[mode];
    return [`${fmt(v.count)} keys, ${what}`, fmt(x.n), fmt(x.meanUs, 1), fmt(x.p50Us, 1), fmt(x.p99Us, 1), fmt(mode === 'cold' ? m.unsealed.rssMB : m.warm.rssMB, 1), fmt(mode === 'cold' ? m.unsealed.heapMB : m.warm.heapMB, 1)];
  };
  const [m1, m2] = r.memory;
  return [
    `Scale: keys.get(name) + encrypt 128 B for a random existing key (latency: both vaults in one process, alternating; memory: one child process per vault, after gc)`,
    '',
    table(
      ['vault, state', 'samples', 'mean µs', 'p50 µs', 'p99 µs', 'RSS MB', 'JS heap MB'],
      [row('cold (first touch)', small, m1, 'cold'), row('cold (first touch)', big, m2, 'cold'), row('warm (all cached)', small, m1, 'warm'), row('warm (all cached)', big, m2, 'warm')],
    ),
    '',
    `${fmt(big.count)}/${fmt(small.count)} keys, p50 latency: cold ${fmt(r.ratios.coldP50, 2)}x, warm ${fmt(r.ratios.warmP50, 2)}x ` +
      `(target <= ${SCALE_TARGET}: cold ${pass(r.ratios.coldP50 <= SCALE_TARGET)}, warm ${pass(r.ratios.warmP50 <= SCALE_TARGET)}); ` +
      `mean latency: cold ${fmt(r.ratios.coldMean, 2)}x, warm ${fmt(r.ratios.warmMean, 2)}x (${pass(r.ratios.coldMean <= SCALE_TARGET)}, ${pass(r.ratios.warmMean <= SCALE_TARGET)})`,
    '',
    `Cold storage reads alone (first read of an unused record, p50 µs, ${fmt(small.storage.barrier.n)} / ${fmt(big.storage.barrier.n)} samples): ` +
      `BarrierView.get (SQLite + decrypt) ${fmt(small.storage.barrier.p50Us, 1)} vs ${fmt(big.storage.barrier.p50Us, 1)}; ` +
      `plain SELECT ${fmt(small.storage.sqlite.p50Us, 1)} vs ${fmt(big.storage.sqlite.p50Us, 1)}; ` +
      `SELECT with mmap_size=256 MiB (what-if) ${fmt(small.storage.mmap.p50Us, 1)} vs ${fmt(big.storage.mmap.p50Us, 1)} (10 keys vs ${fmt(big.count)} keys).`,
    `RSS column: cold rows = after unseal (one key touched), warm rows = after every key was touched (KeyStore caches them all). ` +
      `Database (file + WAL): ${fmt(m1.dbMB, 2)} MB and ${fmt(m2.dbMB, 1)} MB; touching every key took ${fmt(m1.touchAllMs, 0)} ms and ${fmt(m2.touchAllMs, 0)} ms; ` +
      `cache cost ≈ ${fmt(((m2.warm.rssMB - m2.unsealed.rssMB) * 1048576) / big.count, 0)} B RSS, ` +
      `${fmt(((m2.warm.heapMB + m2.warm.externalMB - m2.unsealed.heapMB - m2.unsealed.externalMB) * 1048576) / big.count, 0)} B JS heap + buffers per cached key. ` +
      `Building the vaults (not a figure): ${fmt(r.buildMs[0])} ms and ${fmt(r.buildMs[1])} ms.`,
  ].join('\n');
}

// ---- entry -------------------------------------------------------------------------

const mode = process.argv[2];
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (i: number) => process.argv[i] ?? '';
  const int = (i: number) => Number(arg(i));
  if (mode === 'build') console.log(JSON.stringify(await build(arg(3), int(4))));
  else if (mode === 'memory') console.log(JSON.stringify(await memory(arg(3), int(4))));
  else if (mode === 'latency') console.log(JSON.stringify(await latency(arg(3), int(4), arg(5), int(6))));
  else {
    const dir = mkdtempSync(join(tmpdir(), 'keyhold-bench-scale-'));
    installExitHook(() => rmSync(dir, { recursive: true, force: true }));
    console.log(formatScale(await scaleBench(dir)));
  }
}
