/**
 * /v1/auth/access-keys over HTTP: the secret is answered once and never
 * listed or audited in the clear; the routes are policy-checked like the
 * other identity routes (deleting needs a second factor); a key deleted
 * through the API is refused by the SigV4 authenticator at once.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyholdApp } from '../../src/api/keyhold-app.js';
import { KeyholdError } from '../../src/errors.js';
import { bearer, configuredVault, opsAdmin } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { signWithSdk } from '../helpers/sigv4.js';

async function vault(t: Pick<TestContext, 'after'>): Promise<{ app: KeyholdApp; rootToken: string; auditFile: string }> {
  const dir = tempDir(t);
  const auditFile = join(dir, 'audit.log');
  const { app, rootToken } = await configuredVault(t, { auth: await opsAdmin(), audit: { file: auditFile }, compat: { kms: { region: 'ap-south-1' } } }, dir);
  return { app, rootToken, auditFile };
}

test('create answers the secret once; list never shows it; delete removes the key; the audit log holds no secret', async (t) => {
  const { app, rootToken, auditFile } = await vault(t);
  await app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: bearer(rootToken), payload: { name: 'alice', password: 'alice-password', groups: ['app'] } });

  const created = await app.api.inject({ method: 'POST', url: '/v1/auth/access-keys', headers: bearer(rootToken), payload: { principalType: 'User', principalName: 'alice', description: 'orders service' } });
  assert.equal(created.statusCode, 200, created.body);
  const key = created.json<{ accessKeyId: string; secretAccessKey: string; principalType: string; principalName: string; description: string; createdAt: string }>();
  assert.match(key.accessKeyId, /^KHAK[A-Z2-7]{16}$/);
  assert.match(key.secretAccessKey, /^[A-Za-z0-9+/]{40}$/);
  assert.equal(key.principalName, 'alice');
  assert.equal(key.description, 'orders service');

  const listed = await app.api.inject({ method: 'GET', url: '/v1/auth/access-keys', headers: bearer(rootToken) });
  assert.equal(listed.statusCode, 200);
  assert.deepEqual(listed.json(), { accessKeys: [{ accessKeyId: key.accessKeyId, principalType: 'User', principalName: 'alice', description: 'orders service', createdAt: key.createdAt }] });
  assert.ok(!listed.body.includes(key.secretAccessKey));

  // The key works with the configured region (compat.kms.region) until it is deleted through the API.
  const request = await signWithSdk({ accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, region: 'ap-south-1', service: 'kms', date: new Date(), headers: { 'x-amz-target': 'TrentService.ListKeys' }, body: new TextEncoder().encode('{}') });
  const who = await app.services.accessKeys.authenticate(request, 'kms');
  assert.deepEqual(who.principal, { type: 'User', id: 'alice', groups: ['app'], amr: ['sigv4'] });
  assert.equal(who.region, 'ap-south-1');

  const deleted = await app.api.inject({ method: 'DELETE', url: `/v1/auth/access-keys/${key.accessKeyId}`, headers: bearer(rootToken) });
  assert.equal(deleted.statusCode, 200, deleted.body);
  assert.deepEqual(deleted.json(), { deleted: true });
  await assert.rejects(app.services.accessKeys.authenticate(request, 'kms'), (e: unknown) => e instanceof KeyholdError && e.code === 'KH_SIGV4_UNKNOWN_ACCESS_KEY');
  const again = await app.api.inject({ method: 'DELETE', url: `/v1/auth/access-keys/${key.accessKeyId}`, headers: bearer(rootToken) });
  assert.equal(again.statusCode, 404);
  assert.equal(again.json().error.code, 'KH_ACCESS_KEY_NOT_FOUND');
  assert.deepEqual((await app.api.inject({ method: 'GET', url: '/v1/auth/access-keys', headers: bearer(rootToken) })).json(), { accessKeys: [] });

  const audit = readFileSync(auditFile, 'utf8');
  assert.ok(audit.includes('createAccessKey'), 'the creation was audited');
  assert.ok(!audit.includes(key.secretAccessKey), 'the secret is not in the audit log');
  assert.ok(!audit.includes(key.secretAccessKey.slice(0, 20)), 'not even part of it');
});

test('bad input is refused with registered codes', async (t) => {
  const { app, rootToken } = await vault(t);
  const post = (payload: object) => app.api.inject({ method: 'POST', url: '/v1/auth/access-keys', headers: bearer(rootToken), payload });
  const cases: [object, number, string][] = [
    [{ principalType: 'User', principalName: 'ghost' }, 404, 'KH_IDENTITY_NOT_FOUND'],
    [{ principalType: 'Machine', principalName: 'ops' }, 404, 'KH_IDENTITY_NOT_FOUND'],
    [{ principalType: 'Group', principalName: 'ops' }, 400, 'KH_BAD_REQUEST'],
    [{ principalType: 'User' }, 400, 'KH_BAD_REQUEST'],
    [{ principalType: 'User', principalName: 'ops', description: 'x'.repeat(257) }, 400, 'KH_BAD_REQUEST'],
    [{ principalType: 'User', principalName: 'ops', description: 'bell\u0007' }, 400, 'KH_BAD_REQUEST'],
    [{ principalType: 'User', principalName: 'ops', secretAccessKey: 'chosen-by-caller' }, 400, 'KH_BAD_REQUEST'],
  ];
  for (const [payload, status, code] of cases) {
    const r = await post(payload);
    assert.equal(r.statusCode, status, `${JSON.stringify(payload)}: ${r.body}`);
    assert.equal(r.json().error.code, code);
  }
  const badId = await app.api.inject({ method: 'DELETE', url: '/v1/auth/access-keys/AKIAIOSFODNN7EXAMPLE', headers: bearer(rootToken) });
  assert.equal(badId.statusCode, 400);
  assert.equal(badId.json().error.code, 'KH_BAD_REQUEST');
  // The configured admin is a user too: it may have keys.
  assert.equal((await post({ principalType: 'User', principalName: 'ops' })).statusCode, 200);
});

test('the routes need a token and a policy: users are denied by default, admins need a second factor to delete', async (t) => {
  const { app, rootToken } = await vault(t);
  await app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: bearer(rootToken), payload: { name: 'alice', password: 'alice-password' } });
  const key = (await app.api.inject({ method: 'POST', url: '/v1/auth/access-keys', headers: bearer(rootToken), payload: { principalType: 'User', principalName: 'alice' } })).json<{ accessKeyId: string }>();

  assert.equal((await app.api.inject({ method: 'GET', url: '/v1/auth/access-keys' })).json().error.code, 'KH_AUTH_TOKEN_MISSING');
  const alice = (await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'alice', password: 'alice-password' } })).json<{ accessToken: string }>().accessToken;
  for (const [method, url] of [['GET', '/v1/auth/access-keys'], ['POST', '/v1/auth/access-keys'], ['DELETE', `/v1/auth/access-keys/${key.accessKeyId}`]] as const) {
    const r = await app.api.inject({ method, url, headers: bearer(alice), ...(method === 'POST' ? { payload: { principalType: 'User', principalName: 'alice' } } : {}) });
    assert.equal(r.statusCode, 403, `${method} ${url}`);
  }

  const ops = (await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'ops', password: 'ops-password' } })).json<{ accessToken: string }>().accessToken;
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/auth/access-keys', headers: bearer(ops), payload: { principalType: 'User', principalName: 'alice' } })).statusCode, 200);
  assert.equal((await app.api.inject({ method: 'GET', url: '/v1/auth/access-keys', headers: bearer(ops) })).statusCode, 200);
  const del = await app.api.inject({ method: 'DELETE', url: `/v1/auth/access-keys/${key.accessKeyId}`, headers: bearer(ops) });
  assert.equal(del.statusCode, 403, 'deleteAccessKey is destructive: it needs MFA');
  assert.equal(del.json().error.code, 'KH_AUTH_PERMISSION_DENIED');
});
