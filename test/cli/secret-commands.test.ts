/**
 * `keyhold secret ...` against a real server: put with pairs and files,
 * get (all, one field, a file's raw bytes, a version), check-and-set,
 * delete/undelete/destroy, metadata show and change, list, a generated
 * password, and usage errors with exit code 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runningVault } from '../helpers/keyhold.js';
import { runCliRaw, type RawRun } from '../helpers/cli.js';

test('secrets are written, read, versioned, deleted and listed from the CLI', async (t) => {
  const { server, dir, rootToken } = await runningVault(t);
  const env = { KEYHOLD_ADDR: server.apiUrl, KEYHOLD_TOKEN: rootToken };
  const kh = (...args: string[]) => runCliRaw(args, env);
  const ok = (r: RawRun, what: string) => {
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    return r.stdout.toString('utf8');
  };
  const blob = randomBytes(3000);
  writeFileSync(join(dir, 'blob.bin'), blob);
  writeFileSync(join(dir, 'pw.txt'), 'from-a-file');

  ok(await kh('secret', 'put', 'app/db', 'user=app', `password=@${join(dir, 'pw.txt')}`, '--file', `blob.bin=@${join(dir, 'blob.bin')}`), 'put');
  ok(await kh('secret', 'put', 'app/db', 'user=app', 'password=second', '--cas', '1'), 'put cas');
  const [get, field, file, v1, casFail, json] = await Promise.all([
    kh('secret', 'get', 'app/db'),
    kh('secret', 'get', 'app/db', '--field', 'password'),
    kh('secret', 'get', 'app/db', '--ver', '1', '--field', 'blob.bin'),
    kh('secret', 'get', 'app/db', '--ver', '1', '--field', 'password'),
    kh('secret', 'put', 'app/db', 'x=y', '--cas', '1'),
    kh('--format', 'json', 'secret', 'get', 'app/db'),
  ]);
  assert.match(ok(get, 'get'), /password\s+second/);
  assert.equal(ok(field, 'field'), 'second\n');
  assert.deepEqual(file.stdout, blob);
  assert.equal(ok(v1, 'v1'), 'from-a-file\n');
  assert.equal(casFail.code, 1);
  assert.match(casFail.stderr.toString(), /KH_SECRET_CAS_MISMATCH/);
  assert.equal(JSON.parse(ok(json, 'json')).version, 2);

  ok(await kh('secret', 'delete', 'app/db'), 'delete');
  const deleted = await kh('secret', 'get', 'app/db');
  assert.match(deleted.stderr.toString(), /KH_SECRET_VERSION_DELETED/);
  ok(await kh('secret', 'undelete', 'app/db', '--versions', '2'), 'undelete');
  ok(await kh('secret', 'destroy', 'app/db', '--versions', '1'), 'destroy');
  const meta = JSON.parse(ok(await kh('--format', 'json', 'secret', 'metadata', 'app/db', '--max-versions', '4', '--custom', 'owner=db-team'), 'metadata'));
  assert.deepEqual([meta.maxVersions, meta.customMetadata.owner, meta.versions['1'].destroyed], [4, 'db-team', true]);
  ok(await kh('secret', 'put', 'app/gen', '--generate', 'password', '--length', '20'), 'generate');
  assert.match(ok(await kh('secret', 'get', 'app/gen', '--field', 'password'), 'gen'), /^.{20}\n$/);
  assert.equal(ok(await kh('secret', 'list', 'app/'), 'list'), 'db\ngen\n');
  ok(await kh('secret', 'metadata', 'app/gen', '--delete'), 'metadata delete');
  assert.equal(ok(await kh('secret', 'list'), 'list top'), 'app/\n');

  const usage = await Promise.all([kh('secret', 'put', 'app/x'), kh('secret', 'put', 'app/x', 'novalue'), kh('secret', 'destroy', 'app/db'), kh('secret', 'put', 'app/x', '--file', 'bad')]);
  for (const u of usage) assert.equal(u.code, 2, u.stderr.toString());
});
