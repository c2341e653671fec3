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
 * Two phases, each its own server process and its own baseline:
 * 1. plain HTTP: `/v1` (Bearer), Vault transit (`X-Vault-Token`), AWS KMS
 *    (`TrentService.Encrypt`, every request SigV4-signed by the client with
 *    the AWS SDK's signer under an access key of a user in `admins`);
 * 2. mTLS (bench/keyhold-mtls-server.ts): `/v1` and VSSM's
 *    `/REST/v1/symmetric/encrypt` (`AES/GCM/NoPadding`) over the same kind of
 *    keep-alive client-certificate connections.
 *
 * Env: BENCH_COMPAT_SECS (5), BENCH_COMPAT_ROUNDS (3), BENCH_COMPAT_CONNS (16).
 * Standalone: node --import tsx bench/compat.ts
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { scryptSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { procCpuUs } from './proc-cpu.js';

const env = (name: string, d: number) => Number(process.env[name] ?? d);
const SECS = env('BENCH_COMPAT_SECS', 5);
const ROUNDS = env('BENCH_COMPAT_ROUNDS', 3);
const CONNS = env('BENCH_COMPAT_CONNS', 16);
const TOKEN = `bench-${randomBytes(8).toString('hex')}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Server CPU seconds (user + system, all threads) from /proc/<pid>/stat. */
const cpuOf = (pid: number) => procCpuUs(pid) / 1e6;

interface Call {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** One surface: how to build a request (fresh per call where the protocol needs it) and how to tell success. */
export interface Surface {
  name: string;
  call: () => Call | Promise<Call>;
  ok: (status: number, text: string) => boolean;
}

/** Where a phase's server listens, and how to make a keep-alive agent for it. */
interface Target {
  port: number;
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
}

function agentFor(target: Target, maxSockets = CONNS): http.Agent {
  return target.tls === undefined ? new http.Agent({ keepAlive: true, maxSockets }) : new https.Agent({ keepAlive: true, maxSockets, ...target.tls });
}

function post(agent: http.Agent, target: Target, c: Call): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = (target.tls === undefined ? http : https).request({ host: '127.0.0.1', port: target.port, path: c.path, method: 'POST', agent, headers: { 'content-length': Buffer.byteLength(c.body), ...c.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(c.body);
  });
}

async function run(surface: Surface, target: Target, pid: number): Promise<{ rps: number; cpuUs: number; errors: number }> {
  const agent = agentFor(target);
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  const end = Date.now() + SECS * 1000;
  const cpu0 = cpuOf(pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNS }, async () => {
      while (Date.now() < end) {
        const r = await post(agent, target, await surface.call());
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
const bearer = json({ authorization: `Bearer ${TOKEN}` });

const V1: Surface = {
  name: '/v1 (native, Bearer)',
  call: () => ({ path: '/v1/keys/bench/encrypt', headers: bearer, body: JSON.stringify({ plaintext }) }),
  ok: (s) => s === 200,
};

const TRANSIT: Surface = {
  name: 'Vault transit (X-Vault-Token)',
  call: () => ({ path: '/v1/transit/encrypt/bench', headers: json({ 'x-vault-token': TOKEN }), body: JSON.stringify({ plaintext }) }),
  ok: (s) => s === 200,
};

const VSSM: Surface = {
  name: 'VSSM /REST/v1/symmetric/encrypt (mTLS)',
  call: () => ({ path: '/REST/v1/symmetric/encrypt', headers: json(), body: JSON.stringify({ input: plaintext, keyName: 'bench', algorithm: 'AES/GCM/NoPadding' }) }),
  ok: (s) => s === 200,
};

const V1_MTLS: Surface = { ...V1, name: '/v1 (native, Bearer, mTLS)' };

/** Starts a bench server script, waits until `ready` answers 200, runs `prepare`, and gives the target. */
async function startPhaseServer(script: string, args: string[], target: Target): Promise<{ child: ReturnType<typeof spawn>; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(script, import.meta.url).pathname, String(target.port), ...args], { stdio: 'ignore' });
  const agent = agentFor(target, 1);
  try {
    for (let i = 0; ; i++) {
      try {
        const r = await post(agent, target, { path: '/v1/keys', headers: bearer, body: JSON.stringify({ name: 'bench', type: 'aes256-gcm' }) });
        if (r.status === 200) break;
        if (i > 250) console.error(r.status, r.text.slice(0, 200));
      } catch (e) {
        if (i > 250) console.error(String(e));
      }
      if (i > 300) throw new Error(`bench server ${script} did not start`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    agent.destroy();
  }
  return { child, stop: () => child.kill('SIGTERM') };
}

async function measure(title: string, surfaces: Surface[], target: Target, pid: number): Promise<void> {
  // Warm-up: V8 optimises each route's path; a short run of each before measuring.
  for (const s of surfaces) await runFor(s, target, 2);
  const results = new Map<string, { rps: number[]; cpu: number[] }>(surfaces.map((s) => [s.name, { rps: [], cpu: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of round % 2 === 0 ? surfaces : [...surfaces].reverse()) {
      const r = await run(s, target, pid);
      results.get(s.name)!.rps.push(r.rps);
      results.get(s.name)!.cpu.push(r.cpuUs);
    }
  }
  const base = results.get(surfaces[0]!.name)!;
  const baseRps = median(base.rps);
  const baseCpu = median(base.cpu);
  console.log(`\n## ${title}: encrypt 128 B, aes256-gcm, ${CONNS} connections, ${ROUNDS} rounds of ${SECS} s (median)\n`);
  console.log(`| surface | req/s | vs ${surfaces[0]!.name} (target >= 0.85) | server CPU µs/req | CPU ratio (baseline ÷ surface) |`);
  console.log('|---|---:|---:|---:|---:|');
  for (const s of surfaces) {
    const r = results.get(s.name)!;
    console.log(`| ${s.name} | ${median(r.rps).toFixed(0)} | ${(median(r.rps) / baseRps).toFixed(2)} | ${median(r.cpu).toFixed(0)} | ${(baseCpu / median(r.cpu)).toFixed(2)} |`);
  }
}

async function httpPhase(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-bench-compat-'));
  const target: Target = { port: 20000 + Math.floor(Math.random() * 2000) };
  let server: { child: ReturnType<typeof spawn>; stop: () => void } | undefined;
  try {
    server = await startPhaseServer('./keyhold-noaudit-server.ts', [dir, TOKEN], target);
    const surfaces = [V1, TRANSIT];
    const kms = await kmsSurface(target);
    if (kms !== undefined) surfaces.push(kms);
    await measure('HTTP: compat surfaces vs /v1', surfaces, target, server.child.pid!);
  } finally {
    server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function mtlsPhase(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-bench-compat-mtls-'));
  const pki = join(dir, 'pki');
  const { makePki } = await import('../test/helpers/pki.js');
  mkdirSync(pki, { recursive: true });
  makePki(pki);
  const read = (f: string) => readFileSync(join(pki, f));
  const target: Target = { port: 22000 + Math.floor(Math.random() * 2000), tls: { ca: read('ca.crt'), cert: read('client.crt'), key: read('client.key') } };
  // VSSM's password hash format ($s0$params$salt$hash); only the admin calls use it.
  const salt = randomBytes(16);
  const hash = `$s0$${((10 << 16) | (8 << 8) | 1).toString(16)}$${salt.toString('base64')}$${scryptSync('bench', salt, 32, { N: 1024, r: 8, p: 1 }).toString('base64')}`;
  let server: { child: ReturnType<typeof spawn>; stop: () => void } | undefined;
  try {
    server = await startPhaseServer('./keyhold-mtls-server.ts', [dir, TOKEN, pki, hash], target);
    await measure('mTLS: VSSM vs /v1', [V1_MTLS, VSSM], target, server.child.pid!);
  } finally {
    server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runFor(s: Surface, target: Target, secs: number): Promise<void> {
  const agent = agentFor(target);
  const end = Date.now() + secs * 1000;
  await Promise.all(
    Array.from({ length: CONNS }, async () => {
      while (Date.now() < end) await post(agent, target, await s.call());
    }),
  );
  agent.destroy();
}

/** The KMS surface, once an identity with an access key exists on the target; undefined if this build has no KMS API. */
async function kmsSurface(target: Target): Promise<Surface | undefined> {
  const agent = agentFor(target, 1);
  try {
    const user = await post(agent, target, { path: '/v1/auth/users', headers: bearer, body: JSON.stringify({ name: 'bench-kms', password: `pw-${randomBytes(12).toString('hex')}`, groups: ['admins'] }) });
    if (user.status !== 200) throw new Error(`creating the KMS bench user: ${user.status} ${user.text}`);
    const created = await post(agent, target, { path: '/v1/auth/access-keys', headers: bearer, body: JSON.stringify({ principalType: 'User', principalName: 'bench-kms' }) });
    if (created.status === 404) return undefined;
    if (created.status !== 200) throw new Error(`creating the KMS access key: ${created.status} ${created.text}`);
    const { accessKeyId, secretAccessKey } = JSON.parse(created.text) as { accessKeyId: string; secretAccessKey: string };
    // The AWS SDK's signer, as @aws-sdk/client-kms signs (node:crypto hashing): each request signed afresh, as a client would.
    const { sigv4Signer, kmsHeaders } = await import('../test/helpers/kms-signer.js');
    const sign = sigv4Signer({ accessKeyId, secretAccessKey, host: `127.0.0.1:${target.port}` });
    const body = JSON.stringify({ KeyId: 'bench', Plaintext: plaintext });
    return {
      name: 'AWS KMS Encrypt (SigV4-signed)',
      call: async () => {
        const signed = await sign(kmsHeaders('Encrypt'), body);
        return { path: '/', headers: signed.headers, body };
      },
      ok: (s) => s === 200,
    };
  } finally {
    agent.destroy();
  }
}

await httpPhase();
await mtlsPhase();
