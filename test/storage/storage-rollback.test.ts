/**
 * Storage rollback (issue 15, H3): the real SQLite file is rolled back,
 * edited row by row, or has rows deleted or resurrected while the vault is
 * stopped (or under a running node). Each must be detected as
 * KH_STORAGE_ROLLBACK (the vault stays sealed, or the record is refused),
 * never silently accepted and never a 500. A consistent rollback of the
 * whole file is caught by the external anchor (docs/storage-rollback.md).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { Barrier } from '../../src/barrier/barrier.js';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { FileAnchor } from '../../src/storage/file-anchor.js';
import { buildKeyhold, type KeyholdApp } from '../../src/api/keyhold-app.js';
import { resolveConfig } from '../../src/config/load-config.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { initVault, unsealVault } from '../helpers/keyhold.js';
import { editDb } from '../helpers/db-file.js';
import { tempDir } from '../helpers/temp-dir.js';
import { signed, signingKey, trusted } from '../policy/policy-fixtures.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));
const KEY = signingKey('ops-rollback');

const rawRow = (db: Database.Database, key: string): Buffer | undefined => db.prepare<[string], { value: Buffer }>('SELECT value FROM kv WHERE key = ?').get(key)?.value;
const putRow = (db: Database.Database, key: string, value: Uint8Array): void => {
  db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
};
const deleteRow = (db: Database.Database, key: string): void => {
  db.prepare('DELETE FROM kv WHERE key = ?').run(key);
};

/** A consistent copy of the database file (checkpointed, no WAL). */
function snapshot(dbPath: string, to: string): void {
  editDb(dbPath, () => {});
  copyFileSync(dbPath, to);
}
function putBack(from: string, dbPath: string): void {
  for (const suffix of ['-wal', '-shm']) rmSync(dbPath + suffix, { force: true });
  copyFileSync(from, dbPath);
}

/** A barrier on a SQLite file; `restart()` closes it and unseals a fresh one on the same file. */
async function fileBarrier(t: TestContext, anchorPath?: string) {
  const path = join(tempDir(t), 'rb.db');
  const rootKey = new Uint8Array(randomBytes(32));
  const open = (): { backend: SqliteBackend; barrier: Barrier } => {
    const backend = new SqliteBackend({ path });
    t.after(() => backend.close());
    const barrier = new Barrier(backend);
    if (anchorPath !== undefined) barrier.setRollbackAnchors([new FileAnchor(anchorPath)], { error: () => {}, warn: () => {} });
    return { backend, barrier };
  };
  let current = open();
  await current.backend.transaction([current.barrier.createKeyring(rootKey)]);
  await current.barrier.unseal(rootKey);
  return {
    path,
    get barrier(): Barrier {
      return current.barrier;
    },
    async stop(): Promise<void> {
      await current.barrier.flushAnchors();
      current.barrier.seal();
      await current.backend.close();
    },
    /** Opens the file again and unseals (throws what unseal throws). */
    async start(): Promise<Barrier> {
      current = open();
      await current.barrier.unseal(rootKey);
      return current.barrier;
    },
  };
}

test('single-row rollback, row deletion and row resurrection in the SQLite file are detected at unseal (KH_STORAGE_ROLLBACK, stays sealed)', async (t) => {
  const v = await fileBarrier(t);
  await v.barrier.put('sessions/s1', enc('live session'));
  await v.barrier.put('users/alice', enc('password v1'));
  await v.barrier.put('keys/payments', enc('versions 1-3'));
  await v.stop();
  let oldAlice: Buffer | undefined;
  let oldSession: Buffer | undefined;
  editDb(v.path, (db) => {
    oldAlice = rawRow(db, 'logical/users/alice');
    oldSession = rawRow(db, 'logical/sessions/s1');
  });
  let b = await v.start();
  await b.put('users/alice', enc('password v2'));
  await b.delete('sessions/s1');
  await v.stop();
  const cases: [string, (db: Database.Database) => void][] = [
    ['a row rolled back to an older copy of itself', (db) => putRow(db, 'logical/users/alice', oldAlice!)],
    ['a deleted (revoked) row resurrected', (db) => putRow(db, 'logical/sessions/s1', oldSession!)],
    ['a row deleted', (db) => deleteRow(db, 'logical/keys/payments')],
    ['a row added under a new path', (db) => putRow(db, 'logical/users/mallory', oldAlice!)],
  ];
  const clean = join(tempDir(t), 'clean.db');
  snapshot(v.path, clean);
  for (const [what, tamper] of cases) {
    editDb(v.path, tamper);
    await assert.rejects(v.start(), { code: 'KH_STORAGE_ROLLBACK' }, what);
    putBack(clean, v.path);
  }
  b = await v.start();
  assert.equal(dec(await b.get('users/alice')), 'password v2');
  assert.equal(await b.get('sessions/s1'), undefined);
});

test('rows changed under a running node are refused on read and list (KH_STORAGE_ROLLBACK), never returned', async (t) => {
  const v = await fileBarrier(t);
  const b = v.barrier;
  const backend = new SqliteBackend({ path: v.path, integrityCheckOnOpen: false });
  t.after(() => backend.close());
  await b.put('users/alice', enc('password v1'));
  const old = (await backend.get('logical/users/alice'))!.slice();
  await b.put('users/alice', enc('password v2'));
  await b.put('sessions/s1', enc('session'));
  const session = (await backend.get('logical/sessions/s1'))!.slice();
  await b.delete('sessions/s1');

  await backend.put('logical/users/alice', old);
  await assert.rejects(b.get('users/alice'), { code: 'KH_STORAGE_ROLLBACK' }, 'rolled back');
  await backend.put('logical/sessions/s1', session);
  await assert.rejects(b.get('sessions/s1'), { code: 'KH_STORAGE_ROLLBACK' }, 'resurrected');
  await assert.rejects(b.list('sessions/'), { code: 'KH_STORAGE_ROLLBACK' }, 'resurrected, listed');
  await backend.delete('logical/sessions/s1');
  await b.put('keys/k', enc('k'));
  await backend.delete('logical/keys/k');
  await assert.rejects(b.get('keys/k'), { code: 'KH_STORAGE_ROLLBACK' }, 'deleted');
});

test('a consistent rollback of the whole file is caught by the file anchor, and only by an anchor', async (t) => {
  const anchor = join(tempDir(t), 'anchor-mount', 'keyhold.anchor');
  mkdirSync(join(anchor, '..'), { recursive: true });
  const v = await fileBarrier(t, anchor);
  await v.barrier.put('users/alice', enc('password v1'));
  await v.stop();
  const old = join(tempDir(t), 'old.db');
  snapshot(v.path, old);
  const b = await v.start();
  await b.put('users/alice', enc('password v2'));
  await v.stop();
  assert.ok(existsSync(anchor));

  putBack(old, v.path);
  await assert.rejects(v.start(), { code: 'KH_STORAGE_ROLLBACK' });

  // Without the anchor the rolled-back file is self-consistent: this is what the anchor is for (documented).
  const unanchored = await fileBarrier(t);
  await unanchored.barrier.put('x', enc('1'));
  await unanchored.stop();
  const copy = join(tempDir(t), 'copy.db');
  snapshot(unanchored.path, copy);
  await (await unanchored.start()).put('x', enc('2'));
  await unanchored.stop();
  putBack(copy, unanchored.path);
  assert.equal(dec(await (await unanchored.start()).get('x')), '1');

  // An operator who restored the old file deliberately adopts it through the anchor itself.
  writeFileSync(anchor, 'adopt\n');
  const adopted = await v.start();
  assert.equal(dec(await adopted.get('users/alice')), 'password v1');
  await v.stop();
  // The anchor is armed again: an emptied anchor is refused, not taken as a first use.
  rmSync(anchor);
  await assert.rejects(v.start(), { code: 'KH_STORAGE_ANCHOR_UNAVAILABLE' });
  // Another vault's anchor is refused too.
  writeFileSync(anchor, Buffer.concat([Buffer.from('KHRA1'), randomBytes(40)]));
  await assert.rejects(v.start(), { code: 'KH_STORAGE_ANCHOR_UNAVAILABLE' });
});

test('policy: deleting the logical/policy rows after a push is detected; a bundle missing from a consistent store fails closed, never the default bundle', async (t) => {
  const v = await fileBarrier(t);
  const engine = new PolicyEngine(v.barrier, trusted(KEY));
  const s = await signed(KEY, { version: 3, policies: 'permit(principal == Keyhold::User::"root", action, resource);' });
  await engine.push(s.bytes, s.signature);
  await v.stop();
  editDb(v.path, (db) => db.prepare("DELETE FROM kv WHERE key LIKE 'logical/policy/%'").run());
  await assert.rejects(v.start(), { code: 'KH_STORAGE_ROLLBACK' });

  // Even a store that is consistent without the bundle (deleted through the barrier) never falls back.
  const w = await fileBarrier(t);
  const first = new PolicyEngine(w.barrier, trusted(KEY));
  await first.push(s.bytes, s.signature);
  await w.barrier.delete('policy/bundle');
  await w.stop();
  const errors: string[] = [];
  const restarted = new PolicyEngine(await w.start(), trusted(KEY), { error: (m) => errors.push(m) });
  await assert.rejects(restarted.active(), { code: 'KH_STORAGE_ROLLBACK' });
  await assert.rejects(
    restarted.authorize({
      principal: { type: 'User', id: 'alice', groups: ['admins'] },
      action: 'encrypt',
      resource: { type: 'Key', id: 'payments' },
      context: { mfa: true, authMethods: ['pwd'], sourceIp: '127.0.0.1', apiSurface: 'v1', batch: false },
    }),
    { code: 'KH_STORAGE_ROLLBACK' },
  );
  assert.ok(errors.some((m) => /missing/.test(m)));
});

test('the policy floor and active bundle live in the keyring: a rolled-back policy row is refused and the floor survives', async (t) => {
  const v = await fileBarrier(t);
  const engine = new PolicyEngine(v.barrier, trusted(KEY));
  const v1 = await signed(KEY, { version: 1, policies: 'permit(principal, action, resource);' });
  await engine.push(v1.bytes, v1.signature);
  await v.stop();
  let oldBundle: Buffer | undefined;
  editDb(v.path, (db) => (oldBundle = rawRow(db, 'logical/policy/bundle')));
  const b = await v.start();
  const again = new PolicyEngine(b, trusted(KEY));
  const v2 = await signed(KEY, { version: 2, policies: 'permit(principal == Keyhold::User::"root", action, resource);' });
  await again.push(v2.bytes, v2.signature);
  assert.deepEqual(b.policyState(), { highest: 2, active: { version: 2, sha256: (await again.active()).sha256 } });
  await v.stop();
  editDb(v.path, (db) => putRow(db, 'logical/policy/bundle', oldBundle!));
  await assert.rejects(v.start(), { code: 'KH_STORAGE_ROLLBACK' });
  // No separate floor row is kept any more.
  editDb(v.path, (db) => assert.equal(rawRow(db, 'logical/policy/version'), undefined));
});

/** A vault in a real app on a SQLite file, with the file anchor; `restart()` builds a new app on the same files. */
async function appVault(t: TestContext) {
  const dir = tempDir(t);
  const dbPath = join(dir, 'keyhold.db');
  const anchor = join(tempDir(t), 'keyhold.anchor');
  const config = resolveConfig({
    storage: { path: dbPath, rollbackAnchor: { file: anchor } },
    listeners: { api: { port: 0 }, health: { port: 0 } },
    log: { level: 'silent' },
    policy: { trustedKeys: trusted(KEY) },
  });
  const build = async (): Promise<KeyholdApp> => {
    const app = await buildKeyhold(config, { logger: false });
    t.after(() => app.close());
    return app;
  };
  const app = await build();
  const { shares, rootToken } = await initVault(app, 1, 1);
  await unsealVault(app, shares);
  return { app, dbPath, anchor, shares, rootToken, build };
}

test('whole-file rollback after 8 security changes (the pentest H3 scenario) is detected at start with the file anchor: 503 KH_STORAGE_ROLLBACK, sealed', async (t) => {
  const v = await appVault(t);
  const s = v.app.services;
  // The state the attacker will put back.
  await s.users.create('alice', 'old-password-123456', ['ops']);
  const session = await s.sessions.create({ type: 'User', id: 'alice', groups: ['ops'], amr: ['pwd'] });
  const access = await s.accessKeys.create({ principalType: 'User', principalName: 'alice' });
  await s.secrets.write('app/db', { data: { password: 'hunter2' } });
  await s.keys.create({ name: 'payments' });
  await s.keys.rotate('payments');
  await s.keys.rotate('payments');
  const p1 = await signed(KEY, { version: 1, policies: 'permit(principal, action, resource);' });
  await s.policy.push(p1.bytes, p1.signature);
  await v.app.close();
  const old = join(tempDir(t), 'old.db');
  snapshot(v.dbPath, old);

  // Eight security changes.
  const app = await v.build();
  await unsealVault(app, v.shares);
  const n = app.services;
  assert.equal(await n.sessions.revoke({ sid: session.sid }), 1);
  await n.users.setPassword('alice', 'new-password-654321');
  await n.accessKeys.delete(access.accessKeyId);
  await n.secrets.destroy('app/db', [1]);
  await n.keys.update('payments', { minDecryptionVersion: 3 });
  await n.keys.trim('payments', 3);
  const p2 = await signed(KEY, { version: 2, policies: 'permit(principal == Keyhold::User::"root", action, resource);' });
  await n.policy.push(p2.bytes, p2.signature);
  await n.users.delete('alice');
  await app.close();

  putBack(old, v.dbPath);
  const rolledBack = await v.build();
  await rolledBack.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: v.shares[0] } }).then((res) => {
    assert.equal(res.statusCode, 503, res.body);
    assert.equal(res.json<{ error: { code: string } }>().error.code, 'KH_STORAGE_ROLLBACK');
  });
  assert.equal(rolledBack.services.barrier.sealed, true);
  // Nothing of the old state is served: the old password does not log in.
  const login = await rolledBack.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'alice', password: 'old-password-123456' } });
  assert.notEqual(login.statusCode, 200);
  assert.ok(login.statusCode < 500 || login.statusCode === 503, login.body);
  // The metrics of this finding are exposed (M6: the untrusted-bundle gauge; the anchor's health).
  const metrics = (await rolledBack.health.inject({ url: '/metrics' })).body;
  assert.match(metrics, /^keyhold_policy_bundle_untrusted 0$/m);
  assert.match(metrics, /^keyhold_storage_anchor_failing 0$/m);
});
