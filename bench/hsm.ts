/**
 * HSM-backed keys and the pkcs11 seal against SoftHSM2, in one run.
 *
 * 1. Operations, 128-byte message / plaintext:
 *    - sign with an hsm-ecdsa-p256 key and encrypt with an hsm-aes256-gcm key
 *      through Keyhold's HTTP API in-process (`app.api.inject`, POST
 *      /v1/keys/<name>/sign|encrypt with a root token; a vault built with
 *      buildKeyhold, seal.type pkcs11, SQLite file, no audit file);
 *    - the same operation called directly: Pkcs11Client.sign /
 *      aesGcmEncrypt (the client Keyhold uses: session pool, *Async calls on
 *      libuv's worker pool) on keys generated the same way, and raw pkcs11js
 *      (C_SignInit + C_Sign over a node SHA-256 digest, C_EncryptInit +
 *      C_Encrypt with CKM_AES_GCM, synchronous, one session held);
 *    - for reference, the software ecdsa-p256 / aes256-gcm keys through the
 *      same HTTP path;
 *    - diagnostic: a bare Fastify app (no Keyhold hooks, no keys layer) whose
 *      POST route base64-decodes the same body, calls the same Pkcs11Client
 *      method and answers base64, also through inject: what any Node HTTP
 *      front of the client costs, so Keyhold's own share can be told apart.
 *    Sequentially (one operation in flight) and with BENCH_HSM_CONC (16) in
 *    flight (not for raw pkcs11js, which is synchronous). Variants alternate
 *    in BENCH_HSM_SLICE_MS (200) slices for BENCH_HSM_ROUNDS (5) rounds;
 *    medians of the per-round rates. CPU is the whole process (SoftHSM2 runs
 *    in it, so it includes the token's cryptography).
 * 2. Unseal: an initialised vault built BENCH_HSM_UNSEALS (10) times per
 *    seal, the two seals alternating after one untimed build of each:
 *    - pkcs11 seal: buildKeyhold() resolves after the first automatic
 *      unseal attempt (the HSM connection opens, logs in and unwraps the root
 *      key); timed, with `api.ready()` (Fastify compiles routes and schemas
 *      there, about 200 ms, which the first request would otherwise pay), to
 *      an unsealed vault ready to serve. The module stays loaded in this
 *      process (it is never dlclose()d), so these builds pay C_Initialize,
 *      C_Login and the unwrap but not the dlopen a fresh process pays; that
 *      is measured apart, in a child process (`--cold-open`: the first
 *      Pkcs11Client.open of a process). Beside them, the pieces:
 *      Pkcs11Client.open (C_Initialize, find token, C_Login, one session) +
 *      close, and one CKM_AES_GCM unwrap of 32 bytes.
 *    - Shamir (5 shares, threshold 3): buildKeyhold() + `api.ready()` (sealed)
 *      and the three POST /v1/sys/unseal calls.
 *
 * Needs SoftHSM2 (scripts/test-deps.sh) and a KeyManager built with the HSM
 * connection in src/api/keyhold-app.ts (`new KeyManager(barrier, { hsm })`);
 * without it the bench stops at the first hsm-* key with that message.
 *
 * Standalone: node --import tsx bench/hsm.ts (no build needed).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import pkcs11js, { type GcmParams } from 'pkcs11js';
import { resolveConfig } from '../src/config/load-config.js';
import { buildKeyhold, type KeyholdApp } from '../src/api/keyhold-app.js';
import { Pkcs11Client, type Pkcs11Key } from '../src/seal/pkcs11/pkcs11-client.js';
import { softHsmTokenOrThrow, type SoftHsmToken } from '../test/helpers/softhsm.js';
import { envInt, fmt, median, startNode, table, waitExit } from './keys-lib.js';

const P = pkcs11js;
const CONC = envInt('BENCH_HSM_CONC', 16);
const SLICE_MS = envInt('BENCH_HSM_SLICE_MS', 200);
const ROUNDS = envInt('BENCH_HSM_ROUNDS', 5);
const UNSEALS = envInt('BENCH_HSM_UNSEALS', 10);
const PIN_ENV = 'KEYHOLD_BENCH_HSM_PIN';
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// ---- timing ----------------------------------------------------------------

interface Variant {
  name: string;
  /** Runs operations for `ms` with `conc` in flight; returns how many completed. */
  run(ms: number, conc: number): Promise<number>;
}

/** `conc` workers, each awaiting `op` back to back until the deadline. */
function loop(op: () => Promise<unknown>): Variant['run'] {
  return async (ms, conc) => {
    const end = performance.now() + ms;
    let n = 0;
    await Promise.all(
      Array.from({ length: conc }, async () => {
        while (performance.now() < end) {
          await op();
          n++;
        }
      }),
    );
    return n;
  };
}

interface Rate {
  ops: number;
  cpuUs: number;
}

/** Alternates the variants in slices for ROUNDS rounds; the median per-round rate of each. */
async function compare(variants: Variant[], conc: number): Promise<Rate[]> {
  for (const v of variants) await v.run(SLICE_MS / 2, conc); // warm-up
  const rounds: Rate[][] = variants.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < variants.length; j++) {
      const i = (j + r) % variants.length;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const n = await variants[i]!.run(SLICE_MS, conc);
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      rounds[i]!.push({ ops: n / (ms / 1000), cpuUs: (cpu.user + cpu.system) / n });
    }
  }
  return rounds.map((rs) => ({ ops: median(rs.map((x) => x.ops)), cpuUs: median(rs.map((x) => x.cpuUs)) }));
}

// ---- vaults ----------------------------------------------------------------

function hsmConfig(db: string, token: SoftHsmToken) {
  return resolveConfig({
    storage: { path: db },
    log: { level: 'silent' },
    seal: { type: 'pkcs11', pkcs11: { module: token.module, tokenLabel: token.tokenLabel, pinEnv: PIN_ENV, keyLabel: 'bench-root', generateKey: true } },
  });
}

async function sealed(app: KeyholdApp): Promise<boolean> {
  return (await app.api.inject({ url: '/v1/sys/seal-status' })).json().sealed as boolean;
}

function caller(app: KeyholdApp, root: string) {
  const headers = { authorization: `Bearer ${root}` };
  return async (url: string, payload?: object): Promise<Record<string, unknown>> => {
    const res = await app.api.inject({ method: payload === undefined ? 'GET' : 'POST', url, headers, ...(payload ? { payload } : {}) });
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return res.json();
  };
}

// ---- 1. operations ----------------------------------------------------------

async function operations(token: SoftHsmToken, dir: string): Promise<void> {
  const app = await buildKeyhold(hsmConfig(join(dir, 'ops.db'), token), { logger: false });
  try {
    const init = await app.api.inject({ method: 'POST', url: '/v1/sys/init', payload: { shares: 1, threshold: 1 } });
    if (init.statusCode !== 200 || (await sealed(app))) throw new Error(`init / auto-unseal failed: ${init.body}`);
    const call = caller(app, init.json().rootToken as string);
    const made = await app.api.inject({ method: 'POST', url: '/v1/keys', headers: { authorization: `Bearer ${init.json().rootToken}` }, payload: { name: 'sig', type: 'hsm-ecdsa-p256' } });
    if (made.statusCode !== 200) {
      throw new Error(`creating an hsm-ecdsa-p256 key failed (${made.body}); the bench needs src/api/keyhold-app.ts to build the KeyManager with the HSM: new KeyManager(barrier, { hsm })`);
    }
    await call('/v1/keys', { name: 'enc', type: 'hsm-aes256-gcm' });
    await call('/v1/keys', { name: 'sw-sig', type: 'ecdsa-p256' });
    await call('/v1/keys', { name: 'sw-enc', type: 'aes256-gcm' });

    const client = await app.services.hsm!.client();
    const pair = await client.generateEcKeyPair(`bench-direct-ec-${randomBytes(4).toString('hex')}`, 'P-256');
    const aes = await client.generateAesKey(`bench-direct-aes-${randomBytes(4).toString('hex')}`, { bits: 256 });
    const data = new Uint8Array(randomBytes(128));
    const body = { input: Buffer.from(data).toString('base64') };
    const plain = { plaintext: Buffer.from(data).toString('base64') };

    // Diagnostic: the same client calls behind a bare Fastify route.
    const bare = Fastify();
    bare.post<{ Body: { input: string } }>('/sign', async (req) => ({
      signature: Buffer.from(await client.sign(pair.privateKey, 'ECDSA-SHA256', new Uint8Array(Buffer.from(req.body.input, 'base64')))).toString('base64'),
    }));
    bare.post<{ Body: { plaintext: string } }>('/encrypt', async (req) => {
      const { iv, ciphertext } = await client.aesGcmEncrypt(aes, new Uint8Array(Buffer.from(req.body.plaintext, 'base64')));
      return { ciphertext: Buffer.concat([iv, ciphertext]).toString('base64') };
    });
    await bare.ready();
    const bareCall = async (url: string, payload: object) => {
      const res = await bare.inject({ method: 'POST', url, payload });
      if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    };

    const raw = (key: Pkcs11Key, op: (api: pkcs11js.PKCS11, session: Buffer, handle: Buffer) => void): Variant['run'] => (ms) =>
      client.withSession(({ api, handle: session }) => {
        api.C_FindObjectsInit(session, [
          { type: P.CKA_CLASS, value: key.keyClass === 'secret' ? P.CKO_SECRET_KEY : P.CKO_PRIVATE_KEY },
          { type: P.CKA_LABEL, value: key.label },
        ]);
        const [handle] = api.C_FindObjects(session, 1);
        api.C_FindObjectsFinal(session);
        const end = performance.now() + ms;
        let n = 0;
        while (performance.now() < end) {
          op(api, session, handle!);
          n++;
        }
        return n;
      });
    const rawSign = raw(pair.privateKey, (api, session, handle) => {
      api.C_SignInit(session, { mechanism: P.CKM_ECDSA }, handle);
      api.C_Sign(session, createHash('sha256').update(data).digest(), Buffer.alloc(64));
    });
    const rawEncrypt = raw(aes, (api, session, handle) => {
      const gcm: GcmParams = { type: P.CK_PARAMS_AES_GCM_v240, iv: randomBytes(12), ivBits: 96, aad: Buffer.alloc(1).subarray(0, 0), tagBits: 128 };
      api.C_EncryptInit(session, { mechanism: P.CKM_AES_GCM, parameter: gcm }, handle);
      api.C_Encrypt(session, Buffer.from(data), Buffer.alloc(data.length + 16));
    });

    const sign: Variant[] = [
      { name: 'Keyhold HTTP (inject), hsm-ecdsa-p256', run: loop(() => call('/v1/keys/sig/sign', body)) },
      { name: 'Pkcs11Client.sign (ECDSA-SHA256)', run: loop(() => client.sign(pair.privateKey, 'ECDSA-SHA256', data)) },
      { name: 'raw pkcs11js C_SignInit+C_Sign (sync)', run: rawSign },
      { name: 'Keyhold HTTP (inject), software ecdsa-p256', run: loop(() => call('/v1/keys/sw-sig/sign', body)) },
      { name: 'bare Fastify (inject) + Pkcs11Client.sign', run: loop(() => bareCall('/sign', body)) },
    ];
    const encrypt: Variant[] = [
      { name: 'Keyhold HTTP (inject), hsm-aes256-gcm', run: loop(() => call('/v1/keys/enc/encrypt', plain)) },
      { name: 'Pkcs11Client.aesGcmEncrypt', run: loop(() => client.aesGcmEncrypt(aes, data)) },
      { name: 'raw pkcs11js C_EncryptInit+C_Encrypt (sync)', run: rawEncrypt },
      { name: 'Keyhold HTTP (inject), software aes256-gcm', run: loop(() => call('/v1/keys/sw-enc/encrypt', plain)) },
      { name: 'bare Fastify (inject) + Pkcs11Client.aesGcmEncrypt', run: loop(() => bareCall('/encrypt', plain)) },
    ];

    for (const [title, variants] of [['Sign, 128 B message', sign], ['Encrypt, 128 B plaintext', encrypt]] as const) {
      console.log(`\n### ${title} (load average ${loadavg()})\n`);
      const seq = await compare(variants, 1);
      const conc = await compare(variants.filter((v) => !v.name.startsWith('raw')), CONC);
      const concOf = (name: string) => conc[variants.filter((v) => !v.name.startsWith('raw')).findIndex((v) => v.name === name)];
      const rows = variants.map((v, i) => {
        const c = concOf(v.name);
        return [v.name, fmt(seq[i]!.ops), fmt(1e6 / seq[i]!.ops), fmt(seq[i]!.cpuUs), c ? fmt(c.ops) : '—', c ? fmt(c.cpuUs) : '—'];
      });
      console.log(table(['path', 'ops/s, 1 in flight', 'µs/op', 'CPU µs/op', `ops/s, ${CONC} in flight`, `CPU µs/op, ${CONC}`], rows));
      const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
      console.log(
        `\nKeyhold HTTP / Pkcs11Client: ${ratio(seq[0]!.ops, seq[1]!.ops)} sequential, ${ratio(conc[0]!.ops, conc[1]!.ops)} with ${CONC} in flight; ` +
          `Keyhold HTTP / raw pkcs11js (sequential): ${ratio(seq[0]!.ops, seq[2]!.ops)}; HSM key / software key over HTTP: ${ratio(seq[0]!.ops, seq[3]!.ops)} sequential, ${ratio(conc[0]!.ops, conc[2]!.ops)} with ${CONC} in flight; ` +
          `Keyhold HTTP / bare Fastify + client: ${ratio(seq[0]!.ops, seq[4]!.ops)} sequential, ${ratio(conc[0]!.ops, conc[3]!.ops)} with ${CONC} in flight.`,
      );
    }
    await bare.close();
    await client.destroyObject(pair.privateKey);
    await client.destroyObject(pair.publicKey);
    await client.destroyObject(aes);
  } finally {
    await app.close();
  }
}

// ---- 2. unseal --------------------------------------------------------------

async function unseal(token: SoftHsmToken, dir: string): Promise<void> {
  console.log(`\n### Unseal: build an initialised vault until it is unsealed (load average ${loadavg()})\n`);
  // pkcs11: initialise once, then rebuild.
  const hsmDb = join(dir, 'unseal-hsm.db');
  const first = await buildKeyhold(hsmConfig(hsmDb, token), { logger: false });
  const init = await first.api.inject({ method: 'POST', url: '/v1/sys/init', payload: { shares: 5, threshold: 3 } });
  if (init.statusCode !== 200) throw new Error(init.body);
  await first.close();
  const coldOpen: number[] = [];
  for (let i = 0; i < Math.min(UNSEALS, 5); i++) {
    const child = startNode(['--import', 'tsx', 'bench/hsm.ts', '--cold-open', token.module, token.tokenLabel], { ...process.env, [PIN_ENV]: token.pin });
    if ((await waitExit(child, 60_000)) !== 0) throw new Error(`--cold-open failed:\n${child.output()}`);
    coldOpen.push((JSON.parse(child.stdout().trim().split('\n').at(-1)!) as { ms: number }).ms);
  }
  const shamirConfig = resolveConfig({ storage: { path: join(dir, 'unseal-shamir.db') }, log: { level: 'silent' } });
  const s0 = await buildKeyhold(shamirConfig, { logger: false });
  const shares = (await s0.api.inject({ method: 'POST', url: '/v1/sys/init', payload: { shares: 5, threshold: 3 } })).json().shares as string[];
  await s0.close();

  const buildHsm = async (): Promise<number> => {
    const t0 = performance.now();
    const app = await buildKeyhold(hsmConfig(hsmDb, token), { logger: false });
    await app.api.ready();
    const ms = performance.now() - t0;
    if (await sealed(app)) throw new Error('the pkcs11 vault did not unseal itself');
    await app.close();
    return ms;
  };
  const buildShamir = async (): Promise<[number, number]> => {
    const t0 = performance.now();
    const app = await buildKeyhold(shamirConfig, { logger: false });
    await app.api.ready();
    const t1 = performance.now();
    for (const key of shares.slice(0, 3)) await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key } });
    const t2 = performance.now();
    if (await sealed(app)) throw new Error('the Shamir vault did not unseal');
    await app.close();
    return [t1 - t0, t2 - t1];
  };
  // One untimed build of each, then the two alternate (order swapped every time), so JIT warm-up and machine load hit both alike.
  await buildHsm();
  await buildShamir();
  const hsmTimes: number[] = [];
  const build: number[] = [];
  const unsealMs: number[] = [];
  for (let i = 0; i < UNSEALS; i++) {
    const shamirRun = async () => {
      const [b, u] = await buildShamir();
      build.push(b);
      unsealMs.push(u);
    };
    if (i % 2 === 0) {
      hsmTimes.push(await buildHsm());
      await shamirRun();
    } else {
      await shamirRun();
      hsmTimes.push(await buildHsm());
    }
  }

  // The pieces: open + log in, and one unwrap.
  const openTimes: number[] = [];
  for (let i = 0; i < UNSEALS; i++) {
    const t0 = performance.now();
    const c = await Pkcs11Client.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin });
    openTimes.push(performance.now() - t0);
    await c.close();
  }
  const c = await Pkcs11Client.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin });
  const wrapKey = (await c.findKey('bench-root', 'secret'))!;
  const sealedKey = await c.aesGcmEncrypt(wrapKey, new Uint8Array(32));
  const unwrapTimes: number[] = [];
  for (let i = 0; i < UNSEALS * 10; i++) {
    const t0 = performance.now();
    await c.aesGcmDecrypt(wrapKey, sealedKey.iv, sealedKey.ciphertext);
    unwrapTimes.push(performance.now() - t0);
  }
  await c.close();

  const total = build.map((b, i) => b + unsealMs[i]!);
  const ms = (x: number) => fmt(x, 1);
  console.log(
    table(
      ['seal', 'build + ready + unseal, median ms', 'min', 'max', 'of which'],
      [
        ['pkcs11 (auto-unseal in buildKeyhold)', ms(median(hsmTimes)), ms(Math.min(...hsmTimes)), ms(Math.max(...hsmTimes)), `module already loaded; vs Shamir's sealed build + ready: +${ms(median(hsmTimes) - median(build))} ms`],
        ['  Pkcs11Client.open (C_Initialize, token, C_Login, session)', ms(median(openTimes)), ms(Math.min(...openTimes)), ms(Math.max(...openTimes)), ''],
        ['  first Pkcs11Client.open of a fresh process (+ dlopen)', ms(median(coldOpen)), ms(Math.min(...coldOpen)), ms(Math.max(...coldOpen)), `${coldOpen.length} child processes`],
        ['  CKM_AES_GCM unwrap of 32 B', ms(median(unwrapTimes)), ms(Math.min(...unwrapTimes)), ms(Math.max(...unwrapTimes)), ''],
        ['Shamir 3 of 5', ms(median(total)), ms(Math.min(...total)), ms(Math.max(...total)), `build + ready (sealed) ${ms(median(build))} ms + 3 × POST /v1/sys/unseal ${ms(median(unsealMs))} ms`],
      ],
    ),
  );
  console.log(`\npkcs11 / Shamir (build + unseal): ${(median(hsmTimes) / median(total)).toFixed(2)}×; ${UNSEALS} builds each, alternating, after one untimed build of each.`);
}

// ---- main ------------------------------------------------------------------

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-bench-hsm-'));
  try {
    const token = softHsmTokenOrThrow();
    process.env[PIN_ENV] = token.pin;
    console.log(`## HSM-backed keys and the pkcs11 seal (SoftHSM2, Node ${process.version}, ${new Date().toISOString()})`);
    console.log(`slices ${SLICE_MS} ms × ${ROUNDS} rounds per variant, ${CONC} in flight for the concurrent column, ${UNSEALS} unseals per seal`);
    await operations(token, dir);
    await unseal(token, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Child mode: time the first Pkcs11Client.open of this process (dlopen, C_Initialize, C_Login) and print {"ms": n}. */
async function coldOpen(module: string, tokenLabel: string): Promise<void> {
  const t0 = performance.now();
  const c = await Pkcs11Client.open({ module, tokenLabel, pin: process.env[PIN_ENV]! });
  const ms = performance.now() - t0;
  await c.close();
  console.log(JSON.stringify({ ms }));
}

if (process.argv[2] === '--cold-open') await coldOpen(process.argv[3]!, process.argv[4]!);
else await main();
