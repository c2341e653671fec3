/** Shared setup for the policy tests: an unsealed barrier, signing keys, signed bundles, requests. */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Barrier } from '../../src/barrier/barrier.js';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { signBundle } from '../../src/policy/bundle.js';
import type { AuthorizationRequest } from '../../src/policy/policy-engine.js';
import type { KeyholdApp } from '../../src/api/keyhold-app.js';
import { tempDir } from '../helpers/temp-dir.js';

export interface SigningKey {
  kid: string;
  privatePem: string;
  publicPem: string;
}

export function signingKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { kid, privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

export const trusted = (...keys: SigningKey[]) => keys.map((k) => ({ kid: k.kid, publicKey: k.publicPem }));

/** A barrier on a temp SQLite file, unsealed; `reopen()` gives a fresh barrier on the same storage (a restart). */
export async function unsealedBarrier(t: Pick<TestContext, 'after'>): Promise<{ barrier: Barrier; rootKey: Uint8Array; reopen(): Promise<Barrier> }> {
  const path = join(tempDir(t), 'policy.db');
  const rootKey = new Uint8Array(randomBytes(32));
  const backend = new SqliteBackend({ path });
  const barrier = new Barrier(backend);
  await backend.transaction([barrier.createKeyring(rootKey)]);
  t.after(() => backend.close());
  return {
    barrier,
    rootKey,
    async reopen() {
      const again = new SqliteBackend({ path });
      t.after(() => again.close());
      const b = new Barrier(again);
      await b.unseal(rootKey);
      return b;
    },
  };
}

export interface BundleFields {
  version: number;
  issuedAt?: string;
  policies: string;
  entities?: unknown[];
  schema?: unknown;
}

export const bundleBytes = (b: BundleFields): Uint8Array =>
  new TextEncoder().encode(JSON.stringify({ issuedAt: '2026-01-02T03:04:05Z', entities: [], ...b }, null, 2));

export async function signed(key: SigningKey, b: BundleFields | Uint8Array): Promise<{ bytes: Uint8Array; signature: string }> {
  const bytes = b instanceof Uint8Array ? b : bundleBytes(b);
  return { bytes, signature: await signBundle(bytes, key.privatePem, key.kid) };
}

/** Signs `policies` with `key` as bundle version 1 and pushes it through POST /v1/sys/policy as `token`; asserts it is accepted. */
export async function pushPolicies(app: KeyholdApp, token: string, key: SigningKey, policies: string): Promise<void> {
  const { bytes, signature } = await signed(key, { version: 1, policies });
  const pushed = await app.api.inject({ method: 'POST', url: '/v1/sys/policy', headers: { authorization: `Bearer ${token}` }, payload: { bundle: Buffer.from(bytes).toString('base64'), signature } });
  assert.equal(pushed.statusCode, 200, pushed.body);
}

type Principal = AuthorizationRequest['principal'];

export function request(
  principal: Partial<Principal> & Pick<Principal, 'id'>,
  action: string,
  resource: AuthorizationRequest['resource'] = action === 'seal' || action === 'pushPolicy' || action === 'showPolicy' ? { type: 'System', id: action === 'seal' ? 'seal' : 'policy' } : { type: 'Key', id: 'payments' },
  context: Partial<AuthorizationRequest['context']> = {},
): AuthorizationRequest {
  return {
    principal: { type: 'User', groups: [], ...principal },
    action,
    resource,
    context: { mfa: false, authMethods: ['pwd'], sourceIp: '127.0.0.1', apiSurface: 'v1', batch: false, ...context },
  };
}

export const ROOT = { type: 'User', id: 'root', groups: [] } as const;
