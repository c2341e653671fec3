/**
 * Issue 15 L3: a listing never shows what reading the item would refuse.
 * GET /v1/keys, the Vault transit key list, AWS KMS ListKeys and ListAliases
 * and /v1/secrets/list each ask the per-item read action (readKey,
 * readSecretMetadata / listSecrets for sub-folders) and drop what is denied.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { KeyholdApp } from '../../src/api/keyhold-app.js';
import { call, configuredVault } from '../helpers/keyhold.js';
import { kmsHeaders, sigv4Signer } from '../helpers/kms-signer.js';
import { pushPolicies, signed, signingKey, trusted } from '../policy/policy-fixtures.js';

const POLICY_KEY = signingKey('l3');

// "auditors" may list everything but read only the key "pub" and the secrets under "shared/".
const POLICIES = `
permit(principal == Keyhold::User::"root", action, resource);
permit(principal in Keyhold::Group::"auditors", action in [Keyhold::Action::"listKeys", Keyhold::Action::"listSecrets"], resource);
permit(principal in Keyhold::Group::"auditors", action == Keyhold::Action::"readKey", resource == Keyhold::Key::"pub");
permit(principal in Keyhold::Group::"auditors", action == Keyhold::Action::"readSecretMetadata", resource is Keyhold::Secret) when { resource.path like "shared/*" };
forbid(principal in Keyhold::Group::"auditors", action == Keyhold::Action::"listSecrets", resource == Keyhold::Secret::"hidden/");
`;

async function vault(t: Pick<TestContext, 'after'>): Promise<{ app: KeyholdApp; rootToken: string }> {
  const { app, rootToken } = await configuredVault(t, { policy: { trustedKeys: trusted(POLICY_KEY) } });
  await pushPolicies(app, rootToken, POLICY_KEY, POLICIES);
  return { app, rootToken };
}

test('key and secret listings show only what the caller may read, on /v1, transit and KMS', async (t) => {
  const { app, rootToken } = await vault(t);
  for (const name of ['pub', 'payments', 'zeta']) assert.equal((await call(app, rootToken, 'POST', '/v1/keys', { name, type: 'aes256-gcm' })).statusCode, 200);
  for (const path of ['shared/a', 'private/b', 'top', 'hidden/x']) assert.equal((await call(app, rootToken, 'POST', `/v1/secrets/data/${path}`, { data: { v: '1' } })).statusCode, 200);
  assert.equal((await call(app, rootToken, 'POST', '/v1/auth/users', { name: 'eve', password: 'eve-password', groups: ['auditors'] })).statusCode, 200);
  const eve = (await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'eve', password: 'eve-password' } })).json().accessToken as string;

  assert.deepEqual(((await call(app, eve, 'GET', '/v1/keys')).json().keys as { name: string }[]).map((k) => k.name), ['pub']);
  assert.equal((await call(app, rootToken, 'GET', '/v1/keys')).json().keys.length, 3, 'root still sees every key');
  assert.deepEqual((await call(app, eve, 'GET', '/v1/transit/keys?list=true')).json().data.keys, ['pub']);

  // Top level: folders whose listing is allowed, leaves whose metadata is readable ("top" is not).
  assert.deepEqual((await call(app, eve, 'GET', '/v1/secrets/list/')).json().keys, ['private/', 'shared/']);
  assert.deepEqual((await call(app, eve, 'GET', '/v1/secrets/list/shared/')).json().keys, ['a']);
  assert.deepEqual((await call(app, eve, 'GET', '/v1/secrets/list/private/')).json().keys, []);

  // AWS KMS, signed with eve's access key.
  const ak = (await call(app, rootToken, 'POST', '/v1/auth/access-keys', { principalType: 'User', principalName: 'eve' })).json() as { accessKeyId: string; secretAccessKey: string };
  const aliases = [['alias/pub', 'pub'], ['alias/pay', 'payments']] as const;
  assert.equal((await call(app, rootToken, 'POST', '/v1/auth/users', { name: 'kmsadmin', password: 'kmsadmin-password', groups: [] })).statusCode, 200);
  const adminKey = (await call(app, rootToken, 'POST', '/v1/auth/access-keys', { principalType: 'User', principalName: 'kmsadmin' })).json() as { accessKeyId: string; secretAccessKey: string };
  const kms = async (creds: { accessKeyId: string; secretAccessKey: string }, operation: string, input: object) => {
    const req = await sigv4Signer(creds)(kmsHeaders(operation), JSON.stringify(input));
    return app.api.inject({ method: 'POST', url: '/', headers: req.headers, payload: req.body });
  };
  // Aliases are made over KMS by a user a second bundle allows everything.
  const { bytes, signature } = await signed(POLICY_KEY, { version: 2, policies: `${POLICIES}\npermit(principal == Keyhold::User::"kmsadmin", action, resource);` });
  assert.equal((await call(app, rootToken, 'POST', '/v1/sys/policy', { bundle: Buffer.from(bytes).toString('base64'), signature })).statusCode, 200);
  for (const [alias, key] of aliases) {
    const made = await kms(adminKey, 'CreateAlias', { AliasName: alias, TargetKeyId: key });
    assert.equal(made.statusCode, 200, made.body);
  }
  const listKeys = await kms(ak, 'ListKeys', {});
  assert.equal(listKeys.statusCode, 200, listKeys.body);
  assert.deepEqual((listKeys.json().Keys as { KeyId: string }[]).map((k) => k.KeyId), ['pub']);
  const listAliases = await kms(ak, 'ListAliases', {});
  assert.equal(listAliases.statusCode, 200, listAliases.body);
  assert.deepEqual((listAliases.json().Aliases as { AliasName: string }[]).map((a) => a.AliasName), ['alias/pub']);
  assert.equal(((await kms(adminKey, 'ListKeys', {})).json().Keys as unknown[]).length, 3);
});
