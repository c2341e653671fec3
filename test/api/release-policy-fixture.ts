/** Shared by the release-policy-change tests: a vault with a password-only administrator session, and a release policy to bind. */
import type { TestContext } from 'node:test';
import type { KeyholdApp } from '../../src/api/keyhold-app.js';
import { configuredVault, opsAdmin } from '../helpers/keyhold.js';

/** A release policy (PCR0 and a 300 s freshness bound) to put on keys and secrets. */
export const POLICY = { pcrs: { '0': 'ab'.repeat(48) }, maxAgeSeconds: 300 };

/** An unsealed vault with the root token and `ops`, a session of the administrator "ops" logged in with its password only (no second factor). */
export async function vault(t: Pick<TestContext, 'after'>): Promise<{ app: KeyholdApp; rootToken: string; ops: string }> {
  const { app, rootToken } = await configuredVault(t, { auth: await opsAdmin() });
  const ops = (await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'ops', password: 'ops-password' } })).json().accessToken as string;
  return { app, rootToken, ops };
}
