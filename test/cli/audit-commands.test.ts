/** `keyhold audit verify FILE [--public-key PEMFILE]`: output and exit codes for a good log, a forged one, and a bad key file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { appendMany, readLog, rewrite, signingVault } from '../audit/checkpoint-fixtures.js';

test('audit verify: OK with the checkpoint count, FAILED at a forged checkpoint, usage error for a bad key', async (t) => {
  const v = await signingVault(t);
  const device = await v.openDevice(4);
  await appendMany(device, 10); // 4 entries, checkpoint, 4 entries, checkpoint, 2 entries
  await device.close();
  const head = readLog(v.file).at(-1)!;
  const pem = join(v.dir, 'audit-key.pem');
  writeFileSync(pem, (await v.signingKey.publicKey()).publicKey);

  const ok = await runCli(['audit', 'verify', v.file, '--public-key', pem]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(
    ok.stdout,
    `OK 12 entries, 2 checkpoints verified\nhead ${JSON.parse(head).hash}\n2 entries after the last checkpoint are covered only by the chain\n`,
  );

  const unpinned = await runCli(['audit', 'verify', v.file]);
  assert.equal(unpinned.code, 0);
  assert.match(unpinned.stdout, /^OK 12 entries, 0 checkpoints verified\n/);
  assert.match(unpinned.stdout, /\n2 checkpoints not checked: pass --public-key/);

  // An entry edited and the chain recomputed: only the pinned key catches it.
  const forged = join(v.dir, 'forged.log');
  writeFileSync(forged, `${rewrite(readLog(v.file), 1, (e) => (e.value = 'nothing happened')).join('\n')}\n`);
  assert.equal((await runCli(['audit', 'verify', forged])).code, 0);
  const bad = await runCli(['audit', 'verify', forged, '--public-key', pem]);
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout, 'FAILED at line 5 (after 4 good entries): checkpoint signature does not verify (forged checkpoint or rewritten entries before it)\n');

  const json = await runCli(['--format', 'json', 'audit', 'verify', forged, '--public-key', pem]);
  assert.deepEqual(JSON.parse(json.stdout), { ok: false, count: 4, line: 5, reason: 'checkpoint signature does not verify (forged checkpoint or rewritten entries before it)' });

  writeFileSync(join(v.dir, 'not-a-key.pem'), 'hello');
  const usage = await runCli(['audit', 'verify', v.file, '--public-key', join(v.dir, 'not-a-key.pem')]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /not an Ed25519 public key/);
});
