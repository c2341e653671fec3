/**
 * The secrets store (src/secrets/) on a real barrier over SQLite: versions,
 * check-and-set, soft delete / undelete / destroy, pruning beyond
 * maxVersions, metadata, listing, limits, and nothing in the clear on disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { unsealedVault } from '../helpers/keyhold.js';
import { SecretManager } from '../../src/secrets/secret-manager.js';
import { checkSecretPath } from '../../src/secrets/secret-path.js';
import { MAX_FILE_BYTES } from '../../src/secrets/secret-limits.js';
import { KeyholdError } from '../../src/errors.js';

const code = (c: string) => (e: unknown) => e instanceof KeyholdError && e.code === c;

async function store(t: Parameters<typeof unsealedVault>[0], now?: () => Date) {
  const v = await unsealedVault(t);
  return { ...v, secrets: new SecretManager(v.app.services.barrier, now === undefined ? {} : { now }) };
}

test('writes make versions; reads return the latest or a given version', async (t) => {
  const { secrets } = await store(t);
  const w1 = await secrets.write('app/db', { data: { user: 'app', password: 'one' } });
  const w2 = await secrets.write('app/db', { data: { user: 'app', password: 'two' } });
  assert.deepEqual([w1.version, w2.version, w1.type], [1, 2, 'kv']);
  assert.equal((await secrets.read('app/db')).data.password, 'two');
  assert.equal((await secrets.read('app/db', 1)).data.password, 'one');
  await assert.rejects(secrets.read('app/db', 3), code('KH_SECRET_VERSION_NOT_FOUND'));
  await assert.rejects(secrets.read('app/nope'), code('KH_SECRET_NOT_FOUND'));
  const m = await secrets.metadata('app/db');
  assert.deepEqual([m.currentVersion, m.oldestVersion, m.maxVersions, Object.keys(m.versions)], [2, 1, 10, ['1', '2']]);
});

test('check-and-set: 0 only creates, n only follows version n, casRequired demands it', async (t) => {
  const { secrets } = await store(t);
  await secrets.write('cas/x', { data: { a: '1' }, cas: 0 });
  await assert.rejects(secrets.write('cas/x', { data: { a: '2' }, cas: 0 }), code('KH_SECRET_CAS_MISMATCH'));
  await assert.rejects(secrets.write('cas/x', { data: { a: '2' }, cas: 2 }), code('KH_SECRET_CAS_MISMATCH'));
  assert.equal((await secrets.write('cas/x', { data: { a: '2' }, cas: 1 })).version, 2);
  await secrets.updateMetadata('cas/x', { casRequired: true });
  await assert.rejects(secrets.write('cas/x', { data: { a: '3' } }), code('KH_SECRET_CAS_REQUIRED'));
  // Two concurrent writes with the same cas: exactly one wins.
  const both = await Promise.allSettled([secrets.write('cas/x', { data: { a: 'p' }, cas: 2 }), secrets.write('cas/x', { data: { a: 'q' }, cas: 2 })]);
  assert.deepEqual(both.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
});

test('soft delete, undelete and destroy', async (t) => {
  const { secrets } = await store(t);
  for (const v of ['a', 'b', 'c']) await secrets.write('s/d', { data: { v } });
  await secrets.delete('s/d');
  await assert.rejects(secrets.read('s/d'), code('KH_SECRET_VERSION_DELETED'));
  assert.equal((await secrets.read('s/d', 2)).data.v, 'b');
  await secrets.undelete('s/d', [3]);
  assert.equal((await secrets.read('s/d')).data.v, 'c');
  await secrets.delete('s/d', [1, 2, 99]);
  await assert.rejects(secrets.read('s/d', 1), code('KH_SECRET_VERSION_DELETED'));
  const m = await secrets.destroy('s/d', [1]);
  assert.equal(m.versions['1']!.destroyed, true);
  await assert.rejects(secrets.read('s/d', 1), code('KH_SECRET_VERSION_DESTROYED'));
  // Destroyed data is gone from storage, not only hidden; undelete cannot bring it back.
  assert.equal(await secrets.store.version('s/d', 1), undefined);
  await secrets.undelete('s/d', [1, 2]);
  await assert.rejects(secrets.read('s/d', 1), code('KH_SECRET_VERSION_DESTROYED'));
  assert.equal((await secrets.read('s/d', 2)).data.v, 'b');
});

test('versions beyond maxVersions are pruned, oldest first, data included', async (t) => {
  const { secrets } = await store(t);
  await secrets.updateMetadata('p/q', { maxVersions: 3 });
  for (let i = 1; i <= 5; i++) await secrets.write('p/q', { data: { i: String(i) } });
  const m = await secrets.metadata('p/q');
  assert.deepEqual([m.currentVersion, m.oldestVersion, Object.keys(m.versions)], [5, 3, ['3', '4', '5']]);
  assert.equal(await secrets.store.version('p/q', 2), undefined);
  await assert.rejects(secrets.read('p/q', 1), code('KH_SECRET_VERSION_NOT_FOUND'));
  // Lowering the limit prunes at once.
  const lowered = await secrets.updateMetadata('p/q', { maxVersions: 1 });
  assert.deepEqual(Object.keys(lowered.versions), ['5']);
});

test('deleteVersionAfterSeconds soft-deletes versions when their time comes', async (t) => {
  let now = Date.parse('2030-01-01T00:00:00Z');
  const { secrets } = await store(t, () => new Date(now));
  await secrets.updateMetadata('t/x', { deleteVersionAfterSeconds: 60 });
  await secrets.write('t/x', { data: { a: '1' } });
  assert.equal((await secrets.read('t/x')).data.a, '1');
  now += 61_000;
  await assert.rejects(secrets.read('t/x'), code('KH_SECRET_VERSION_DELETED'));
  await secrets.undelete('t/x', [1]);
  assert.equal((await secrets.read('t/x')).data.a, '1');
});

test('metadata: custom metadata, limits, and delete of everything', async (t) => {
  const { secrets } = await store(t);
  const m = await secrets.updateMetadata('m/x', { customMetadata: { owner: 'team-a' }, maxVersions: 5 });
  assert.deepEqual([m.currentVersion, m.customMetadata.owner], [0, 'team-a']);
  await assert.rejects(secrets.read('m/x'), code('KH_SECRET_VERSION_NOT_FOUND'));
  await assert.rejects(secrets.updateMetadata('m/x', { customMetadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }), code('KH_SECRET_INVALID'));
  await assert.rejects(secrets.updateMetadata('m/x', { customMetadata: { k: 'v'.repeat(513) } }), code('KH_SECRET_INVALID'));
  await assert.rejects(secrets.updateMetadata('m/x', { maxVersions: 0 }), code('KH_SECRET_INVALID'));
  await secrets.write('m/x', { data: { a: '1' } });
  await secrets.write('m/x', { data: { a: '2' } });
  await secrets.deleteMetadata('m/x');
  await assert.rejects(secrets.metadata('m/x'), code('KH_SECRET_NOT_FOUND'));
  assert.equal(await secrets.store.version('m/x', 1), undefined);
  assert.equal(await secrets.store.version('m/x', 2), undefined);
  await assert.rejects(secrets.deleteMetadata('m/x'), code('KH_SECRET_NOT_FOUND'));
});

test('list: one level under a folder, sub-folders with a trailing slash', async (t) => {
  const { secrets } = await store(t);
  for (const p of ['app/db', 'app/web/tls', 'app/web/env', 'apps', 'other']) await secrets.write(p, { data: { x: 'y' } });
  assert.deepEqual((await secrets.list('')).keys, ['app/', 'apps', 'other']);
  assert.deepEqual((await secrets.list('app/')).keys, ['db', 'web/']);
  assert.deepEqual((await secrets.list('app')).keys, ['db', 'web/']);
  assert.deepEqual((await secrets.list('app/web/')).keys, ['env', 'tls']);
  assert.deepEqual((await secrets.list('nothing/')).keys, []);
  await assert.rejects(secrets.list('../'), code('KH_SECRET_PATH_INVALID'));
});

test('paths: segments checked, no "..", "." or empty segments', () => {
  for (const ok of ['a', 'app/db', 'a.b/c-d/e_f', 'x@y=z+1']) assert.equal(checkSecretPath(ok), ok);
  for (const bad of ['', '/a', 'a/', 'a//b', '../a', 'a/../b', 'a/./b', '.hidden', 'a b', 'a\\b', 'a/\u0000', 'é', 'a'.repeat(257), Array(17).fill('a').join('/')])
    assert.throws(() => checkSecretPath(bad), code('KH_SECRET_PATH_INVALID'), JSON.stringify(bad));
});

test('documents: files up to 1 MiB, names safe as file names, a total limit', async (t) => {
  const { secrets } = await store(t);
  const mib = new Uint8Array(MAX_FILE_BYTES).fill(7);
  assert.equal((await secrets.write('f/big', { files: { 'blob.bin': mib } })).version, 1);
  const read = await secrets.read('f/big');
  assert.equal(read.files['blob.bin']!.length, MAX_FILE_BYTES);
  await assert.rejects(secrets.write('f/big', { files: { 'blob.bin': new Uint8Array(MAX_FILE_BYTES + 1) } }), code('KH_SECRET_TOO_LARGE'));
  await assert.rejects(secrets.write('f/big', { data: { v: 'x'.repeat(MAX_FILE_BYTES + 1) } }), code('KH_SECRET_TOO_LARGE'));
  await assert.rejects(secrets.write('f/big', { files: { a: new Uint8Array(MAX_FILE_BYTES), b: new Uint8Array(MAX_FILE_BYTES), c: new Uint8Array(10) } }), code('KH_SECRET_TOO_LARGE'));
  for (const name of ['..', '.', 'a/b', '', '-x', 'x y'])
    await assert.rejects(secrets.write('f/n', { files: { [name]: new Uint8Array(1) } }), code('KH_SECRET_INVALID'), JSON.stringify(name));
  await assert.rejects(secrets.write('f/n', { data: { a: '1' }, files: { a: new Uint8Array(1) } }), code('KH_SECRET_INVALID'));
  await assert.rejects(secrets.write('f/n', {}), code('KH_SECRET_INVALID'));
  await assert.rejects(secrets.write('f/n', { data: { a: '1' }, generate: { kind: 'password' } }), code('KH_SECRET_INVALID'));
});

test('neither secret paths nor values appear in the database file or its WAL', async (t) => {
  const { secrets, app, dbPath } = await store(t);
  const path = 'payments/prod/db-credentials-7f3a';
  const value = 'correct horse battery staple 1f9c2b';
  const file = 'CERTIFICATE-BYTES-THAT-MUST-NOT-LEAK-8842';
  await secrets.write(path, { data: { password: value }, files: { 'cert.pem': new TextEncoder().encode(file) } });
  await secrets.updateMetadata(path, { customMetadata: { owner: 'owner-name-c0ffee' } });
  const has = (f: string, needle: string) => existsSync(f) && readFileSync(f).includes(Buffer.from(needle));
  const needles = [path, 'payments/prod', value, file, Buffer.from(file).toString('base64'), 'owner-name-c0ffee'];
  assert.ok(existsSync(`${dbPath}-wal`) && readFileSync(`${dbPath}-wal`).length > 0);
  for (const f of [dbPath, `${dbPath}-wal`]) for (const n of needles) assert.equal(has(f, n), false, `${n} found in ${f}`);
  await app.close();
  for (const n of needles) assert.equal(has(dbPath, n), false, `${n} found after checkpoint`);
});

test('sealing makes every operation refuse with KH_SEALED', async (t) => {
  const { secrets, app } = await store(t);
  await secrets.write('z/z', { data: { a: '1' } });
  app.services.barrier.seal();
  await assert.rejects(secrets.read('z/z'), code('KH_SEALED'));
  await assert.rejects(secrets.write('z/z', { data: { a: '1' } }), code('KH_SEALED'));
});
