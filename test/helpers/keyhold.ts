/**
 * Builds a Keyhold app on a temp SQLite file for inject()-based tests, and
 * helpers to initialise and unseal it through the real HTTP routes.
 */
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold, type KeyholdApp } from '../../src/api/keyhold-app.js';
import { startServer, type RunningKeyhold } from '../../src/api/server.js';
import { hashPassword } from '../../src/auth/password.js';
import { tempDir } from './temp-dir.js';
import { makePki, type Pki } from './pki.js';

export interface TestVault {
  app: KeyholdApp;
  dir: string;
  dbPath: string;
}

/**
 * The fuzzers send thousands of requests a second to public routes from one
 * address (inject's 127.0.0.1); the per-address limit of public routes is
 * tested on its own (test/api/request-limits.test.ts), so these vaults lift it.
 */
export const TEST_LIMITS = { publicRequests: { burst: 1_000_000, perSecond: 1_000_000 } };

export async function testVault(t: Pick<TestContext, 'after'>, dir = tempDir(t)): Promise<TestVault> {
  const dbPath = join(dir, 'keyhold.db');
  const config = resolveConfig({ storage: { path: dbPath }, listeners: { api: { port: 0 }, health: { port: 0 } }, log: { level: 'silent' }, limits: TEST_LIMITS });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  return { app, dir, dbPath };
}

export async function initVault(app: KeyholdApp, shares = 3, threshold = 2): Promise<{ shares: string[]; rootToken: string }> {
  const res = await app.api.inject({ method: 'POST', url: '/v1/sys/init', payload: { shares, threshold } });
  if (res.statusCode !== 200) throw new Error(`init failed: ${res.statusCode} ${res.body}`);
  return res.json();
}

export async function unsealVault(app: KeyholdApp, shares: string[]): Promise<void> {
  for (const key of shares) {
    const res = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key } });
    if (res.statusCode !== 200) throw new Error(`unseal failed: ${res.statusCode} ${res.body}`);
  }
}

/** A vault that is initialised (3 shares, threshold 2) and unsealed. */
export async function unsealedVault(t: Pick<TestContext, 'after'>, dir?: string): Promise<TestVault & { shares: string[]; rootToken: string }> {
  const v = await testVault(t, dir);
  const init = await initVault(v.app);
  await unsealVault(v.app, init.shares.slice(0, 2));
  return { ...v, ...init };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** One request as `token`, with `payload` as its JSON body when given. */
export const call = (app: KeyholdApp, token: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  app.api.inject({ method, url, headers: bearer(token), ...(payload !== undefined && { payload }) });

/** The `auth` config section of a password-only administrator "ops". */
export async function opsAdmin(password = 'ops-password'): Promise<{ admin: { username: string; passwordHash: string } }> {
  return { admin: { username: 'ops', passwordHash: await hashPassword(password) } };
}

/**
 * An app on `dir`/k.db (log silent) with the config `sections` added (auth, policy, audit...), initialised with one share and unsealed.
 * Unlike testVault it adds no listeners or limits: what the test configures is all there is.
 */
export async function configuredVault(t: Pick<TestContext, 'after'>, sections: Record<string, unknown> = {}, dir = tempDir(t)): Promise<{ app: KeyholdApp; rootToken: string; dir: string }> {
  const config = resolveConfig({ storage: { path: join(dir, 'k.db') }, log: { level: 'silent' }, ...sections });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const init = await initVault(app, 1, 1);
  await unsealVault(app, init.shares);
  return { app, rootToken: init.rootToken, dir };
}

/** A listening server on `dir`/k.db, not yet initialised (for tests of init itself); closed after the test. */
export async function listeningVault(t: Pick<TestContext, 'after'>, dir: string, overrides: Record<string, unknown> = {}): Promise<RunningKeyhold> {
  const server = await startServer(
    resolveConfig({ storage: { path: join(dir, 'k.db') }, listeners: { api: { port: 0 }, health: { port: 0 } }, log: { level: 'silent' }, ...overrides }),
    { logger: false },
  );
  t.after(() => server.close());
  return server;
}

/**
 * A listening server (random loopback ports) on a temp SQLite file, initialised (3 shares, threshold 2) and unsealed.
 * @param overrides top-level config sections to add (e.g. { enclave: { provider: 'simulated' } })
 */
export async function runningVault(
  t: Pick<TestContext, 'after'>,
  overrides: Record<string, unknown> = {},
): Promise<{ server: RunningKeyhold; dir: string; shares: string[]; rootToken: string }> {
  const dir = tempDir(t);
  const server = await listeningVault(t, dir, { limits: TEST_LIMITS, ...overrides });
  const { shares, rootToken } = await initVault(server);
  await unsealVault(server, shares.slice(0, 2));
  return { server, dir, shares, rootToken };
}

/**
 * A listening server on TLS with a throwaway PKI; client certificates from the PKI's CA are
 * accepted (mTLS) but not required. Initialised (1 share) and unsealed.
 */
export async function runningMtlsVault(t: Pick<TestContext, 'after'>): Promise<{ server: RunningKeyhold; pki: Pki; rootToken: string }> {
  const pki = makePki(tempDir(t));
  const tls = { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: pki.caCert, requireClientCert: false };
  const config = resolveConfig({ storage: { path: join(tempDir(t), 'k.db') }, listeners: { api: { host: '127.0.0.1', port: 0, tls }, health: { port: 0 } }, log: { level: 'silent' } });
  const server = await startServer(config, { logger: false });
  t.after(() => server.close());
  const { shares, rootToken } = await initVault(server, 1, 1);
  await unsealVault(server, shares);
  return { server, pki, rootToken };
}
