/**
 * Where the keys layer's overhead goes, and what candidate src/ changes would
 * buy. Diagnostic, not a Keyhold figure: the "what-if" rows EMULATE proposed
 * changes here in bench/ (src/ is untouched), reusing src's own pieces:
 *
 *   name cache     KeyManager.get without Barrier.indexPath (an HMAC-SHA-256
 *                  and hex encoding per call): keys cached by name, with the same
 *                  name check and housekeeping tests, still async.
 *   sync lookup    the same, as a synchronous function (no promise per call).
 *   pooled nonce   AES-GCM nonces cut from a 4 KiB randomFillSync pool instead of
 *                  one randomBytes(12) call per encryption (same aesGcm.seal,
 *                  same output format).
 *
 * Plus single components timed alone. Everything in-process, CPU µs per op
 * (process.cpuUsage), functions interleaved in 10 ms slices; medians of
 * BENCH_BREAKDOWN_ROUNDS (3) rounds of BENCH_BREAKDOWN_MS (200) ms.
 *
 * Standalone: node --import tsx bench/keys-breakdown.ts
 */
import { createCipheriv, createHmac, generateKeyPairSync, randomBytes, randomFillSync, sign } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Barrier } from '../src/barrier/barrier.js';
import { SqliteBackend } from '../src/storage/sqlite-backend.js';
import { KeyManager } from '../src/keys/key-manager.js';
import type { ManagedKey } from '../src/keys/managed-key.js';
import { checkKeyName } from '../src/keys/key-name.js';
import { encrypt } from '../src/keys/operations/encrypt.js';
import { computeHmac } from '../src/keys/operations/hmac.js';
import { signMessage } from '../src/keys/operations/sign.js';
import { encodeVersioned } from '../src/keys/ciphertext.js';
import { aesGcm } from '../src/crypto/aead/node-aead.js';
import { concatBytes, fromBase64Strict } from '../src/crypto/bytes.js';
import { RootTokens } from '../src/auth/root-token.js';
import { decodeKeyRecord, encodeKeyRecord, KeyRecordSchema } from '../src/keys/key-record.js';
import { Value } from '@sinclair/typebox/value';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { envInt, fmt, interleaved, median, table, type Rate } from './keys-lib.js';

export interface BreakdownRow {
  name: string;
  cpuUs: number;
  wallUs: number;
}

export interface BreakdownResult {
  /** `raw`: index of the raw node:crypto row the others are compared with. */
  groups: { title: string; rows: BreakdownRow[]; raw?: number }[];
  rounds: number;
  ms: number;
}

/** Runs a group of functions interleaved, `rounds` times; median CPU and wall µs per op. */
async function group(fns: [string, () => unknown][], ms: number, rounds: number): Promise<BreakdownRow[]> {
  await interleaved(fns.map(([, f]) => f), Math.min(ms, 150)); // JIT warm-up
  const runs: Rate[][] = [];
  for (let r = 0; r < rounds; r++) runs.push(await interleaved(fns.map(([, f]) => f), ms));
  return fns.map(([name], i) => ({
    name,
    cpuUs: median(runs.map((x) => x[i]!.cpuUs)),
    wallUs: median(runs.map((x) => 1e6 / x[i]!.ops)),
  }));
}

export async function breakdownBench(): Promise<BreakdownResult> {
  const ms = envInt('BENCH_BREAKDOWN_MS', 200);
  const rounds = envInt('BENCH_BREAKDOWN_ROUNDS', 3);
  const backend = new SqliteBackend({ path: ':memory:' });
  const barrier = new Barrier(backend);
  try {
    await backend.transaction([barrier.createKeyring(randomBytes(32))]);
    const keys = new KeyManager(barrier);
    await keys.create({ name: 'aes', type: 'aes256-gcm' });
    await keys.create({ name: 'mac', type: 'hmac-sha256' });
    await keys.create({ name: 'ed', type: 'ed25519' });
    const tokens = new RootTokens(barrier);
    const token = await tokens.create();
    if (!(await tokens.verify(token))) throw new Error('token does not verify');

    // Emulated name-keyed cache (what KeyStore could hold), same checks as KeyManager.get.
    const byName = new Map<string, ManagedKey>([
      ['aes', await keys.get('aes')],
      ['mac', await keys.get('mac')],
      ['ed', await keys.get('ed')],
    ]);
    const lookupSync = (name: string): ManagedKey => {
      checkKeyName(name);
      const key = byName.get(name);
      if (key === undefined) throw new Error('not cached');
      const r = key.record;
      if (r.state === 'pending-deletion' || r.autoRotatePeriodSeconds > 0) throw new Error('housekeeping path not emulated');
      return key;
    };
    const lookupAsync = async (name: string): Promise<ManagedKey> => lookupSync(name);

    // Emulated pooled nonces for aeadEncrypt.
    const pool = Buffer.alloc(4096);
    let off = pool.length;
    const pooledNonce = (): Uint8Array => {
      if (off + 12 > pool.length) {
        randomFillSync(pool);
        off = 0;
      }
      const n = new Uint8Array(pool.subarray(off, off + 12));
      off += 12;
      return n;
    };
    const EMPTY = new Uint8Array(0);
    const encryptPooled = (key: ManagedKey, plaintext: Uint8Array) => {
      key.checkUsable();
      const version = key.encryptionVersion();
      const nonce = pooledNonce();
      const sealed = aesGcm.seal(key.handles(version).secret!, nonce, plaintext, EMPTY);
      return { ciphertext: encodeVersioned(version, concatBytes(nonce, sealed)), version };
    };

    const pt = new Uint8Array(randomBytes(128));
    const rawKey = randomBytes(32);
    const raw = (nonce: Uint8Array) => {
      const c = createCipheriv('aes-256-gcm', rawKey, nonce);
      const ct = c.update(pt);
      const fin = c.final();
      return Buffer.concat([nonce, ct, fin, c.getAuthTag()]);
    };
    const b64 = Buffer.from(pt).toString('base64');
    const macKey = randomBytes(32);
    const record = (await keys.get('aes')).record;
    const recordBytes = encodeKeyRecord(record);
    const compiled = TypeCompiler.Compile(KeyRecordSchema);
    const ed = generateKeyPairSync('ed25519');

    const groups: BreakdownResult['groups'] = [];
    groups.push({
      title: 'encrypt aes256-gcm 128 B: current keys layer, emulated changes, raw',
      rows: await group(
        [
          ['current: await keys.get + encrypt', async () => encrypt(await keys.get('aes'), { plaintext: pt })],
          ['what-if name cache (async) + encrypt', async () => encrypt(await lookupAsync('aes'), { plaintext: pt })],
          ['what-if sync lookup + encrypt', () => encrypt(lookupSync('aes'), { plaintext: pt })],
          ['what-if sync lookup + encrypt, pooled nonce', () => encryptPooled(lookupSync('aes'), pt)],
          ['raw node:crypto, randomBytes(12) nonce', () => raw(randomBytes(12))],
          ['raw node:crypto, pooled nonce', () => raw(pooledNonce())],
        ],
        ms,
        rounds,
      ),
      raw: 4,
    });
    groups.push({
      title: 'hmac-sha256 128 B: current keys layer, emulated changes, raw',
      rows: await group(
        [
          ['current: await keys.get + computeHmac', async () => computeHmac(await keys.get('mac'), pt)],
          ['what-if name cache (async) + computeHmac', async () => computeHmac(await lookupAsync('mac'), pt)],
          ['what-if sync lookup + computeHmac', () => computeHmac(lookupSync('mac'), pt)],
          ['computeHmac alone (key held)', () => computeHmac(byName.get('mac')!, pt)],
          ['raw createHmac', () => createHmac('sha256', macKey).update(pt).digest()],
        ],
        ms,
        rounds,
      ),
      raw: 4,
    });
    groups.push({
      title: 'sign ed25519 128 B: current keys layer, emulated change, raw',
      rows: await group(
        [
          ['current: await keys.get + signMessage', async () => signMessage(await keys.get('ed'), pt, {})],
          ['what-if name cache (async) + signMessage', async () => signMessage(await lookupAsync('ed'), pt, {})],
          ['raw crypto.sign', () => sign(null, pt, ed.privateKey)],
        ],
        ms,
        rounds,
      ),
      raw: 2,
    });
    groups.push({
      title: 'components (per call)',
      rows: await group(
        [
          ['randomBytes(12) (one nonce)', () => randomBytes(12)],
          ['pooled 12-byte nonce', pooledNonce],
          ["Barrier.indexPath('key', name): HMAC-SHA-256 + hex", () => barrier.indexPath('key', 'aes')],
          ["keys.get('aes'), cached", () => keys.get('aes')],
          ['RootTokens.verify(token), cached (per request)', () => tokens.verify(token)],
          ['fromBase64Strict, 128 B as 172 chars (regex + decode)', () => fromBase64Strict(b64)],
          ["Buffer.from(s, 'base64') alone", () => Buffer.from(b64, 'base64')],
          ['decodeKeyRecord (cold path: JSON.parse + Value.Check)', () => decodeKeyRecord(recordBytes)],
          ['Value.Check(KeyRecordSchema) alone', () => Value.Check(KeyRecordSchema, record)],
          ['TypeCompiler-compiled check alone', () => compiled.Check(record)],
        ],
        ms,
        rounds,
      ),
    });
    return { groups, rounds, ms };
  } finally {
    barrier.seal();
    await backend.close();
  }
}

export function formatBreakdown(r: BreakdownResult): string {
  const out = [`Keys-layer breakdown (diagnostic; what-if rows emulate src changes in bench/; medians of ${r.rounds} rounds x ${r.ms} ms, interleaved)`];
  for (const g of r.groups) {
    const raw = g.raw === undefined ? undefined : g.rows[g.raw]!;
    const head = ['variant', 'CPU µs/op', 'wall µs/op', 'CPU vs first row', ...(raw ? ['raw ops/s ÷ this (keys/raw ratio)'] : [])];
    const rows = g.rows.map((x) => [x.name, fmt(x.cpuUs, 2), fmt(x.wallUs, 2), fmt(x.cpuUs / g.rows[0]!.cpuUs, 2), ...(raw ? [fmt(raw.wallUs / x.wallUs, 2)] : [])]);
    out.push('', g.title, '', table(head, rows));
  }
  return out.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(formatBreakdown(await breakdownBench()));
}
