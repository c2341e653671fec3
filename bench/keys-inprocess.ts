/**
 * Key operations in-process, through the keys layer as the API calls it
 * (`await keys.get(name)` then the operation function, every iteration) vs
 * raw node:crypto doing the same cryptography:
 *
 *   encrypt aes256-gcm 128 B and 4 KiB  vs createCipheriv('aes-256-gcm', key, randomBytes(12)),
 *                                          output nonce || ciphertext || tag in one Buffer
 *   sign ed25519, 128 B message         vs crypto.sign(null, msg, privateKey)
 *   sign ecdsa-p256 (SHA-256, DER)      vs crypto.sign('sha256', msg, { key, dsaEncoding: 'der' })
 *   hmac hmac-sha256, 128 B             vs createHmac('sha256', key).update(msg).digest()
 *
 * Storage: KeyManager on SqliteBackend(':memory:') + Barrier, keyring created with
 * `backend.transaction([barrier.createKeyring(rootKey)])`. After the first call the
 * key is in KeyStore's cache, so no SQLite read happens in the measured loop.
 *
 * Each case is also run with the ManagedKey fetched once ("op only"), and
 * keys.get and Barrier.indexPath are timed alone, which splits the keys-layer
 * overhead between the lookup and the operation.
 *
 * Within a round the three variants of a case run in alternating 10 ms slices
 * (bench/keys-lib.ts interleaved()), so machine load hits them alike; the
 * median of the per-round ratios is reported. Env: BENCH_KEYS_MS (300) per variant per
 * round, BENCH_KEYS_ROUNDS (5).
 *
 * Standalone: node --import tsx bench/keys-inprocess.ts
 */
import { createCipheriv, createDecipheriv, createHmac, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Barrier } from '../src/barrier/barrier.js';
import { SqliteBackend } from '../src/storage/sqlite-backend.js';
import { KeyManager } from '../src/keys/key-manager.js';
import type { ManagedKey } from '../src/keys/managed-key.js';
import { decrypt, encrypt } from '../src/keys/operations/encrypt.js';
import { signMessage, verifyMessage } from '../src/keys/operations/sign.js';
import { computeHmac, verifyHmac } from '../src/keys/operations/hmac.js';
import { envInt, fmt, interleaved, median, pass, table, type Rate } from './keys-lib.js';

export const IN_PROCESS_TARGET = 0.8;

export interface CaseResult {
  name: string;
  keys: Rate; // keys.get + operation (medians of ops and cpuUs over rounds)
  opOnly: Rate; // operation on a ManagedKey fetched once
  raw: Rate;
  ratio: number; // median over rounds of keys.ops / raw.ops
  ratios: number[];
}

export interface InProcessResult {
  cases: CaseResult[];
  getOnly: Rate;
  indexPathOnly: Rate;
  ms: number;
  rounds: number;
}

interface Case {
  name: string;
  keys: () => Promise<unknown>;
  opOnly: () => unknown;
  raw: () => unknown;
}

function medianRate(rs: Rate[]): Rate {
  return { ops: median(rs.map((r) => r.ops)), cpuUs: median(rs.map((r) => r.cpuUs)), n: rs.reduce((n, r) => n + r.n, 0) };
}

export async function inProcessBench(opts: { ms?: number; rounds?: number } = {}): Promise<InProcessResult> {
  const ms = opts.ms ?? envInt('BENCH_KEYS_MS', 300);
  const rounds = opts.rounds ?? envInt('BENCH_KEYS_ROUNDS', 5);
  const backend = new SqliteBackend({ path: ':memory:' });
  const barrier = new Barrier(backend);
  try {
    await backend.transaction([barrier.createKeyring(randomBytes(32))]);
    const keys = new KeyManager(barrier);
    await keys.create({ name: 'aes', type: 'aes256-gcm' });
    await keys.create({ name: 'ed', type: 'ed25519' });
    await keys.create({ name: 'p256', type: 'ecdsa-p256' });
    await keys.create({ name: 'mac', type: 'hmac-sha256' });

    const small = new Uint8Array(randomBytes(128));
    const large = new Uint8Array(randomBytes(4096));
    const msg = new Uint8Array(randomBytes(128));

    // Raw baselines: same algorithms, keys held as the caller of node:crypto would hold them.
    const aesKey = randomBytes(32);
    const rawAes = (pt: Uint8Array) => {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', aesKey, iv);
      const ct = c.update(pt);
      const fin = c.final();
      return Buffer.concat([iv, ct, fin, c.getAuthTag()]);
    };
    const ed = generateKeyPairSync('ed25519');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const macKey = randomBytes(32);

    // Correctness, once: keys-layer outputs verify, raw outputs verify.
    const aes = await keys.get('aes');
    const c1 = encrypt(aes, { plaintext: small });
    if (Buffer.compare(decrypt(aes, { ciphertext: c1.ciphertext }).plaintext, small) !== 0) throw new Error('keys encrypt/decrypt mismatch');
    const r1 = rawAes(small);
    const d = createDecipheriv('aes-256-gcm', aesKey, r1.subarray(0, 12));
    d.setAuthTag(r1.subarray(r1.length - 16));
    if (Buffer.compare(Buffer.concat([d.update(r1.subarray(12, r1.length - 16)), d.final()]), small) !== 0) throw new Error('raw AES round trip');
    for (const name of ['ed', 'p256']) {
      const k = await keys.get(name);
      if (!verifyMessage(k, msg, signMessage(k, msg, {}).signature, {}).valid) throw new Error(`${name} signature does not verify`);
    }
    if (!verify(null, msg, ed.publicKey, sign(null, msg, ed.privateKey))) throw new Error('raw ed25519');
    if (!verify('sha256', msg, ec.publicKey, sign('sha256', msg, { key: ec.privateKey, dsaEncoding: 'der' }))) throw new Error('raw ecdsa');
    const mk = await keys.get('mac');
    if (!verifyHmac(mk, msg, computeHmac(mk, msg).hmac).valid) throw new Error('hmac does not verify');

    const held = async (name: string): Promise<ManagedKey> => keys.get(name);
    const [kAes, kEd, kP256, kMac] = [await held('aes'), await held('ed'), await held('p256'), await held('mac')];
    const ecPriv: KeyObject = ec.privateKey;
    const cases: Case[] = [
      {
        name: 'encrypt aes256-gcm 128 B',
        keys: async () => encrypt(await keys.get('aes'), { plaintext: small }),
        opOnly: () => encrypt(kAes, { plaintext: small }),
        raw: () => rawAes(small),
      },
      {
        name: 'encrypt aes256-gcm 4 KiB',
        keys: async () => encrypt(await keys.get('aes'), { plaintext: large }),
        opOnly: () => encrypt(kAes, { plaintext: large }),
        raw: () => rawAes(large),
      },
      {
        name: 'sign ed25519 (128 B msg)',
        keys: async () => signMessage(await keys.get('ed'), msg, {}),
        opOnly: () => signMessage(kEd, msg, {}),
        raw: () => sign(null, msg, ed.privateKey),
      },
      {
        name: 'sign ecdsa-p256 SHA-256 DER (128 B msg)',
        keys: async () => signMessage(await keys.get('p256'), msg, {}),
        opOnly: () => signMessage(kP256, msg, {}),
        raw: () => sign('sha256', msg, { key: ecPriv, dsaEncoding: 'der' }),
      },
      {
        name: 'hmac hmac-sha256 (128 B msg)',
        keys: async () => computeHmac(await keys.get('mac'), msg),
        opOnly: () => computeHmac(kMac, msg),
        raw: () => createHmac('sha256', macKey).update(msg).digest(),
      },
    ];

    // Warm-up (JIT): every variant once, short.
    for (const c of cases) await interleaved([c.keys, c.opOnly, c.raw], Math.min(ms, 150));
    const getOnlyFn = () => keys.get('aes');
    const indexFn = () => barrier.indexPath('key', 'aes');
    await interleaved([getOnlyFn, indexFn], 100);

    const acc = cases.map(() => ({ keys: [] as Rate[], opOnly: [] as Rate[], raw: [] as Rate[], ratios: [] as number[] }));
    const getOnly: Rate[] = [];
    const indexOnly: Rate[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const [i, c] of cases.entries()) {
        const a = acc[i]!;
        const [k, op, raw] = await interleaved([c.keys, c.opOnly, c.raw], ms);
        a.keys.push(k!);
        a.opOnly.push(op!);
        a.raw.push(raw!);
        a.ratios.push(k!.ops / raw!.ops);
      }
      const [g, ix] = await interleaved([getOnlyFn, indexFn], Math.ceil(ms / 2));
      getOnly.push(g!);
      indexOnly.push(ix!);
    }
    return {
      cases: cases.map((c, i) => ({
        name: c.name,
        keys: medianRate(acc[i]!.keys),
        opOnly: medianRate(acc[i]!.opOnly),
        raw: medianRate(acc[i]!.raw),
        ratio: median(acc[i]!.ratios),
        ratios: acc[i]!.ratios,
      })),
      getOnly: medianRate(getOnly),
      indexPathOnly: medianRate(indexOnly),
      ms,
      rounds,
    };
  } finally {
    barrier.seal();
    await backend.close();
  }
}

export function formatInProcess(r: InProcessResult): string {
  const us = (x: Rate) => 1e6 / x.ops;
  const rows = r.cases.map((c) => [
    c.name,
    fmt(c.keys.ops),
    fmt(c.opOnly.ops),
    fmt(c.raw.ops),
    fmt(us(c.keys), 2),
    fmt(us(c.raw), 2),
    fmt(us(c.keys) - us(c.raw), 2),
    `${fmt(c.ratio, 2)} (${c.ratios.map((x) => fmt(x, 2)).join(' ')})`,
    fmt(c.raw.cpuUs / c.keys.cpuUs, 2),
    pass(c.ratio >= IN_PROCESS_TARGET),
  ]);
  const out = [
    `In-process key operations (median of ${r.rounds} rounds x ${r.ms} ms per variant, variants interleaved in 10 ms slices; target keys/raw >= ${IN_PROCESS_TARGET})`,
    '',
    table(['operation', 'keys ops/s', 'op-only ops/s', 'raw ops/s', 'keys µs/op', 'raw µs/op', 'overhead µs', 'keys/raw ops/s (rounds)', 'by CPU time', 'target'], rows),
    '',
    `keys.get('aes') alone (cached key): ${fmt(r.getOnly.ops)} ops/s = ${fmt(1e6 / r.getOnly.ops, 2)} µs; ` +
      `of which Barrier.indexPath (HMAC-SHA-256 of the name, hex): ${fmt(1e6 / r.indexPathOnly.ops, 2)} µs`,
  ];
  return out.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(formatInProcess(await inProcessBench()));
}
