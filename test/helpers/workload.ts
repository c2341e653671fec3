/**
 * A vault with the simulated enclave trusted and workload roles configured,
 * and a workload client: attestation login (challenge -> document with the
 * nonce and its Ed25519 key -> token) and RFC 9421-signed requests through
 * inject(), as the bound token requires.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold, type KeyholdApp } from '../../src/api/keyhold-app.js';
import { createSimulatedProvider, type SimulatedProvider } from '../../src/attestation/simulated/simulated-provider.js';
import { signRequest } from '../../src/auth/http-signature.js';
import { initVault, unsealVault } from './keyhold.js';
import { tempDir } from './temp-dir.js';

export interface WorkloadVault {
  app: KeyholdApp;
  dir: string;
  dbPath: string;
  auditPath: string;
  rootToken: string;
  /** A simulated enclave on the server's trusted root (the build's PCRs, measured once). */
  enclave: SimulatedProvider;
  pcr0: string;
}

const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? new Uint8Array()).toString('hex');

/** @param roles auth.attestRoles; a function gets the build's PCR0 (hex) to pin. */
export async function workloadVault(t: Pick<TestContext, 'after'>, roles: (pcr0: string) => Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<WorkloadVault> {
  const dir = tempDir(t);
  // The workload's enclave: PCRs are measured from the source tree once, here, so edits made meanwhile cannot skew them.
  const enclave = await createSimulatedProvider({ rootDir: join(dir, 'enclave-sim') });
  t.after(() => enclave.close());
  const pcr0 = hex((await enclave.pcrs()).get(0));
  const dbPath = join(dir, 'keyhold.db');
  const auditPath = join(dir, 'audit.log');
  const config = resolveConfig({
    storage: { path: dbPath },
    listeners: { api: { port: 0 }, health: { port: 0 } },
    log: { level: 'silent' },
    audit: { file: auditPath },
    enclave: { provider: 'simulated', trustSimulatedRoot: true },
    auth: { attestRoles: roles(pcr0) },
    ...extra,
  });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const { shares, rootToken } = await initVault(app);
  await unsealVault(app, shares.slice(0, 2));
  return { app, dir, dbPath, auditPath, rootToken, enclave, pcr0 };
}

export interface Workload {
  readonly token: string;
  readonly privateKey: KeyObject;
  /** A signed request with the bound token. */
  call(method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown): Promise<LightMyRequestResponse>;
}

/** An attestation document (base64) from `enclave` with `nonce` (hex) and `publicKey` (SPKI DER). */
export async function documentFor(enclave: SimulatedProvider, nonceHex: string | undefined, publicKey: Uint8Array | undefined): Promise<string> {
  const doc = await enclave.attest({ ...(nonceHex !== undefined && { nonce: new Uint8Array(Buffer.from(nonceHex, 'hex')) }), ...(publicKey !== undefined && { publicKey }) });
  return Buffer.from(doc).toString('base64');
}

export function ed25519Pair(): { privateKey: KeyObject; spki: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })) };
}

export async function challenge(app: KeyholdApp): Promise<string> {
  return (await app.api.inject({ url: '/v1/auth/attest/challenge' })).json<{ nonce: string }>().nonce;
}

export function signedCall(app: KeyholdApp, token: string, privateKey: KeyObject) {
  return async (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown): Promise<LightMyRequestResponse> => {
    const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const authorization = `Bearer ${token}`;
    const sig = signRequest({ method, targetUri: `http://localhost:80${url}`, authorization, privateKey, ...(bytes !== undefined && { body: new Uint8Array(bytes) }) });
    return app.api.inject({
      method,
      url,
      headers: { authorization, ...sig, ...(bytes !== undefined && { 'content-type': 'application/json' }) },
      ...(bytes !== undefined && { payload: bytes }),
    });
  };
}

/** Logs in as `role` with a fresh challenge and key; throws with the answer when refused. */
export async function loginWorkload(app: KeyholdApp, enclave: SimulatedProvider, role: string): Promise<Workload> {
  const { privateKey, spki } = ed25519Pair();
  const res = await app.api.inject({ method: 'POST', url: '/v1/auth/attest/login', payload: { role, attestationDocument: await documentFor(enclave, await challenge(app), spki) } });
  if (res.statusCode !== 200) throw new Error(`workload login failed: ${res.statusCode} ${res.body}`);
  const token = res.json<{ accessToken: string }>().accessToken;
  return { token, privateKey, call: signedCall(app, token, privateKey) };
}
