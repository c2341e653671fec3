/**
 * Storage faults: the database file is tampered with, truncated, replaced by
 * garbage, or full. Each must surface as a clear Keyhold error code (never a
 * crash, a stack trace, or bytes that failed authentication) and must not
 * lose data that was acknowledged before the fault.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { KeyholdError } from '../../src/errors.js';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { buildKeyhold, type KeyholdApp } from '../../src/api/keyhold-app.js';
import type { KeyholdConfig } from '../../src/config/config-schema.js';
import { bearer, initVault, testVault, unsealedVault, unsealVault } from '../helpers/keyhold.js';
import { editDb } from '../helpers/db-file.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runCli, spawnChild, requireBuiltCli, STACK_LINE, startCliServer } from './child-process.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

/** A KeyholdError with this code (for assert.rejects / assert.throws). */
function khError(code: string, mustNotContain?: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof KeyholdError, `expected a KeyholdError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (mustNotContain !== undefined) assert.ok(!e.message.includes(mustNotContain), 'the error leaks record bytes');
    return true;
  };
}

function readRaw(db: Database.Database, key: string): Buffer {
  const row = db.prepare<[string], { value: Buffer }>('SELECT value FROM kv WHERE key = ?').get(key);
  assert.ok(row !== undefined, `no row ${key}`);
  return row.value;
}

function writeRaw(db: Database.Database, key: string, value: Uint8Array): void {
  const r = db.prepare<[Uint8Array, string]>('UPDATE kv SET value = ? WHERE key = ?').run(value, key);
  assert.equal(r.changes, 1, `no row ${key}`);
}

/** A second app on the same file, as after a restart (sealed). */
async function restart(t: Pick<TestContext, 'after'>, config: KeyholdConfig): Promise<KeyholdApp> {
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  return app;
}

function errorBody(res: { statusCode: number; body: string }): { code: string; message: string } {
  assert.doesNotMatch(res.body, STACK_LINE, 'an error answer carries a stack trace');
  const parsed = JSON.parse(res.body) as { error: { code: string; message: string } };
  return parsed.error;
}

test('barrier records tampered in the SQLite file are refused with KH_STORAGE_INTEGRITY after a restart', async (t) => {
  const v = await unsealedVault(t);
  const secret = 'the launch code is 0000';
  const { barrier } = v.app.services;
  // One record per kind of damage, plus one left intact. Layout: version(1) term(4) generation(8) nonce(12) ciphertext tag(16).
  // Damage that leaves the generation readable passes the storage digest at unseal and is refused at read.
  const damage: Record<string, (raw: Buffer) => Uint8Array> = {
    version: (raw) => flip(raw, 0),
    term: (raw) => flip(raw, 4),
    nonce: (raw) => flip(raw, 13 + 3),
    ciphertext: (raw) => flip(raw, 13 + 12 + 2),
    tag: (raw) => flip(raw, raw.length - 1),
    truncated: (raw) => raw.subarray(0, raw.length - 1),
    extended: (raw) => Buffer.concat([raw, Buffer.from([0])]),
  };
  for (const name of [...Object.keys(damage), 'intact']) await barrier.put(`faults/${name}`, enc(`${secret} (${name})`));
  await v.app.close();

  editDb(v.dbPath, (db) => {
    for (const [name, fn] of Object.entries(damage)) writeRaw(db, `logical/faults/${name}`, fn(readRaw(db, `logical/faults/${name}`)));
  });

  const app = await restart(t, v.app.config);
  await unsealVault(app, v.shares.slice(1, 3));
  for (const name of Object.keys(damage)) {
    await assert.rejects(app.services.barrier.get(`faults/${name}`), khError('KH_STORAGE_INTEGRITY', secret), name);
  }
  assert.equal(dec(await app.services.barrier.get('faults/intact')), `${secret} (intact)`);
  // The damaged records are still listed (nothing was silently dropped), only refused.
  assert.equal((await app.services.barrier.list('faults/')).length, Object.keys(damage).length + 1);
});

test('a record whose generation is damaged or missing fails the storage digest: unseal answers 503 KH_STORAGE_ROLLBACK and the vault stays sealed', async (t) => {
  const v = await unsealedVault(t);
  await v.app.services.barrier.put('faults/x', enc('x-value'));
  await v.app.close();
  let original = Buffer.alloc(0);
  editDb(v.dbPath, (db) => (original = Buffer.from(readRaw(db, 'logical/faults/x'))));
  const cases: Record<string, (raw: Buffer) => Uint8Array> = {
    generation: (raw) => flip(raw, 12),
    headerOnly: (raw) => raw.subarray(0, 5),
    empty: () => new Uint8Array(),
    zeroed: (raw) => new Uint8Array(raw.length),
  };
  for (const [what, fn] of Object.entries(cases)) {
    editDb(v.dbPath, (db) => writeRaw(db, 'logical/faults/x', fn(original)));
    const app = await restart(t, v.app.config);
    await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: v.shares[0] } });
    const last = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: v.shares[1] } });
    assert.equal(last.statusCode, 503, `${what}: ${last.body}`);
    assert.equal(errorBody(last).code, 'KH_STORAGE_ROLLBACK', what);
    assert.equal(app.services.barrier.sealed, true, what);
    await app.close();
  }
  editDb(v.dbPath, (db) => writeRaw(db, 'logical/faults/x', original));
  const app = await restart(t, v.app.config);
  await unsealVault(app, v.shares.slice(0, 2));
  assert.equal(dec(await app.services.barrier.get('faults/x')), 'x-value');
});

function flip(raw: Buffer, at: number): Uint8Array {
  const out = Uint8Array.from(raw);
  out[at]! ^= 0x5a;
  return out;
}

test('records swapped or copied between paths in the SQLite file are detected at unseal (KH_STORAGE_ROLLBACK: they are not the records the storage digest names)', async (t) => {
  const v = await unsealedVault(t);
  const { barrier } = v.app.services;
  await barrier.put('users/alice', enc('alice: admin'));
  await barrier.put('users/bob', enc('bob: reader'));
  await barrier.put('users/carol', enc('carol: reader'));
  await v.app.close();

  editDb(v.dbPath, (db) => {
    const a = readRaw(db, 'logical/users/alice');
    const b = readRaw(db, 'logical/users/bob');
    writeRaw(db, 'logical/users/alice', b);
    writeRaw(db, 'logical/users/bob', a);
    writeRaw(db, 'logical/users/carol', a);
  });

  const app = await restart(t, v.app.config);
  await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: v.shares[0] } });
  const last = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: v.shares[1] } });
  assert.equal(last.statusCode, 503, last.body);
  assert.equal(errorBody(last).code, 'KH_STORAGE_ROLLBACK');
  assert.doesNotMatch(last.body, /admin|reader/);
  assert.equal(app.services.barrier.sealed, true);
});

test('a tampered root-token record: authenticated requests answer 500 KH_STORAGE_INTEGRITY, never 200', async (t) => {
  const v = await unsealedVault(t);
  await v.app.close();
  editDb(v.dbPath, (db) => {
    const rows = db.prepare<[], { key: string }>("SELECT key FROM kv WHERE key LIKE 'logical/sys/token/%'").all();
    assert.equal(rows.length, 1);
    const key = rows[0]!.key;
    writeRaw(db, key, flip(readRaw(db, key), 30));
  });
  const app = await restart(t, v.app.config);
  await unsealVault(app, v.shares.slice(0, 2));
  const res = await app.api.inject({ url: '/v1/sys/key-status', headers: bearer(v.rootToken) });
  assert.equal(res.statusCode, 500);
  assert.equal(errorBody(res).code, 'KH_STORAGE_INTEGRITY');
  // A token that never existed is still just invalid (the damaged record is not consulted for it).
  const other = await app.api.inject({ url: '/v1/sys/key-status', headers: bearer('khr.not-a-token') });
  assert.equal(other.statusCode, 401);
});

test('a tampered or missing core/keyring: unseal fails with KH_STORAGE_INTEGRITY, the vault stays sealed, and restoring the record recovers', async (t) => {
  const v = await unsealedVault(t);
  await v.app.services.barrier.put('data/x', enc('x-value'));
  await v.app.close();
  let original = Buffer.alloc(0);
  editDb(v.dbPath, (db) => {
    original = Buffer.from(readRaw(db, 'core/keyring'));
  });

  const cases: [string, (db: Database.Database) => void][] = [
    ['flipped byte', (db) => writeRaw(db, 'core/keyring', flip(original, 20))],
    ['flipped tag', (db) => writeRaw(db, 'core/keyring', flip(original, original.length - 1))],
    ['truncated', (db) => writeRaw(db, 'core/keyring', original.subarray(0, 40))],
    ['empty', (db) => writeRaw(db, 'core/keyring', new Uint8Array())],
    ['missing', (db) => db.prepare("DELETE FROM kv WHERE key = 'core/keyring'").run()],
  ];
  for (const [what, tamper] of cases) {
    editDb(v.dbPath, tamper);
    const app = await restart(t, v.app.config);
    const first = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: v.shares[0] } });
    assert.equal(first.statusCode, 200, what);
    const last = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: v.shares[1] } });
    assert.equal(last.statusCode, 500, `${what}: ${last.body}`);
    assert.equal(errorBody(last).code, 'KH_STORAGE_INTEGRITY', what);
    const status = (await app.api.inject({ url: '/v1/sys/seal-status' })).json<{ sealed: boolean; progress: number }>();
    assert.deepEqual([status.sealed, status.progress], [true, 0], what);
    const refused = await app.api.inject({ url: '/v1/sys/key-status', headers: bearer(v.rootToken) });
    assert.equal(refused.statusCode, 503, what);
    assert.equal(errorBody(refused).code, 'KH_SEALED', what);
    assert.equal(app.services.barrier.sealed, true);
    await app.close();
    if (what === 'missing') editDb(v.dbPath, (db) => db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)').run('core/keyring', original));
    else editDb(v.dbPath, (db) => writeRaw(db, 'core/keyring', original));
  }

  const app = await restart(t, v.app.config);
  await unsealVault(app, v.shares.slice(0, 2));
  assert.equal(dec(await app.services.barrier.get('data/x')), 'x-value');
});

test('a rolled-back core/keyring never yields garbage: unseal refuses it (KH_STORAGE_ROLLBACK) or records under the lost term are refused', async (t) => {
  const v = await unsealedVault(t);
  const { backend, barrier } = v.app.services;
  await barrier.put('data/old', enc('written in term 1'));
  const termOne = (await backend.get('core/keyring'))!.slice();
  const rotated = await v.app.api.inject({ method: 'POST', url: '/v1/sys/rotate', headers: bearer(v.rootToken) });
  assert.equal(rotated.json<{ term: number }>().term, 2);
  await barrier.put('data/new', enc('written in term 2'));
  await v.app.close();
  editDb(v.dbPath, (db) => writeRaw(db, 'core/keyring', termOne));

  const app = await restart(t, v.app.config);
  await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: v.shares[0] } });
  const last = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: v.shares[2] } });
  t.diagnostic(`unseal on a rolled-back keyring answered ${last.statusCode}`);
  if (last.statusCode !== 200) {
    // Detected at unseal: the records are at later generations than the rolled-back storage state.
    assert.equal(errorBody(last).code, 'KH_STORAGE_ROLLBACK');
    return;
  }
  await assert.rejects(app.services.barrier.get('data/new'), khError('KH_STORAGE_INTEGRITY', 'term 2'));
  assert.equal(dec(await app.services.barrier.get('data/old')), 'written in term 1');
});

test('dev server on a data dir with a tampered keyring exits non-zero with KH_STORAGE_INTEGRITY and no stack trace', async (t) => {
  requireBuiltCli();
  const dataDir = tempDir(t);
  const args = ['--dev', '--data-dir', dataDir, '--api-port', '0', '--health-port', '0', '--log-level', 'silent'];
  const first = await startCliServer(t, args);
  // One answered request first: the CLI prints its banner before it installs the
  // SIGTERM handler, so a SIGTERM sent on the banner alone can kill it outright.
  const ready = await fetch(`${first.apiUrl}/v1/sys/seal-status`);
  assert.equal(ready.status, 200);
  await ready.body?.cancel();
  first.child.proc.kill('SIGTERM');
  const stopped = await first.child.exited;
  assert.equal(stopped.code, 0, `graceful stop failed (${JSON.stringify(stopped)}): ${first.child.stderr()}`);
  editDb(join(dataDir, 'keyhold.db'), (db) => writeRaw(db, 'core/keyring', flip(readRaw(db, 'core/keyring'), 10)));

  const { exit, stdout, stderr, timedOut } = await runCli(t, ['server', ...args], 15_000);
  assert.equal(timedOut, false, `the server started on a tampered keyring:\n${stdout}`);
  assert.notEqual(exit.code, 0);
  assert.match(stderr, /^Error KH_STORAGE_INTEGRITY: /m);
  assert.doesNotMatch(stderr, STACK_LINE);
  assert.doesNotMatch(stdout, /Root token|running/);
});

/** Makes a small initialised vault file whose data is all in the main file (no WAL). */
async function vaultFile(t: TestContext, dir: string): Promise<string> {
  const v = await unsealedVault(t, dir);
  for (let i = 0; i < 60; i++) await v.app.services.barrier.put(`fill/${i}`, randomBytes(400));
  await v.app.close();
  editDb(v.dbPath, () => undefined);
  assert.equal(existsSync(`${v.dbPath}-wal`), false, 'the WAL was not checkpointed into the main file');
  return v.dbPath;
}

function serverConfig(dir: string, dbPath: string, extra: Record<string, unknown> = {}): string {
  const file = join(dir, 'keyhold.json');
  writeFileSync(file, JSON.stringify({ storage: { path: dbPath, ...extra }, listeners: { api: { port: 0 }, health: { port: 0 } }, log: { level: 'silent' } }));
  return file;
}

async function assertServerRefusesCorruptFile(t: TestContext, dir: string, dbPath: string): Promise<void> {
  const { exit, stdout, stderr, timedOut } = await runCli(t, ['server', '--config', serverConfig(dir, dbPath)], 15_000);
  assert.equal(timedOut, false, `the server started on a damaged file:\n${stdout}`);
  assert.notEqual(exit.code, 0);
  assert.equal(exit.signal, null);
  assert.match(stderr, /^Error KH_STORAGE_CORRUPT: /m);
  assert.doesNotMatch(stderr, STACK_LINE);
  assert.doesNotMatch(stdout, /listening/);
}

test('a truncated database file: the server exits with KH_STORAGE_CORRUPT (no stack trace) and SqliteBackend refuses it', async (t) => {
  requireBuiltCli();
  const dir = tempDir(t);
  const dbPath = await vaultFile(t, dir);
  const size = statSync(dbPath).size;
  assert.ok(size >= 8 * 4096, `the test vault is only ${size} bytes`);

  for (const [label, length] of [
    ['half', Math.floor(size / 2)],
    ['all but the last page', size - 4096],
    ['mid-page', size - 1000],
  ] as const) {
    const forServer = join(dir, `server-${label.replaceAll(' ', '-')}.db`);
    const forBackend = join(dir, `backend-${label.replaceAll(' ', '-')}.db`);
    copyFileSync(dbPath, forServer);
    truncateSync(forServer, length);
    copyFileSync(forServer, forBackend);
    await t.test(label, async (t2) => {
      await assertServerRefusesCorruptFile(t2, dir, forServer);
      assert.throws(() => new SqliteBackend({ path: forBackend }), khError('KH_STORAGE_CORRUPT'));
    });
  }
  // The intact original still opens and unseals: the damage was in the copies only.
  const ok = new SqliteBackend({ path: dbPath });
  assert.ok((await ok.list('logical/fill/')).length === 60);
  await ok.close();
});

test('a file of random bytes: the server exits with KH_STORAGE_CORRUPT (no stack trace) and SqliteBackend refuses it', async (t) => {
  requireBuiltCli();
  const dir = tempDir(t);
  const garbage = join(dir, 'garbage.db');
  writeFileSync(garbage, randomBytes(64 * 1024));
  await assertServerRefusesCorruptFile(t, dir, garbage);
  assert.throws(() => new SqliteBackend({ path: garbage }), khError('KH_STORAGE_CORRUPT'));
  // A valid SQLite header followed by garbage is damaged too, not "a new empty database".
  const headed = join(dir, 'headed.db');
  writeFileSync(headed, Buffer.concat([Buffer.from('SQLite format 3\0'), randomBytes(64 * 1024 - 16)]));
  assert.throws(() => new SqliteBackend({ path: headed }), khError('KH_STORAGE_CORRUPT'));
});

test('disk full: writes fail with KH_STORAGE_FULL, acknowledged records survive, nothing partial is written, deleting frees room', async (t) => {
  const path = join(tempDir(t), 'small.db');
  const backend = new SqliteBackend({ path, maxSizeBytes: 65536 });
  t.after(() => backend.close());
  const acked = new Map<string, Uint8Array>();
  let failure: unknown;
  for (let i = 0; i < 2_000; i++) {
    const value = randomBytes(300 + (i % 7) * 150);
    try {
      await backend.put(`logical/fill/${String(i).padStart(4, '0')}`, value);
    } catch (e) {
      failure = e;
      break;
    }
    acked.set(`logical/fill/${String(i).padStart(4, '0')}`, value);
  }
  assert.ok(failure !== undefined, 'a 64 KiB database never filled up');
  khError('KH_STORAGE_FULL')(failure);
  assert.ok(acked.size >= 10, `only ${acked.size} records fit`);

  const readAll = async (b: SqliteBackend, label: string): Promise<void> => {
    for (const [key, value] of acked) assert.deepEqual(await b.get(key), new Uint8Array(value), `${label}: ${key}`);
    assert.equal((await b.list('logical/fill/')).length, acked.size, label);
  };
  await readAll(backend, 'after the failed put');

  // Still full: a single big value and an atomic batch both fail, and the batch leaves no trace.
  await assert.rejects(backend.put('logical/big', randomBytes(200_000)), khError('KH_STORAGE_FULL'));
  const firstKey = [...acked.keys()][0]!;
  await assert.rejects(
    backend.transaction([
      { type: 'delete', key: firstKey },
      { type: 'put', key: 'logical/batch/a', value: randomBytes(100) },
      { type: 'put', key: 'logical/batch/b', value: randomBytes(100_000) },
    ]),
    khError('KH_STORAGE_FULL'),
  );
  assert.equal(await backend.get('logical/batch/a'), undefined, 'a failed batch wrote part of itself');
  await readAll(backend, 'after the failed batch');

  // Freeing space makes writes work again, on the same handle.
  const keys = [...acked.keys()];
  for (const key of keys.slice(0, Math.ceil(keys.length / 2))) {
    await backend.delete(key);
    acked.delete(key);
  }
  for (let i = 0; i < 5; i++) {
    const value = randomBytes(300);
    await backend.put(`logical/fill/again-${i}`, value);
    acked.set(`logical/fill/again-${i}`, value);
  }
  await readAll(backend, 'after freeing space');

  // And the file is sound: it reopens (quick_check) with everything in it.
  await backend.close();
  const reopened = new SqliteBackend({ path, maxSizeBytes: 65536 });
  t.after(() => reopened.close());
  await readAll(reopened, 'after reopening');
});

test('disk full over HTTP: POST /v1/sys/rotate answers 507 KH_STORAGE_FULL JSON, the active term is unchanged and the server keeps serving', async (t) => {
  requireBuiltCli();
  const dir = tempDir(t);
  const v = await testVault(t, dir);
  const { shares, rootToken } = await initVault(v.app, 1, 1);
  await v.app.close();
  // Pad the file to its 64 KiB cap, then free a little: a few dozen rotations
  // (the keyring record grows by 44 bytes a term) then hit the limit.
  editDb(v.dbPath, (db) => {
    db.pragma(`max_page_count = ${65536 / (db.pragma('page_size', { simple: true }) as number)}`);
    const insert = db.prepare<[string, Uint8Array]>('INSERT INTO kv (key, value) VALUES (?, ?)');
    let n = 0;
    for (; n < 1_000; n++) {
      try {
        insert.run(`pad/${n}`, randomBytes(1_000));
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'SQLITE_FULL');
        break;
      }
    }
    assert.ok(n < 1_000);
    db.prepare('DELETE FROM kv WHERE key = ?').run(`pad/${n - 1}`);
  });

  const { child, apiUrl } = await startCliServer(t, ['--config', serverConfig(dir, v.dbPath, { maxSizeBytes: 65536 })]);
  const unseal = await fetch(`${apiUrl}/v1/sys/unseal`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: shares[0] }) });
  assert.equal(unseal.status, 200);
  const auth = bearer(rootToken);

  let lastTerm = 1;
  let full: Response | undefined;
  for (let i = 0; i < 2_000; i++) {
    const res = await fetch(`${apiUrl}/v1/sys/rotate`, { method: 'POST', headers: auth });
    if (res.status !== 200) {
      full = res;
      break;
    }
    lastTerm = ((await res.json()) as { term: number }).term;
  }
  assert.ok(full !== undefined, 'the database never filled up');
  assert.equal(full.status, 507);
  assert.match(full.headers.get('content-type') ?? '', /^application\/json/);
  const text = await full.text();
  assert.doesNotMatch(text, STACK_LINE);
  const body = JSON.parse(text) as { error: { code: string; message: string; requestId: string } };
  assert.equal(body.error.code, 'KH_STORAGE_FULL');
  assert.ok(body.error.requestId.length > 0);
  assert.ok(lastTerm > 1, 'not a single rotation fitted');

  // The failed rotation changed nothing, and the node still answers.
  const ks = await fetch(`${apiUrl}/v1/sys/key-status`, { headers: auth });
  assert.equal(ks.status, 200);
  assert.equal(((await ks.json()) as { term: number }).term, lastTerm);
  const again = await fetch(`${apiUrl}/v1/sys/rotate`, { method: 'POST', headers: auth });
  assert.equal(again.status, 507);
  await again.body?.cancel();
  const health = await fetch(`${apiUrl}/v1/sys/seal-status`);
  assert.equal(health.status, 200);
  await health.body?.cancel();

  // After a restart the last acknowledged term is the one in force (nothing half-written).
  await child.kill9();
  const restarted = spawnChild(t, [requireBuiltCli(), 'server', '--config', serverConfig(dir, v.dbPath, { maxSizeBytes: 65536 })]);
  const url = (await restarted.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 15_000))[1]!;
  await fetch(`${url}/v1/sys/unseal`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: shares[0] }) });
  const after = await fetch(`${url}/v1/sys/key-status`, { headers: auth });
  assert.equal(((await after.json()) as { term: number }).term, lastTerm);
});
