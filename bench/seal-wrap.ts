/**
 * Cost of seal wrapping on key creation and on the first read of a key,
 * under the pkcs11 seal (SoftHSM2), in one run.
 *
 * Under the pkcs11 seal the barrier encrypts every key record a second time
 * with the HSM (src/seal/seal-wrap.ts: Pkcs11Seal.wrap, i.e. a findKey of the
 * seal key plus CKM_AES_GCM through the Pkcs11Client, path as AAD) inside its
 * own AES-GCM. This bench builds two initialised vaults of the same kind
 * (buildKeyhold, seal.type pkcs11 on one SoftHSM2 token, SQLite file in a temp
 * directory, no audit file, in-process `app.api.inject` with the root token):
 *
 * - ON: as shipped (seal wrapping installed by buildKeyhold);
 * - OFF: the same, with `app.services.barrier.setSealWrapper(undefined, false)`
 *   called right after buildKeyhold and before POST /v1/sys/init (a bench-only
 *   switch, nothing in src/ changes). Switched off before init so that nothing
 *   in that vault is wrapped, the keyring included: switching it off later
 *   would leave wrapped records that nothing can read after the next unseal.
 *   The root key is still wrapped by the HSM (that is the seal, not seal
 *   wrapping) and the vault unseals the same way.
 *
 * Measured:
 * 1. Baseline, for scale: Pkcs11Client.aesGcmEncrypt / aesGcmDecrypt of a
 *    key-record-sized plaintext with the seal key, and the SealWrapper's
 *    wrap / unwrap (what the barrier calls per record: findKey + the GCM call).
 * 2. POST /v1/keys (aes256-gcm, a fresh name every time), ON vs OFF, with 1
 *    and BENCH_SW_CONC (16) requests in flight: the two vaults alternate in
 *    BENCH_SW_SLICE_MS (1000) slices for BENCH_SW_ROUNDS (7) rounds (order
 *    swapped every round); medians of the per-round rates and CPU per op, and
 *    the per-request latency quantiles pooled over the rounds. Every create
 *    is a durable SQLite commit (WAL, synchronous=FULL).
 *    Control: encrypt of 128 B with an existing key (cache hot), ON vs OFF.
 * 3. First read after seal/unseal (cache cold): BENCH_SW_COLD_KEYS (200)
 *    aes256-gcm keys in each vault; BENCH_SW_COLD_CYCLES (5) cycles, the two
 *    vaults alternating: POST /v1/sys/seal, unseal with 2 of 3 recovery shares
 *    (timed), one authenticated request that touches no key, then one
 *    encrypt (128 B) per key in turn, timed one by one (the first read: SQLite
 *    get, barrier decrypt, with wrapping one HSM decrypt, record decode), then
 *    a second pass over the same keys (cache hot) for comparison.
 *
 * CPU is the whole process (user+system, all threads): SoftHSM2 runs in it,
 * so it includes the token's cryptography on libuv's worker threads, and
 * SQLite's commits.
 *
 * Standalone: node --import tsx bench/seal-wrap.ts (no build needed; needs
 * SoftHSM2, scripts/test-deps.sh). About a minute and a half.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../src/config/load-config.js';
import { buildKeyhold, type KeyholdApp } from '../src/api/keyhold-app.js';
import { SEAL_WRAP_MAGIC } from '../src/barrier/barrier.js';
import { hsmSealWrapper } from '../src/seal/seal-wrap.js';
import { Pkcs11Seal } from '../src/seal/pkcs11/pkcs11-seal.js';
import { softHsmTokenOrThrow, type SoftHsmToken } from '../test/helpers/softhsm.js';
import { envInt, fmt, median, quantile, table } from './keys-lib.js';

const CONC = envInt('BENCH_SW_CONC', 16);
const SLICE_MS = envInt('BENCH_SW_SLICE_MS', 1000);
const ROUNDS = envInt('BENCH_SW_ROUNDS', 7);
const COLD_KEYS = envInt('BENCH_SW_COLD_KEYS', 200);
const COLD_CYCLES = envInt('BENCH_SW_COLD_CYCLES', 5);
const PIN_ENV = 'KEYHOLD_BENCH_HSM_PIN';
const KEY_LABEL = 'bench-seal-wrap-root';
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const cpuNow = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

// ---- vaults ----------------------------------------------------------------

interface Vault {
  name: 'ON' | 'OFF';
  app: KeyholdApp;
  root: string;
  shares: string[];
  call(url: string, payload?: object): Promise<Record<string, unknown>>;
}

function hsmConfig(db: string, token: SoftHsmToken) {
  return resolveConfig({
    storage: { path: db },
    log: { level: 'silent' },
    seal: { type: 'pkcs11', pkcs11: { module: token.module, tokenLabel: token.tokenLabel, pinEnv: PIN_ENV, keyLabel: KEY_LABEL, generateKey: true } },
  });
}

async function sealed(app: KeyholdApp): Promise<boolean> {
  return (await app.api.inject({ url: '/v1/sys/seal-status' })).json().sealed as boolean;
}

async function vault(name: 'ON' | 'OFF', token: SoftHsmToken, dir: string): Promise<Vault> {
  const app = await buildKeyhold(hsmConfig(join(dir, `${name}.db`), token), { logger: false });
  // Bench-only switch, before init: nothing in this vault is ever seal-wrapped.
  if (name === 'OFF') app.services.barrier.setSealWrapper(undefined, false);
  const init = await app.api.inject({ method: 'POST', url: '/v1/sys/init', payload: { shares: 3, threshold: 2 } });
  if (init.statusCode !== 200 || (await sealed(app))) throw new Error(`${name}: init / auto-unseal failed: ${init.body}`);
  if (app.services.barrier.sealWrapping !== (name === 'ON')) throw new Error(`${name}: barrier.sealWrapping is ${app.services.barrier.sealWrapping}`);
  const root = init.json().rootToken as string;
  const headers = { authorization: `Bearer ${root}` };
  const call = async (url: string, payload?: object): Promise<Record<string, unknown>> => {
    const res = await app.api.inject({ method: payload === undefined ? 'GET' : 'POST', url, headers, ...(payload ? { payload } : {}) });
    if (res.statusCode !== 200 && res.statusCode !== 204) throw new Error(`${name} ${url}: ${res.statusCode} ${res.body}`);
    return res.body === '' ? {} : res.json();
  };
  return { name, app, root, shares: init.json().shares as string[], call };
}

/** The stored (barrier-decrypted) value of a key's record, to check it is wrapped or not. */
async function storedRecord(v: Vault, keyName: string): Promise<Uint8Array> {
  const b = v.app.services.barrier;
  const value = await b.get(`keys/${b.indexPath('key', keyName)}`);
  if (value === undefined) throw new Error(`${v.name}: no record for ${keyName}`);
  return value;
}
const isWrapped = (value: Uint8Array) => SEAL_WRAP_MAGIC.every((x, i) => value[i] === x);

// ---- timing ----------------------------------------------------------------

interface Round {
  ops: number;
  cpuUs: number;
}

/** `conc` workers calling `op` back to back for `ms`; per-op latencies (ms) are appended to `lat`. */
async function slice(op: () => Promise<unknown>, ms: number, conc: number, lat: number[]): Promise<Round> {
  const cpu0 = cpuNow();
  const t0 = performance.now();
  const end = t0 + ms;
  let n = 0;
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        await op();
        lat.push(performance.now() - s);
        n++;
      }
    }),
  );
  const wall = performance.now() - t0;
  return { ops: n / (wall / 1000), cpuUs: (cpuNow() - cpu0) / n };
}

interface Result {
  ops: number;
  cpuUs: number;
  lat: number[];
  rounds: Round[];
}

/** The variants alternate (order rotated every round) after a short warm-up of each. */
async function compare(ops: (() => Promise<unknown>)[], conc: number, rounds = ROUNDS, ms = SLICE_MS): Promise<Result[]> {
  for (const op of ops) await slice(op, ms / 4, conc, []);
  const res = ops.map(() => ({ rounds: [] as Round[], lat: [] as number[] }));
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < ops.length; j++) {
      const i = (j + r) % ops.length;
      res[i]!.rounds.push(await slice(ops[i]!, ms, conc, res[i]!.lat));
    }
  }
  return res.map((x) => ({ ...x, ops: median(x.rounds.map((y) => y.ops)), cpuUs: median(x.rounds.map((y) => y.cpuUs)), lat: [...x.lat].sort((a, b) => a - b) }));
}

const ms = (x: number, d = 2) => fmt(x, d);
const q = (sorted: number[], p: number) => quantile(sorted, p);

// ---- main ------------------------------------------------------------------

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-bench-seal-wrap-'));
  const vaults: Vault[] = [];
  try {
    const token = softHsmTokenOrThrow();
    process.env[PIN_ENV] = token.pin;
    const t00 = performance.now();
    console.log(`## Seal wrapping cost (pkcs11 seal on SoftHSM2, Node ${process.version}, ${new Date().toISOString()}, load average ${loadavg()})`);
    console.log(`slices ${SLICE_MS} ms × ${ROUNDS} rounds per vault, ${CONC} in flight for the concurrent rows; cold reads: ${COLD_KEYS} keys × ${COLD_CYCLES} seal/unseal cycles per vault`);

    const on = await vault('ON', token, dir);
    vaults.push(on);
    const off = await vault('OFF', token, dir);
    vaults.push(off);

    // Sanity: a created key's record is wrapped in ON (even with the default sealWrap: false) and not in OFF.
    const plain = { plaintext: randomBytes(128).toString('base64') };
    for (const v of [on, off]) {
      await v.call('/v1/keys', { name: 'probe', type: 'aes256-gcm' });
      await v.call('/v1/keys', { name: 'hot', type: 'aes256-gcm' });
      const rec = await storedRecord(v, 'probe');
      if (isWrapped(rec) !== (v.name === 'ON')) throw new Error(`${v.name}: the key record is ${isWrapped(rec) ? '' : 'not '}seal-wrapped`);
    }
    const wrappedLen = (await storedRecord(on, 'probe')).length;
    const plainRecord = await storedRecord(off, 'probe');
    console.log(`\nkey record (aes256-gcm, one version): ${plainRecord.length} B plain; ${wrappedLen} B seal-wrapped (magic + HSM AES-GCM), then barrier AES-GCM in both vaults`);

    // ---- 1. baseline -------------------------------------------------------
    console.log(`\n### 1. The HSM call itself, ${plainRecord.length} B (a key record), 1 in flight (load average ${loadavg()})\n`);
    const hsm = on.app.services.hsm!;
    const client = await hsm.client();
    const sealKey = (await client.findKey(KEY_LABEL, 'secret'))!;
    const wrapper = hsmSealWrapper(new Pkcs11Seal(hsm, on.app.config.seal.pkcs11!));
    const path = 'keys/bench-path';
    const aad = new Uint8Array(Buffer.from(`keyhold-seal-wrap-v1\0${path}`));
    const sealedRec = await client.aesGcmEncrypt(sealKey, plainRecord, aad);
    const wrappedRec = await wrapper.wrap(path, plainRecord);
    const base = await compare(
      [
        () => client.aesGcmEncrypt(sealKey, plainRecord, aad),
        () => client.aesGcmDecrypt(sealKey, sealedRec.iv, sealedRec.ciphertext, aad),
        () => wrapper.wrap(path, plainRecord),
        () => wrapper.unwrap(path, wrappedRec),
      ],
      1,
      5,
      300,
    );
    const baseNames = [
      'Pkcs11Client.aesGcmEncrypt (seal key)',
      'Pkcs11Client.aesGcmDecrypt (seal key)',
      'SealWrapper.wrap (findKey + aesGcmEncrypt)',
      'SealWrapper.unwrap (findKey + aesGcmDecrypt)',
    ];
    console.log(
      table(
        ['call', 'ops/s', 'p50 µs', 'p99 µs', 'CPU µs/op'],
        base.map((r, i) => [baseNames[i]!, fmt(r.ops), fmt(q(r.lat, 0.5) * 1000), fmt(q(r.lat, 0.99) * 1000), fmt(r.cpuUs)]),
      ),
    );

    // ---- 2. creation ---------------------------------------------------------
    let seq = 0;
    const made = { ON: 0, OFF: 0 };
    const create = (v: Vault) => async () => {
      await v.call('/v1/keys', { name: `k-${seq++}`, type: 'aes256-gcm' });
      made[v.name]++;
    };
    const encryptHot = (v: Vault) => () => v.call('/v1/keys/hot/encrypt', plain);
    const createRows: string[][] = [];
    const ratios: string[] = [];
    for (const conc of [1, CONC]) {
      console.error(`creation, ${conc} in flight (load average ${loadavg()})`);
      const [a, b] = await compare([create(on), create(off)], conc);
      for (const [v, r] of [[on, a!], [off, b!]] as const)
        createRows.push([`POST /v1/keys, ${conc} in flight, wrapping ${v.name}`, fmt(r.ops), ms(q(r.lat, 0.5)), ms(q(r.lat, 0.99)), fmt(r.cpuUs), r.rounds.map((x) => fmt(x.ops)).join(' / ')]);
      ratios.push(
        `${conc} in flight: ON/OFF throughput ${(a!.ops / b!.ops).toFixed(2)}×, p50 ON − OFF ${ms(q(a!.lat, 0.5) - q(b!.lat, 0.5), 3)} ms, CPU ON − OFF ${fmt(a!.cpuUs - b!.cpuUs)} µs/op`,
      );
    }
    console.error(`hot encrypt (load average ${loadavg()})`);
    const [ha, hb] = await compare([encryptHot(on), encryptHot(off)], 1, 5, 300);
    for (const [v, r] of [[on, ha!], [off, hb!]] as const)
      createRows.push([`control: encrypt 128 B, key cached, wrapping ${v.name}`, fmt(r.ops), ms(q(r.lat, 0.5)), ms(q(r.lat, 0.99)), fmt(r.cpuUs), r.rounds.map((x) => fmt(x.ops)).join(' / ')]);
    console.log(`\n### 2. Key creation, aes256-gcm, fresh names (load average ${loadavg()})\n`);
    console.log(table(['request', 'ops/s (median)', 'p50 ms', 'p99 ms', 'CPU µs/op', 'ops/s by round'], createRows));
    console.log(`\n${ratios.join('; ')}; keys created: ON ${made.ON}, OFF ${made.OFF}`);

    // ---- 3. first read after seal/unseal ------------------------------------------
    for (const v of [on, off]) for (let i = 0; i < COLD_KEYS; i++) await v.call('/v1/keys', { name: `cold-${i}`, type: 'aes256-gcm' });
    const cold = new Map<string, { first: number[]; second: number[]; unseal: number[]; firstCpu: number[]; secondCpu: number[] }>();
    for (const v of [on, off]) cold.set(v.name, { first: [], second: [], unseal: [], firstCpu: [], secondCpu: [] });
    const cycle = async (v: Vault) => {
      const c = cold.get(v.name)!;
      await v.call('/v1/sys/seal', {});
      if (!(await sealed(v.app))) throw new Error(`${v.name}: not sealed`);
      const t0 = performance.now();
      for (const key of v.shares.slice(0, 2)) await v.app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key } });
      c.unseal.push(performance.now() - t0);
      if (await sealed(v.app)) throw new Error(`${v.name}: recovery-share unseal failed`);
      await v.call('/v1/sys/tools/random', { bytes: 16 }); // authenticate once: nothing key-related is loaded by it
      for (const pass of [c.first, c.second]) {
        const cpu0 = cpuNow();
        for (let i = 0; i < COLD_KEYS; i++) {
          const s = performance.now();
          await v.call(`/v1/keys/cold-${i}/encrypt`, plain);
          pass.push(performance.now() - s);
        }
        (pass === c.first ? c.firstCpu : c.secondCpu).push((cpuNow() - cpu0) / COLD_KEYS);
      }
    };
    console.error(`cold reads (load average ${loadavg()})`);
    for (let i = 0; i < COLD_CYCLES; i++) {
      if (i % 2 === 0) {
        await cycle(on);
        await cycle(off);
      } else {
        await cycle(off);
        await cycle(on);
      }
    }
    console.log(`\n### 3. First read of a key after seal + recovery unseal (${COLD_KEYS} keys × ${COLD_CYCLES} cycles per vault, load average ${loadavg()})\n`);
    const coldRows: string[][] = [];
    for (const v of [on, off]) {
      const c = cold.get(v.name)!;
      const f = [...c.first].sort((a, b) => a - b);
      const s = [...c.second].sort((a, b) => a - b);
      coldRows.push([`wrapping ${v.name}: first encrypt (cold)`, ms(q(f, 0.5), 3), ms(q(f, 0.9), 3), ms(q(f, 0.99), 3), fmt(median(c.firstCpu))]);
      coldRows.push([`wrapping ${v.name}: second encrypt (hot)`, ms(q(s, 0.5), 3), ms(q(s, 0.9), 3), ms(q(s, 0.99), 3), fmt(median(c.secondCpu))]);
      coldRows.push([`wrapping ${v.name}: unseal, 2 recovery shares`, ms(median(c.unseal), 3), ms(Math.max(...c.unseal), 3) + ' (max)', '', '']);
    }
    console.log(table(['what', 'p50 ms', 'p90 ms', 'p99 ms', 'CPU µs/op (median of cycles)'], coldRows));
    const p50 = (xs: number[]) => q([...xs].sort((a, b) => a - b), 0.5);
    const con = cold.get('ON')!;
    const coff = cold.get('OFF')!;
    console.log(
      `\nfirst read, cold − hot (p50): ON ${ms((p50(con.first) - p50(con.second)) * 1000, 0)} µs, OFF ${ms((p50(coff.first) - p50(coff.second)) * 1000, 0)} µs; ` +
        `cold ON − cold OFF: ${ms((p50(con.first) - p50(coff.first)) * 1000, 0)} µs (p50), CPU ON − OFF ${fmt(median(con.firstCpu) - median(coff.firstCpu))} µs/op; ` +
        `unseal ON − OFF: ${ms(median(con.unseal) - median(coff.unseal), 3)} ms`,
    );
    console.log(`\ntotal ${fmt((performance.now() - t00) / 1000, 1)} s, load average at the end ${loadavg()}`);
  } finally {
    for (const v of vaults) await v.app.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
