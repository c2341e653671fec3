/**
 * Issue 15 M5: identity management is authorised on the identity it acts on
 * (`Keyhold::User::"name"` / `Keyhold::Machine::"name"`, its groups as Cedar
 * parents), and a created identity's groups are in context.requestedGroups. A
 * helpdesk allowed to reset passwords and mint access keys for ordinary users
 * cannot touch an administrator, nor create one.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { KeyholdApp } from '../../src/api/keyhold-app.js';
import { call, configuredVault, opsAdmin } from '../helpers/keyhold.js';
import { pushPolicies, signed, signingKey, trusted } from '../policy/policy-fixtures.js';

const POLICY_KEY = signingKey('m5');

const HELPDESK = `
permit(principal == Keyhold::User::"root", action, resource);
permit(principal in Keyhold::Group::"admins", action, resource);
@id("helpdesk")
permit(
  principal in Keyhold::Group::"helpdesk",
  action in [Keyhold::Action::"setUserPassword", Keyhold::Action::"createAccessKey", Keyhold::Action::"deleteAccessKey", Keyhold::Action::"createUser", Keyhold::Action::"readUser", Keyhold::Action::"listUsers", Keyhold::Action::"listAccessKeys"],
  resource
)
unless { resource in Keyhold::Group::"admins" || context.requestedGroups.contains(Keyhold::Group::"admins") };
`;

async function vault(t: Pick<TestContext, 'after'>): Promise<{ app: KeyholdApp; rootToken: string }> {
  const { app, rootToken } = await configuredVault(t, { auth: await opsAdmin(), policy: { trustedKeys: trusted(POLICY_KEY) } });
  await pushPolicies(app, rootToken, POLICY_KEY, HELPDESK);
  return { app, rootToken };
}

const denied = (res: { statusCode: number; body: string; json(): { error: { code: string } } }, what: string) => {
  assert.equal(res.statusCode, 403, `${what}: ${res.body}`);
  assert.equal(res.json().error.code, 'KH_AUTH_PERMISSION_DENIED', what);
};

test('a helpdesk may reset passwords and mint access keys for users outside admins, never for an administrator', async (t) => {
  const { app, rootToken } = await vault(t);
  for (const [name, groups] of [['hd', ['helpdesk']], ['alice', []], ['boss', ['admins']]] as const)
    assert.equal((await call(app, rootToken, 'POST', '/v1/auth/users', { name, password: `${name}-password-1`, groups })).statusCode, 200);
  const hd = (await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'hd', password: 'hd-password-1' } })).json().accessToken as string;

  // The pen test's takeover: the built-in admin's password and an access key for it.
  denied(await call(app, hd, 'POST', '/v1/auth/users/ops/password', { password: 'taken-over-1' }), 'password of the built-in admin');
  denied(await call(app, hd, 'POST', '/v1/auth/users/boss/password', { password: 'taken-over-1' }), 'password of a user in admins');
  denied(await call(app, hd, 'POST', '/v1/auth/access-keys', { principalType: 'User', principalName: 'ops' }), 'access key for the built-in admin');
  denied(await call(app, hd, 'POST', '/v1/auth/access-keys', { principalType: 'User', principalName: 'boss' }), 'access key for an admin');
  denied(await call(app, hd, 'POST', '/v1/auth/users', { name: 'mole', password: 'mole-password', groups: ['admins'] }), 'creating an administrator');
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'ops', password: 'ops-password' } })).statusCode, 200, 'the admin still logs in');

  // Within its remit the helpdesk works.
  assert.equal((await call(app, hd, 'POST', '/v1/auth/users/alice/password', { password: 'alice-password-2' })).statusCode, 200);
  const key = await call(app, hd, 'POST', '/v1/auth/access-keys', { principalType: 'User', principalName: 'alice' });
  assert.equal(key.statusCode, 200, key.body);
  assert.equal((await call(app, hd, 'POST', '/v1/auth/users', { name: 'newbie', password: 'newbie-password', groups: ['staff'] })).statusCode, 200);

  // An admin's access key cannot be deleted by the helpdesk either; alice's can.
  const bossKey = (await call(app, rootToken, 'POST', '/v1/auth/access-keys', { principalType: 'User', principalName: 'boss' })).json().accessKeyId as string;
  denied(await call(app, hd, 'DELETE', `/v1/auth/access-keys/${bossKey}`), "deleting an admin's access key");
  assert.equal((await call(app, hd, 'DELETE', `/v1/auth/access-keys/${key.json().accessKeyId as string}`)).statusCode, 200);

  // Listings show what readUser allows: no administrator, and none of their keys.
  const users = (await call(app, hd, 'GET', '/v1/auth/users')).json().users as { name: string }[];
  assert.deepEqual(users.map((u) => u.name).sort(), ['alice', 'hd', 'newbie']);
  const keys = (await call(app, hd, 'GET', '/v1/auth/access-keys')).json().accessKeys as { principalName: string }[];
  assert.ok(!keys.some((k) => k.principalName === 'boss'), JSON.stringify(keys));
  assert.equal((await call(app, rootToken, 'GET', '/v1/auth/access-keys')).json().accessKeys.length, 1, 'root sees the admin key');
});

test('machines are resources too: a group-scoped policy reaches only the machines in its group', async (t) => {
  const { app, rootToken } = await vault(t);
  const { bytes, signature } = await signed(POLICY_KEY, {
    version: 2,
    policies: `permit(principal == Keyhold::User::"root", action, resource);
permit(principal in Keyhold::Group::"ci-owners", action in [Keyhold::Action::"deleteMachine", Keyhold::Action::"readMachine", Keyhold::Action::"listMachines"], resource)
  when { resource in Keyhold::Group::"ci" || resource is Keyhold::System };`,
  });
  assert.equal((await call(app, rootToken, 'POST', '/v1/sys/policy', { bundle: Buffer.from(bytes).toString('base64'), signature })).statusCode, 200);
  const pem = () => generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
  for (const [name, groups] of [['runner', ['ci']], ['db', ['prod']]] as const)
    assert.equal((await call(app, rootToken, 'POST', '/v1/auth/machines', { name, publicKey: pem(), groups })).statusCode, 200);
  assert.equal((await call(app, rootToken, 'POST', '/v1/auth/users', { name: 'owner', password: 'owner-password', groups: ['ci-owners'] })).statusCode, 200);
  const owner = (await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'owner', password: 'owner-password' } })).json().accessToken as string;
  assert.deepEqual(((await call(app, owner, 'GET', '/v1/auth/machines')).json().machines as { name: string }[]).map((m) => m.name), ['runner']);
  denied(await call(app, owner, 'DELETE', '/v1/auth/machines/db'), 'a machine outside the group');
  assert.equal((await call(app, owner, 'DELETE', '/v1/auth/machines/runner')).statusCode, 200);
});
