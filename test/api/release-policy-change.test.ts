/**
 * Issue 15 M8: the attestation binding of a key or secret is not removable by
 * whoever may update it. Adding a release policy (tightening) is a plain
 * updateKey / writeSecretMetadata; removing or replacing one is asked as
 * changeKeyReleasePolicy / changeSecretReleasePolicy, destructive actions the
 * default bundle grants only with a second factor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call } from '../helpers/keyhold.js';
import { POLICY, vault } from './release-policy-fixture.js';

const OTHER = { pcrs: { '0': 'cd'.repeat(48) }, maxAgeSeconds: 300 };

test("a password-only admin cannot remove or replace a key's release policy; adding one or keeping it is a plain update", async (t) => {
  const { app, rootToken, ops } = await vault(t);
  assert.equal((await call(app, ops, 'POST', '/v1/keys', { name: 'bound', type: 'aes256-gcm', releasePolicy: POLICY })).statusCode, 200);
  for (const releasePolicy of [null, OTHER]) {
    const res = await call(app, ops, 'PATCH', '/v1/keys/bound', { releasePolicy });
    assert.equal(res.statusCode, 403, res.body);
    assert.equal(res.json().error.code, 'KH_AUTH_PERMISSION_DENIED');
  }
  const meta = (await call(app, ops, 'GET', '/v1/keys/bound')).json();
  assert.deepEqual(meta.releasePolicy.pcrs, POLICY.pcrs, 'the binding is intact');
  // The same policy (spelt in upper case hex) with another change is no loosening.
  const same = await call(app, ops, 'PATCH', '/v1/keys/bound', { description: 'still bound', releasePolicy: { ...POLICY, pcrs: { '0': 'AB'.repeat(48) } } });
  assert.equal(same.statusCode, 200, same.body);
  assert.equal((await call(app, ops, 'PATCH', '/v1/keys/bound', { description: 'untouched policy' })).statusCode, 200);

  // Tightening: a key without a policy gains one by a plain update.
  assert.equal((await call(app, ops, 'POST', '/v1/keys', { name: 'free', type: 'aes256-gcm' })).statusCode, 200);
  assert.equal((await call(app, ops, 'PATCH', '/v1/keys/free', { releasePolicy: POLICY })).statusCode, 200);

  // With a second factor (the root token counts as one) the change is allowed.
  const lifted = await call(app, rootToken, 'PATCH', '/v1/keys/bound', { releasePolicy: null });
  assert.equal(lifted.statusCode, 200, lifted.body);
  assert.equal(lifted.json().releasePolicy, undefined);
});

test("the same holds for a secret's release policy", async (t) => {
  const { app, rootToken, ops } = await vault(t);
  assert.equal((await call(app, ops, 'POST', '/v1/secrets/metadata/app/db', { releasePolicy: POLICY })).statusCode, 200, 'setting one on a new path tightens');
  for (const releasePolicy of [null, OTHER]) {
    const res = await call(app, ops, 'POST', '/v1/secrets/metadata/app/db', { releasePolicy });
    assert.equal(res.statusCode, 403, res.body);
    assert.equal(res.json().error.code, 'KH_AUTH_PERMISSION_DENIED');
  }
  assert.equal((await call(app, ops, 'POST', '/v1/secrets/metadata/app/db', { maxVersions: 5 })).statusCode, 200, 'other settings stay a plain write');
  assert.equal((await call(app, rootToken, 'POST', '/v1/secrets/metadata/app/db', { releasePolicy: null })).statusCode, 200);
});
