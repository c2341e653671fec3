/**
 * Review of issue 15, finding 7: whether a PATCH lifts a release policy is
 * decided on the record under the key's (secret's) lock. Before, the route
 * checked a record read outside the lock: a password-only PATCH
 * {releasePolicy: null}, checked before an administrator's "add a policy"
 * committed and applied after it, removed the new binding without
 * changeKeyReleasePolicy. Each test lands the administrator's change right
 * after the attacker's request first reads the record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer } from '../helpers/keyhold.js';
import { POLICY, vault } from './release-policy-fixture.js';

test("a key's release policy added while a password-only PATCH {releasePolicy: null} is in flight is not removed", async (t) => {
  const { app, ops } = await vault(t);
  const { keys } = app.services;
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(ops), payload: { name: 'k', type: 'aes256-gcm' } })).statusCode, 200);
  const store = keys.store;
  const require = store.require.bind(store);
  let armed = true;
  // The first read by the attacker's request lets the administrator's change commit before it goes on.
  store.require = async (name: string) => {
    const before = await require(name);
    if (armed) {
      armed = false;
      await keys.update('k', { releasePolicy: POLICY }, () => undefined);
    }
    return before;
  };
  const res = await app.api.inject({ method: 'PATCH', url: '/v1/keys/k', headers: bearer(ops), payload: { releasePolicy: null } });
  store.require = require;
  assert.equal(armed, false, 'the administrator change landed');
  assert.equal(res.statusCode, 403, res.body);
  assert.equal(res.json().error.code, 'KH_AUTH_PERMISSION_DENIED');
  assert.deepEqual((await keys.get('k')).record.releasePolicy?.pcrs, POLICY.pcrs, 'the binding stands');
});

test("a secret's release policy added while a password-only metadata write {releasePolicy: null} is in flight is not removed", async (t) => {
  const { app, ops } = await vault(t);
  const { secrets } = app.services;
  const store = secrets.store;
  const metadata = store.metadata.bind(store);
  let adminChange: Promise<unknown> | undefined;
  // On the attacker's first read the administrator's change is queued: it runs before the
  // attacker's write if that read was outside the path's lock, after it if inside.
  store.metadata = (path: string) => {
    adminChange ??= secrets.updateMetadata('app/db', { releasePolicy: POLICY }, () => undefined);
    return metadata(path);
  };
  const res = await app.api.inject({ method: 'POST', url: '/v1/secrets/metadata/app/db', headers: bearer(ops), payload: { releasePolicy: null } });
  store.metadata = metadata;
  assert.ok(adminChange !== undefined, 'the administrator change was queued');
  await adminChange;
  assert.ok(res.statusCode === 200 || res.statusCode === 403, res.body);
  assert.deepEqual((await secrets.metadata('app/db')).releasePolicy?.pcrs, POLICY.pcrs, 'the binding stands');
});

test('a change of a release policy through the keys or secrets layer without an authorisation callback is a programming error', async (t) => {
  const { app } = await vault(t);
  assert.throws(() => app.services.keys.update('k', { releasePolicy: null }), TypeError);
  await assert.rejects(app.services.secrets.updateMetadata('app/db', { releasePolicy: null }), TypeError);
});
