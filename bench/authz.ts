/**
 * What authorization costs on the request path (issue target: at most 15% of
 * HTTP encrypt throughput).
 *
 * 1. HTTP, POST /v1/keys/bench/encrypt {"plaintext":"<128 random bytes, base64>"}
 *    to bench/keyhold-noaudit-server.ts (Keyhold set up as dev mode does,
 *    without the audit log), with authorization as shipped or switched off:
 *    policy.authorize() replaced on the instance by an allow-all
 *    (authentication still runs). Four variants:
 *      A  authorization on,  root token
 *      B  authorization off, root token
 *      C  authorization on,  user access token (EdDSA JWT + session lookup;
 *         user "bench-admin" in group "admins", password login)
 *      D  authorization off, user access token
 *    A/B is what the Cedar gate costs a root-token request, C/D a JWT one;
 *    D/B isolates JWT verification.
 *    BENCH_AUTHZ_MODE=one (default): ONE server process started with
 *    --authz-toggle; SIGUSR2 switches authorization off/on between runs.
 *    BENCH_AUTHZ_MODE=two: a server as shipped (A, C) and one started with
 *    --authz-off (B, D). Two processes of the same build differ by tens of
 *    µs per request on this VM (see BENCH_AUTHZ_CONTROL), more than the
 *    effect, hence the default.
 *    The state is checked before and after every run with a user in no
 *    group: refused (403) with authorization on, let through with it off.
 *    Closed loop with autocannon in its own process (bench/load-run.ts),
 *    keep-alive, server CPU µs per request from /proc (bench/proc-cpu.ts). A warm-up run per variant, then rounds that rotate
 *    the four; medians reported. User tokens live 300 s, so each is renewed
 *    (POST /v1/auth/renew) before a run when less than the run plus 30 s is
 *    left.
 *    BENCH_AUTHZ_CONTROL=1 runs B and D with authorization ON as well: a null
 *    comparison that shows the noise floor of the ratios.
 * 2. In-process, PolicyEngine.authorize() cache hit on the default bundle, for
 *    the requests the gate builds for A and C (short form of
 *    bench/policy-authorize.ts), next to an empty awaited async function.
 *    And authorize() as the gate calls it: a vault built in-process, encrypt
 *    requests sent with inject, each authorize() call timed (then the same
 *    with the --authz-off stub in its place). This per-call figure does not
 *    depend on the machine's load the way the HTTP difference A - B does.
 * 3. In-process, verifyRequestSignature (src/auth/http-signature.ts) of a
 *    signed POST with a 128 B JSON body, with a NonceCache, Ed25519 and P-256,
 *    against a raw node:crypto verify of the same signature base with the
 *    same key; plus checkContentDigest of the body (bound tokens pay both per
 *    request). Each signed request has a fresh nonce, signed beforehand.
 *
 * Env: BENCH_AUTHZ_SECS (5) per load run, BENCH_AUTHZ_WARMUP_SECS (5) per
 * variant, BENCH_AUTHZ_ROUNDS (5), BENCH_AUTHZ_CONNS (32), BENCH_AUTHZ_MS (300)
 * per in-process round, BENCH_AUTHZ_INPROC_ROUNDS (5), BENCH_AUTHZ_CALLS (5000)
 * timed gate calls per token kind, BENCH_AUTHZ_SIGS (2000) signed requests per
 * algorithm per round.
 *
 * Standalone: node --import tsx bench/authz.ts (no build needed).
 */
import { createHash, generateKeyPairSync, randomBytes, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Barrier } from '../src/barrier/barrier.js';
import { resolveConfig } from '../src/config/load-config.js';
import { buildKeyhold } from '../src/api/keyhold-app.js';
import { SqliteBackend } from '../src/storage/sqlite-backend.js';
import { PolicyEngine, type AuthorizationRequest } from '../src/policy/policy-engine.js';
import { authzTarget } from '../src/api/route-authz.js';
import { hasMfa, ROOT_PRINCIPAL, type Principal } from '../src/auth/principal.js';
import { checkContentDigest, NonceCache, signatureBase, signRequest, verifyRequestSignature } from '../src/auth/http-signature.js';
import { jwkThumbprint } from '../src/auth/jwk-thumbprint.js';
import {
  envInt, fmt, freePort, HOST, installExitHook, load, median, pass, startNode, stop, table, waitReady, type Child, type LoadResult,
} from './keys-lib.js';

export const AUTHZ_TARGET = 0.15; // authorization may cost at most 15% of throughput
const TOKEN = 'bench-token';
const USER = 'bench-admin';
const PASSWORD = 'bench-password-1';

// ---- HTTP ------------------------------------------------------------------

type Variant = 'A' | 'B' | 'C' | 'D';
const VARIANTS: readonly Variant[] = ['A', 'B', 'C', 'D'];
const LABEL: Record<Variant, string> = {
  A: 'A  authz on,  root token',
  B: 'B  authz off, root token',
  C: 'C  authz on,  user JWT',
  D: 'D  authz off, user JWT',
};

export interface Summary {
  rps: number;
  p50: number;
  p99: number;
  cpu: number;
  rounds: LoadResult[];
  errors: number;
}

function summarize(rs: LoadResult[]): Summary {
  return {
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => Number(r.p50_ms))),
    p99: median(rs.map((r) => Number(r.p99_ms))),
    cpu: median(rs.map((r) => r.server_cpu_us_per_req)),
    rounds: rs,
    errors: rs.reduce((n, r) => n + r.errors, 0),
  };
}

interface Tok {
  token: string;
  expiresAt: number;
}

interface Server {
  name: string;
  srv: Child;
  base: string;
  /** USER, in group admins. */
  user: Tok;
  /** A user in no group: the default bundle denies it, so it shows whether authorization is on. */
  nobody: Tok;
  authzOn: boolean;
  /** Started with --authz-toggle: SIGUSR2 flips authorization. */
  toggles: boolean;
}

async function call(base: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const init: RequestInit = { method: 'POST', headers, signal: AbortSignal.timeout(30_000) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}

async function must(base: string, path: string, token: string | undefined, body?: unknown): Promise<Record<string, unknown>> {
  const r = await call(base, path, token, body);
  if (r.status !== 200) throw new Error(`POST ${base}${path}: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
  return r.json;
}

function tokenOf(answer: Record<string, unknown>): Tok {
  const { accessToken, expiresIn } = answer;
  if (typeof accessToken !== 'string' || typeof expiresIn !== 'number') throw new Error(`no access token in ${JSON.stringify(answer).slice(0, 200)}`);
  return { token: accessToken, expiresAt: Date.now() + expiresIn * 1000 };
}

async function startKeyhold(name: string, dir: string, flags: string[]): Promise<Server> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const srv = startNode(['--import', 'tsx', join('bench', 'keyhold-noaudit-server.ts'), String(port), dir, TOKEN, ...flags]);
  const base = `http://${HOST}:${port}`;
  await waitReady(name, srv, `${base}/v1/sys/health`);
  await must(base, '/v1/keys', TOKEN, { name: 'bench' });
  const login = async (username: string, groups: string[]) => {
    await must(base, '/v1/auth/users', TOKEN, { name: username, password: PASSWORD, groups });
    return tokenOf(await must(base, '/v1/auth/login', undefined, { username, password: PASSWORD }));
  };
  return { name, srv, base, user: await login(USER, ['admins']), nobody: await login('bench-nobody', []), authzOn: !flags.includes('--authz-off'), toggles: flags.includes('--authz-toggle') };
}

/** Renews a user token (POST /v1/auth/renew) when less than `minMs` of it is left. */
async function fresh(s: Server, who: 'user' | 'nobody', minMs: number): Promise<string> {
  if (s[who].expiresAt - Date.now() < minMs) s[who] = tokenOf(await must(s.base, '/v1/auth/renew', s[who].token));
  return s[who].token;
}

/** Whether authorization is in force on `s`: the groupless user is denied (403) or let through (200). */
async function probeAuthz(s: Server, body: unknown): Promise<boolean> {
  const r = await call(s.base, '/v1/keys/bench/encrypt', await fresh(s, 'nobody', 30_000), body);
  if (r.status !== 200 && r.status !== 403) throw new Error(`${s.name}: the groupless user got HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
  return r.status === 403;
}

/** Puts `s` in the wanted state (SIGUSR2 to a --authz-toggle server), confirmed by the groupless user's answer. */
async function setAuthz(s: Server, on: boolean, body: unknown): Promise<void> {
  if (s.authzOn !== on) {
    if (!s.toggles) throw new Error(`${s.name} cannot switch authorization`);
    s.srv.child.kill('SIGUSR2');
    s.authzOn = on;
  }
  const deadline = Date.now() + 5000;
  while ((await probeAuthz(s, body)) !== on) {
    if (Date.now() > deadline) throw new Error(`${s.name}: authorization did not turn ${on ? 'on' : 'off'}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export type Mode = 'one' | 'two';

export interface HttpResult {
  /** one: a single server, authorization flipped by SIGUSR2 between runs; two: a shipped server and an --authz-off one. */
  mode: Mode;
  /** BENCH_AUTHZ_CONTROL=1: B and D run with authorization on as well (a null comparison). */
  control: boolean;
  conns: number;
  secs: number;
  warmupSecs: number;
  load: [number, number];
  s: Record<Variant, Summary>;
  /** Per round: rps A/B and C/D. */
  roundRatios: { ab: number[]; cd: number[] };
}

export async function httpAuthzBench(dir: string): Promise<HttpResult> {
  const secs = envInt('BENCH_AUTHZ_SECS', 5);
  const warmupSecs = envInt('BENCH_AUTHZ_WARMUP_SECS', 5);
  const rounds = envInt('BENCH_AUTHZ_ROUNDS', 5);
  const conns = envInt('BENCH_AUTHZ_CONNS', 32);
  const mode = (process.env.BENCH_AUTHZ_MODE ?? 'one') as Mode;
  if (mode !== 'one' && mode !== 'two') throw new Error('BENCH_AUTHZ_MODE must be one or two');
  const control = process.env.BENCH_AUTHZ_CONTROL === '1';
  const load0 = loadavg()[0]!;
  const servers: Server[] = [];
  try {
    let on: Server;
    let off: Server;
    if (mode === 'one') {
      on = off = await startKeyhold('keyhold (authz toggled)', join(dir, 'one'), ['--authz-toggle']);
      servers.push(on);
    } else {
      on = await startKeyhold('keyhold (authz on)', join(dir, 'authz-on'), []);
      servers.push(on);
      off = await startKeyhold(control ? 'keyhold (control, authz on)' : 'keyhold (authz off)', join(dir, 'authz-off'), control ? [] : ['--authz-off']);
      servers.push(off);
    }
    const body = JSON.stringify({ plaintext: randomBytes(128).toString('base64') });
    const parsed: unknown = JSON.parse(body);

    const authzOn = (v: Variant) => v === 'A' || v === 'C' || control;
    const serverOf = (v: Variant) => (v === 'A' || v === 'C' ? on : off);
    const minMs = (Math.max(secs, warmupSecs) + 30) * 1000;
    const tokenFor = (v: Variant) => (v === 'A' || v === 'B' ? Promise.resolve(TOKEN) : fresh(serverOf(v), 'user', minMs));
    // Proves the switch (the groupless user is refused only with authorization on) and checks every variant encrypts.
    for (const v of VARIANTS) {
      const s = serverOf(v);
      await setAuthz(s, authzOn(v), parsed);
      const r = await call(s.base, '/v1/keys/bench/encrypt', await tokenFor(v), parsed);
      if (r.status !== 200 || typeof r.json.ciphertext !== 'string' || !r.json.ciphertext.startsWith('keyhold:v1:')) throw new Error(`${LABEL[v]}: encrypt probe failed: HTTP ${r.status} ${JSON.stringify(r.json)}`);
    }
    const run = async (v: Variant, secs: number) => {
      const s = serverOf(v);
      await setAuthz(s, authzOn(v), parsed);
      const headers = { authorization: `Bearer ${await tokenFor(v)}` };
      const r = await load(`${s.base}/v1/keys/bench/encrypt`, body, s.srv.child.pid!, { conns, secs, headers });
      // Still in the state it was measured in (nothing else flips it, but a wrong label would be silent).
      if ((await probeAuthz(s, parsed)) !== authzOn(v)) throw new Error(`${LABEL[v]}: authorization changed state during the run`);
      return r;
    };

    // JIT warm-up, discarded (~25k requests per server needed to settle).
    for (const v of VARIANTS) await run(v, warmupSecs);
    const runs: Record<Variant, LoadResult[]> = { A: [], B: [], C: [], D: [] };
    for (let i = 0; i < rounds; i++) {
      // The order rotates so that no variant always runs first in a round.
      for (let j = 0; j < VARIANTS.length; j++) {
        const v = VARIANTS[(i + j) % VARIANTS.length]!;
        runs[v].push(await run(v, secs));
      }
    }
    const s = { A: summarize(runs.A), B: summarize(runs.B), C: summarize(runs.C), D: summarize(runs.D) };
    return {
      mode, control, conns, secs, warmupSecs, load: [load0, loadavg()[0]!], s,
      roundRatios: { ab: runs.A.map((a, i) => a.rps / runs.B[i]!.rps), cd: runs.C.map((c, i) => c.rps / runs.D[i]!.rps) },
    };
  } finally {
    for (const s of servers) await stop(s.srv.child); // SIGTERM, then SIGKILL after 5 s
  }
}

// ---- in-process: authorize() cache hit ------------------------------------------

/** Median µs per call of `f` over the rounds (calls in batches of 100 between clock reads), as bench/policy-authorize.ts. */
async function measure(f: () => Promise<unknown>, ms: number, rounds: number): Promise<number> {
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      for (let k = 0; k < 100; k++) await f();
      n += 100;
      now = performance.now();
    }
    perRound.push(((now - start) * 1000) / n);
  }
  return median(perRound);
}

/** The request the gate (src/api/hooks.ts) builds for POST /v1/keys/bench/encrypt from loopback. */
function gateRequest(principal: Principal): AuthorizationRequest {
  const authz = authzTarget('/v1/keys/:name/encrypt', 'encrypt');
  return {
    principal,
    action: authz.action,
    resource: { type: 'Key', id: 'bench' },
    context: { mfa: hasMfa(principal), authMethods: principal.amr, sourceIp: '127.0.0.1', apiSurface: 'v1', batch: authz.batch },
  };
}

export interface GateCall {
  /** Median and mean µs of `await policy.authorize(...)` as the gate calls it. */
  median: number;
  mean: number;
  /** The same with the allow-all stub of --authz-off in its place. */
  stubMedian: number;
  stubMean: number;
  n: number;
}

export interface AuthorizeResult {
  ms: number;
  rounds: number;
  baseline: number;
  rootHit: number;
  userHit: number;
  allowed: boolean;
  gate: { root: GateCall; user: GateCall };
}

/**
 * authorize() as the gate really calls it: a vault built in-process
 * (buildKeyhold on SqliteBackend(':memory:'), no audit log), POST
 * /v1/keys/bench/encrypt sent with app.api.inject, policy.authorize wrapped
 * with a timer around each call. Then the same with the --authz-off stub
 * under the same timer, so the difference is what the decision costs.
 */
async function gateCalls(dir: string, warmup: number, n: number): Promise<{ root: GateCall; user: GateCall }> {
  const config = resolveConfig({ storage: { path: join(dir, 'unused.db') }, listeners: { api: { port: 0 }, health: { port: 0 } }, log: { level: 'silent' } });
  const app = await buildKeyhold(config, { backend: new SqliteBackend({ path: ':memory:' }), logger: false });
  try {
    const inject = async (url: string, token: string | undefined, payload?: unknown) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      const r = await app.api.inject({ method: 'POST', url, headers, payload: JSON.stringify(payload ?? {}) });
      if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode} ${r.body.slice(0, 300)}`);
      return r.json<Record<string, unknown>>();
    };
    const init = await inject('/v1/sys/init', undefined, { shares: 1, threshold: 1 });
    await inject('/v1/sys/unseal', undefined, { key: (init.shares as string[])[0] });
    const root = init.rootToken as string;
    await inject('/v1/keys', root, { name: 'bench' });
    await inject('/v1/auth/users', root, { name: USER, password: PASSWORD, groups: ['admins'] });
    const user = tokenOf(await inject('/v1/auth/login', undefined, { username: USER, password: PASSWORD })).token;

    const policy = app.services.policy;
    const real = policy.authorize.bind(policy);
    const stub = async (_req: AuthorizationRequest) => ({ allowed: true, reasons: [] });
    let target: (req: AuthorizationRequest) => Promise<unknown> = real;
    let times: number[] = [];
    policy.authorize = async (req) => {
      const t0 = process.hrtime.bigint();
      const d = await target(req);
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
      return d as Awaited<ReturnType<typeof real>>;
    };
    const body = { plaintext: randomBytes(128).toString('base64') };
    const series = async (token: string, f: typeof target): Promise<number[]> => {
      target = f;
      for (let i = 0; i < warmup; i++) await inject('/v1/keys/bench/encrypt', token, body);
      times = [];
      for (let i = 0; i < n; i++) await inject('/v1/keys/bench/encrypt', token, body);
      return times;
    };
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const call = async (token: string): Promise<GateCall> => {
      const on = await series(token, real);
      const off = await series(token, stub);
      return { median: median(on), mean: mean(on), stubMedian: median(off), stubMean: mean(off), n };
    };
    return { root: await call(root), user: await call(user) };
  } finally {
    await app.close();
  }
}

export async function authorizeBench(dir: string): Promise<AuthorizeResult> {
  const ms = envInt('BENCH_AUTHZ_MS', 300);
  const rounds = envInt('BENCH_AUTHZ_INPROC_ROUNDS', 5);
  const backend = new SqliteBackend({ path: ':memory:' });
  try {
    const barrier = new Barrier(backend);
    await backend.transaction([barrier.createKeyring(new Uint8Array(randomBytes(32)))]);
    const engine = new PolicyEngine(barrier, []);
    const root = gateRequest(ROOT_PRINCIPAL);
    const user = gateRequest({ type: 'User', id: USER, groups: ['admins'], amr: ['pwd'], sid: 'bench-session' });
    const empty = async (): Promise<unknown> => undefined;
    const rootHit = () => engine.authorize(root);
    const userHit = () => engine.authorize(user);
    const allowed = (await engine.authorize(root)).allowed && (await engine.authorize(user)).allowed;
    await measure(rootHit, ms, 1); // JIT warm-up
    await measure(userHit, ms, 1);
    await measure(empty, ms, 1);
    const results = { ms, rounds, baseline: await measure(empty, ms, rounds), rootHit: await measure(rootHit, ms, rounds), userHit: await measure(userHit, ms, rounds), allowed };
    const calls = envInt('BENCH_AUTHZ_CALLS', 5000);
    return { ...results, gate: await gateCalls(dir, 20_000, calls) };
  } finally {
    await backend.close();
  }
}

// ---- in-process: RFC 9421 request signature verification ---------------------------

interface Signed {
  headers: Record<string, string>;
  base: Buffer;
  signature: Buffer;
}

export interface SigRate {
  us: number; // wall µs per op (median over rounds)
  cpuUs: number; // process CPU µs per op
}

export interface SigResult {
  ed25519: { full: SigRate; raw: SigRate };
  p256: { full: SigRate; raw: SigRate };
  digest: SigRate;
  bodyBytes: number;
  perRound: number;
  rounds: number;
}

const TARGET_URI = 'http://127.0.0.1:8200/v1/keys/bench/encrypt';

/** Times `fn` over `n` items; wall and CPU µs per item. */
function timeOver(n: number, fn: (i: number) => void): SigRate {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  return { us: ns / 1000 / n, cpuUs: (cpu.user + cpu.system) / n };
}

export function signatureBench(): SigResult {
  const perRound = envInt('BENCH_AUTHZ_SIGS', 2000);
  const rounds = envInt('BENCH_AUTHZ_INPROC_ROUNDS', 5);
  const body = Buffer.from(JSON.stringify({ plaintext: randomBytes(128).toString('base64') }));
  // Shaped like an access token; verifyRequestSignature only signs it as a header value.
  const authorization = `Bearer ${randomBytes(40).toString('base64url')}.${randomBytes(200).toString('base64url')}.${randomBytes(64).toString('base64url')}`;

  const setup = (type: 'ed25519' | 'ec') => {
    const { privateKey, publicKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const jkt = jwkThumbprint(jwk);
    const make = (n: number): Signed[] =>
      Array.from({ length: n }, () => {
        const h = signRequest({ method: 'POST', targetUri: TARGET_URI, authorization, body, privateKey });
        const sig = /^sig1=:([A-Za-z0-9+/=]+):$/.exec(h.signature);
        if (sig === null || h['content-digest'] === undefined) throw new Error('unexpected signRequest output');
        // signRequest covers @method, @target-uri, content-digest, authorization, in that order.
        const base = signatureBase(
          [['@method', 'POST'], ['@target-uri', TARGET_URI], ['content-digest', h['content-digest']], ['authorization', authorization]],
          h['signature-input'].slice('sig1='.length),
        );
        return {
          headers: { authorization, 'content-type': 'application/json', 'content-length': String(body.length), 'signature-input': h['signature-input'], signature: h.signature, 'content-digest': h['content-digest'] },
          base: Buffer.from(base),
          signature: Buffer.from(sig[1]!, 'base64'),
        };
      });
    return { publicKey, jwk, jkt, make, nonces: new NonceCache(), ecdsa: type === 'ec' };
  };
  const algs = [setup('ed25519'), setup('ec')];

  const full = (a: (typeof algs)[number], reqs: Signed[]) =>
    timeOver(reqs.length, (i) => {
      verifyRequestSignature({ method: 'POST', targetUri: TARGET_URI, headers: reqs[i]!.headers, expectedKeyId: a.jkt, publicJwk: a.jwk, nonces: a.nonces, hasBody: true });
    });
  const raw = (a: (typeof algs)[number], reqs: Signed[]) => {
    const key: KeyObject = a.publicKey;
    return timeOver(reqs.length, (i) => {
      const r = reqs[i]!;
      const ok = a.ecdsa ? cryptoVerify('sha256', r.base, { key, dsaEncoding: 'ieee-p1363' }, r.signature) : cryptoVerify(null, r.base, key, r.signature);
      if (!ok) throw new Error('raw verify failed: the reconstructed signature base differs');
    });
  };
  const digestField = `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
  const digest = () =>
    timeOver(perRound, () => {
      if (!checkContentDigest(digestField, body)) throw new Error('content digest mismatch');
    });

  // Warm-up (JIT, key cache), then rounds in a rotating order.
  for (const a of algs) {
    const w = a.make(Math.min(500, perRound));
    full(a, w);
    raw(a, w);
  }
  digest();
  const acc = { edFull: [] as SigRate[], edRaw: [] as SigRate[], pFull: [] as SigRate[], pRaw: [] as SigRate[], digest: [] as SigRate[] };
  for (let r = 0; r < rounds; r++) {
    // Each round's requests are signed first (fresh nonces), outside the timed loops.
    const [edReqs, pReqs] = [algs[0]!.make(perRound), algs[1]!.make(perRound)];
    const steps = [
      () => acc.edFull.push(full(algs[0]!, edReqs)),
      () => acc.edRaw.push(raw(algs[0]!, edReqs)),
      () => acc.pFull.push(full(algs[1]!, pReqs)),
      () => acc.pRaw.push(raw(algs[1]!, pReqs)),
      () => acc.digest.push(digest()),
    ];
    for (let j = 0; j < steps.length; j++) steps[(r + j) % steps.length]!();
  }
  const med = (xs: SigRate[]): SigRate => ({ us: median(xs.map((x) => x.us)), cpuUs: median(xs.map((x) => x.cpuUs)) });
  return {
    ed25519: { full: med(acc.edFull), raw: med(acc.edRaw) },
    p256: { full: med(acc.pFull), raw: med(acc.pRaw) },
    digest: med(acc.digest),
    bodyBytes: body.length,
    perRound,
    rounds,
  };
}

// ---- output ----------------------------------------------------------------------

export function format(h: HttpResult, a: AuthorizeResult, g: SigResult): string {
  const { A, B, C, D } = h.s;
  const row = (v: Variant) => {
    const s = h.s[v];
    return [LABEL[v] + (h.control && (v === 'B' || v === 'D') ? ' [CONTROL: authz on]' : ''), fmt(s.rps), fmt(s.p50, 2), fmt(s.p99, 2), fmt(s.cpu), s.rounds.map((x) => `${fmt(x.rps)}/${x.server_cpu_us_per_req}`).join(' '), String(s.errors)];
  };
  const costRps = (on: Summary, off: Summary) => 1 - on.rps / off.rps;
  const costCpu = (on: Summary, off: Summary) => (on.cpu - off.cpu) / on.cpu;
  const pct = (x: number) => `${fmt(100 * x, 1)}%`;
  const verdict = (name: string, on: Summary, off: Summary, perRound: number[]) => {
    const r = costRps(on, off);
    const c = costCpu(on, off);
    return (
      `${name}: throughput ${fmt(on.rps / off.rps, 3)}x (rounds ${perRound.map((x) => fmt(x, 2)).join(' ')}, median of rounds ${fmt(median(perRound), 3)}), authz cost ${pct(r)} of throughput ` +
      `(target <= ${pct(AUTHZ_TARGET)}: ${pass(r <= AUTHZ_TARGET)}); CPU ${fmt(on.cpu / off.cpu, 3)}x, +${fmt(on.cpu - off.cpu)} µs/req = ${pct(c)} of the request's CPU ` +
      `(${pass(c <= AUTHZ_TARGET)})`
    );
  };
  const sigRow = (name: string, s: SigRate, raw?: SigRate) => [name, fmt(s.us, 1), fmt(s.cpuUs, 1), raw === undefined ? '' : fmt(s.us / raw.us, 2), raw === undefined ? '' : fmt(s.cpuUs / raw.cpuUs, 2)];
  return [
    ...(h.control ? ['CONTROL RUN (BENCH_AUTHZ_CONTROL=1): B and D run with authorization ON as well; the ratios show the noise floor, not authorization.', ''] : []),
    `Authorization cost, HTTP POST /v1/keys/bench/encrypt (128 B), Keyhold without audit log, loopback keep-alive, ${h.conns} connections, ` +
      (h.mode === 'one' ? 'one server process with authorization switched off and on between runs (SIGUSR2) ' : 'two server processes, as shipped and --authz-off ') +
      `(warm-up ${h.warmupSecs} s per variant, then ${A.rounds.length} rotating rounds x ${h.secs} s; medians; load average ${fmt(h.load[0], 1)} -> ${fmt(h.load[1], 1)})`,
    '',
    table(['variant', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'rounds req/s / CPU µs', 'non-200'], [row('A'), row('B'), row('C'), row('D')]),
    '',
    verdict('A/B (root token)', A, B, h.roundRatios.ab),
    verdict('C/D (user JWT)', C, D, h.roundRatios.cd),
    `JWT instead of the root token (D vs B, authz off): CPU +${fmt(D.cpu - B.cpu)} µs/req, throughput ${fmt(D.rps / B.rps, 3)}x.`,
    '',
    `In-process authorize(), default bundle, median of ${a.rounds} rounds x ${a.ms} ms (decision ${a.allowed ? 'allow' : 'DENY'}):`,
    `  empty awaited async fn ${fmt(a.baseline, 2)} µs; cache hit, root ${fmt(a.rootHit, 2)} µs; cache hit, admins user ${fmt(a.userHit, 2)} µs per decision`,
    `  authorize() cache hit ${fmt(a.rootHit, 2)} µs of ${fmt(A.cpu)} µs CPU per request (A, ${pct(a.rootHit / A.cpu)}); ` +
      `${fmt(a.userHit, 2)} µs of ${fmt(C.cpu)} µs (C, ${pct(a.userHit / C.cpu)})`,
    `  as the gate calls it (inject, ${a.gate.root.n} timed requests after 20,000, median/mean µs per call): ` +
      `root ${fmt(a.gate.root.median, 2)}/${fmt(a.gate.root.mean, 2)} (stub ${fmt(a.gate.root.stubMedian, 2)}/${fmt(a.gate.root.stubMean, 2)}), ` +
      `user ${fmt(a.gate.user.median, 2)}/${fmt(a.gate.user.mean, 2)} (stub ${fmt(a.gate.user.stubMedian, 2)}/${fmt(a.gate.user.stubMean, 2)}); ` +
      `net of the stub ${fmt(a.gate.root.median - a.gate.root.stubMedian, 2)} µs = ${pct((a.gate.root.median - a.gate.root.stubMedian) / A.cpu)} of A's CPU, ` +
      `${fmt(a.gate.user.median - a.gate.user.stubMedian, 2)} µs = ${pct((a.gate.user.median - a.gate.user.stubMedian) / C.cpu)} of C's`,
    '',
    `RFC 9421 signed request verification (bound tokens, per request), in-process, ${g.rounds} rounds x ${g.perRound} requests per algorithm, medians:`,
    '',
    table(['operation', 'µs/op', 'CPU µs/op', 'vs raw (wall)', 'vs raw (CPU)'], [
      sigRow('verifyRequestSignature, Ed25519 (NonceCache)', g.ed25519.full, g.ed25519.raw),
      sigRow('raw node:crypto Ed25519 verify of the same base', g.ed25519.raw, g.ed25519.raw),
      sigRow('verifyRequestSignature, P-256 (NonceCache)', g.p256.full, g.p256.raw),
      sigRow('raw node:crypto ECDSA P-256 verify of the same base', g.p256.raw, g.p256.raw),
      sigRow(`checkContentDigest, ${g.bodyBytes} B body`, g.digest),
    ]),
    '',
    `Profile overhead over the raw verify (CPU): Ed25519 +${fmt(g.ed25519.full.cpuUs - g.ed25519.raw.cpuUs, 1)} µs (${fmt(g.ed25519.full.cpuUs / g.ed25519.raw.cpuUs, 2)}x), ` +
      `P-256 +${fmt(g.p256.full.cpuUs - g.p256.raw.cpuUs, 1)} µs (${fmt(g.p256.full.cpuUs / g.p256.raw.cpuUs, 2)}x); ` +
      `a bound Ed25519 request pays about ${fmt(g.ed25519.full.cpuUs + g.digest.cpuUs, 0)} µs CPU (signature + digest) on top of C's ${fmt(C.cpu)} µs.`,
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-bench-authz-'));
  installExitHook(() => rmSync(dir, { recursive: true, force: true }));
  // In-process parts first, while no server shares the cores.
  const a = await authorizeBench(dir);
  const g = signatureBench();
  const h = await httpAuthzBench(dir);
  console.log(format(h, a, g));
}
