/**
 * A policy refusal tells the caller which condition failed in terms it
 * already holds (the action and the key or secret path it sent; a missing
 * second factor, only to a user who has one enrolled), never the policy text or ids, another principal's name, or
 * whether the object exists; the "refused" audit entry names the deciding
 * policies.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generate } from 'otplib';
import { join } from 'node:path';
import type { KeyholdApp } from '../../src/api/keyhold-app.js';
import { call, configuredVault, opsAdmin } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { pushPolicies, signingKey, trusted } from '../policy/policy-fixtures.js';

const POLICY_KEY = signingKey('denials');

const POLICIES = `
@id("root")
permit(principal == Keyhold::User::"root", action, resource);
@id("admins")
permit(principal in Keyhold::Group::"admins", action, resource);
@id("destructive-needs-mfa")
forbid(principal, action in Keyhold::Action::"destructive", resource) unless { context.mfa };
@id("payroll-is-hr-only")
forbid(principal, action, resource is Keyhold::Secret)
when { resource.path like "payroll/*" && !(principal in Keyhold::Group::"hr") && principal != Keyhold::User::"root" };
`;

interface Denial {
  action: string;
  resourceType: string;
  resource: string;
  policies: string[];
  errored: string[];
  needsMfa: boolean;
}

async function vault(t: Pick<TestContext, 'after'>): Promise<{ app: KeyholdApp; rootToken: string; auditFile: string }> {
  const dir = tempDir(t);
  const auditFile = join(dir, 'audit.log');
  const { app, rootToken } = await configuredVault(t, { auth: await opsAdmin(), policy: { trustedKeys: trusted(POLICY_KEY) }, audit: { file: auditFile } }, dir);
  await pushPolicies(app, rootToken, POLICY_KEY, POLICIES);
  return { app, rootToken, auditFile };
}

async function login(app: KeyholdApp, username: string, password: string): Promise<string> {
  const res = await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username, password } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<{ accessToken: string }>().accessToken;
}

function deniedMessage(res: { statusCode: number; body: string; json<T>(): T }): string {
  assert.equal(res.statusCode, 403, res.body);
  const { error } = res.json<{ error: { code: string; message: string } }>();
  assert.equal(error.code, 'KH_AUTH_PERMISSION_DENIED');
  // Nothing of the bundle reaches the caller: neither its text nor a policy id.
  for (const secret of ['forbid', 'permit', 'payroll-is-hr-only', 'destructive-needs-mfa', 'admins', 'Group']) assert.ok(!error.message.includes(secret), `"${secret}" in ${error.message}`);
  return error.message;
}

/** The denial of the latest "refused" entry for `route`. */
function auditedDenial(auditFile: string, route: string): Denial {
  const entries = readFileSync(auditFile, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as { type: string; route?: string; code?: string; denial?: Denial });
  const refused = entries.filter((e) => e.type === 'refused' && e.route === route);
  const last = refused[refused.length - 1];
  assert.ok(last?.denial !== undefined, `a refused entry for ${route} with its denial`);
  assert.equal(last.code, 'KH_AUTH_PERMISSION_DENIED');
  return last.denial;
}

test('a password-only session hears that a second factor would do only once the user has one enrolled; the audit entry always says so and names the forbid', async (t) => {
  const { app, rootToken, auditFile } = await vault(t);
  assert.equal((await call(app, rootToken, 'POST', '/v1/keys', { name: 'k1', type: 'aes256-gcm' })).statusCode, 200);
  const ops = await login(app, 'ops', 'ops-password');
  // No second factor enrolled: a stolen password learns nothing about what MFA would unlock.
  assert.equal(deniedMessage(await call(app, ops, 'DELETE', '/v1/keys/k1')), 'policy denies scheduleKeyDeletion on key "k1"');
  const plain = auditedDenial(auditFile, '/v1/keys/:name');
  assert.deepEqual({ ...plain, resource: undefined }, { action: 'scheduleKeyDeletion', resourceType: 'Key', resource: undefined, policies: ['destructive-needs-mfa'], errored: [], needsMfa: true });
  assert.match(plain.resource, /^hmac-sha256:/, 'the key name is HMAC\'d like every client value');

  // The same session, once its user has enrolled: the hint is what the legitimate user needs.
  const { enrollmentCode } = (await call(app, rootToken, 'POST', '/v1/auth/users/ops/totp-enrollment')).json<{ enrollmentCode: string }>();
  const { secret } = (await call(app, ops, 'POST', '/v1/auth/totp/enroll', { enrollmentCode })).json<{ secret: string }>();
  const confirmed = await call(app, ops, 'POST', '/v1/auth/totp/confirm', { code: await generate({ secret, epoch: Math.floor(Date.now() / 1000) }) });
  assert.equal(confirmed.statusCode, 200, confirmed.body);
  const message = deniedMessage(await call(app, ops, 'DELETE', '/v1/keys/k1'));
  assert.match(message, /^scheduleKeyDeletion on key "k1" needs a second factor: log in with your one-time code \(otp\)/);
  assert.equal(auditedDenial(auditFile, '/v1/keys/:name').needsMfa, true);
});

test('a forbid on a secret path names the action and the path the caller sent, the same whether the secret exists or not', async (t) => {
  const { app, rootToken, auditFile } = await vault(t);
  assert.equal((await call(app, rootToken, 'POST', '/v1/secrets/data/payroll/alice', { data: { salary: '1' } })).statusCode, 200);
  const ops = await login(app, 'ops', 'ops-password');
  const existing = deniedMessage(await call(app, ops, 'GET', '/v1/secrets/data/payroll/alice'));
  assert.equal(existing, 'policy denies readSecret on secret path "payroll/alice"');
  const missing = deniedMessage(await call(app, ops, 'GET', '/v1/secrets/data/payroll/nobody'));
  assert.equal(missing, 'policy denies readSecret on secret path "payroll/nobody"', 'no hint of existence');
  const denial = auditedDenial(auditFile, '/v1/secrets/data/*');
  assert.deepEqual([denial.action, denial.resourceType, denial.policies, denial.needsMfa], ['readSecret', 'Secret', ['payroll-is-hr-only'], false]);
});

test("no permit at all is a plain denial; an identity route never names the identity it resolved (another user's access key)", async (t) => {
  const { app, rootToken, auditFile } = await vault(t);
  for (const [name, groups] of [['alice', []], ['boss', ['admins']]] as const)
    assert.equal((await call(app, rootToken, 'POST', '/v1/auth/users', { name, password: `${name}-password-1`, groups })).statusCode, 200);
  const alice = await login(app, 'alice', 'alice-password-1');
  assert.equal(deniedMessage(await call(app, alice, 'GET', '/v1/keys')), 'policy denies listKeys on System "keys"');
  assert.deepEqual(auditedDenial(auditFile, '/v1/keys').policies, [], "Cedar's default deny: no policy decided it");

  const bossKey = (await call(app, rootToken, 'POST', '/v1/auth/access-keys', { principalType: 'User', principalName: 'boss' })).json<{ accessKeyId: string }>().accessKeyId;
  const message = deniedMessage(await call(app, alice, 'DELETE', `/v1/auth/access-keys/${bossKey}`));
  assert.ok(!message.includes('boss'), message);
  assert.match(message, /the identity this request acts on/);
});
