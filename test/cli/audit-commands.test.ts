/**
 * `keyhold audit verify FILE [--public-key PEMFILE] [--expect-head SEQ:HASH]`: output and exit codes for a good log,
 * a forged one, damaged lines (reported, verification carries on), a cut log, and bad arguments.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { parse, rewrite, writeLog, writtenLog } from '../audit/checkpoint-fixtures.js';

/** A signed log at cadence 4 (genesis, 4 entries, checkpoint, 4 entries, checkpoint, 2 entries) and its public key in audit-key.pem beside it. */
async function signedLog(t: Pick<TestContext, 'after'>) {
  const { v, log } = await writtenLog(t, 4, 10);
  const pem = join(v.dir, 'audit-key.pem');
  writeFileSync(pem, (await v.signingKey.publicKey()).publicKey);
  return { v, log, pem };
}

test('audit verify: OK with the checkpoint count, FAILED at a forged checkpoint, usage error for a bad key', async (t) => {
  const { v, log, pem } = await signedLog(t);
  const head = parse(log.at(-1)!);
  const last = parse(log[10]!);

  const ok = await runCli(['audit', 'verify', v.file, '--public-key', pem]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(
    ok.stdout,
    `OK 13 entries, 3 checkpoints verified\nhead ${head.hash}\nlast checkpoint 11:${last.hash} (keep it: --expect-head next time)\n` +
      "2 entries after the last checkpoint: signed by the next one, until then covered by the chain (and the node's chain MAC)\n",
  );

  const unpinned = await runCli(['audit', 'verify', v.file]);
  assert.equal(unpinned.code, 0);
  assert.match(unpinned.stdout, /^OK 13 entries, 0 checkpoints verified\n/);
  assert.match(unpinned.stdout, /\n3 checkpoints not checked: pass --public-key/);

  // An entry edited and the chain recomputed: only the pinned key catches it.
  const forged = join(v.dir, 'forged.log');
  writeLog(forged, rewrite(log, 2, (e) => (e.value = 'nothing happened')));
  assert.equal((await runCli(['audit', 'verify', forged])).code, 0);
  const bad = await runCli(['audit', 'verify', forged, '--public-key', pem]);
  assert.equal(bad.code, 1);
  assert.equal(
    bad.stdout,
    'line 6: checkpoint signature does not verify (forged checkpoint or rewritten entries before it)\n' +
      'line 11: checkpoint signature does not verify (forged checkpoint or rewritten entries before it)\n' +
      'FAILED 2 problem(s); 13 entries read, 1 checkpoints verified\n',
  );
  const json = await runCli(['--format', 'json', 'audit', 'verify', forged, '--public-key', pem]);
  const parsed = JSON.parse(json.stdout) as { ok: boolean; damaged: { line: number }[] };
  assert.deepEqual([parsed.ok, parsed.damaged.map((d) => d.line)], [false, [6, 11]]);

  writeFileSync(join(v.dir, 'not-a-key.pem'), 'hello');
  const usage = await runCli(['audit', 'verify', v.file, '--public-key', join(v.dir, 'not-a-key.pem')]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /not an Ed25519 public key/);
  const badHead = await runCli(['audit', 'verify', v.file, '--expect-head', 'seven']);
  assert.equal(badHead.code, 2);
  assert.match(badHead.stderr, /--expect-head takes SEQ:HASH/);
});

test('audit verify: a damaged line (the H1 "undefined" token) is reported with its number, and the rest of the log is still verified', async (t) => {
  const { v, log, pem } = await signedLog(t);
  // What the old canonicalJson wrote for an undefined remote address, on line 3; line 9 edited as well.
  const damaged = log.map((l, i) => (i === 2 ? l.replace('"value":"v1"', '"value":undefined') : i === 8 ? l.replace('"v6"', '"v7"') : l));
  const file = join(v.dir, 'damaged.log');
  writeLog(file, damaged);
  const r = await runCli(['audit', 'verify', file, '--public-key', pem]);
  assert.equal(r.code, 1);
  // Line 6 (the checkpoint covering line 3) still verifies: the chain resynchronised after the damaged line.
  assert.equal(
    r.stdout,
    'line 3: not JSON\nline 9: hash mismatch (edited entry)\nFAILED 2 problem(s); 12 entries read, 3 checkpoints verified\n',
  );
});

test('audit verify --expect-head: a log cut before a checkpoint a monitor saw, or rewritten from it, fails', async (t) => {
  const { v, log, pem } = await signedLog(t);
  const seen = parse(log[10]!); // the checkpoint at seq 11
  const expect = `${seen.seq}:${seen.hash}`;
  assert.equal((await runCli(['audit', 'verify', v.file, '--public-key', pem, '--expect-head', expect])).code, 0);
  // Cut right after the earlier checkpoint (seq 6): a valid signed log on its own.
  const cut = join(v.dir, 'cut.log');
  writeLog(cut, log.slice(0, 6));
  assert.equal((await runCli(['audit', 'verify', cut, '--public-key', pem])).code, 0, 'without the head a cut at a checkpoint cannot be seen');
  const caught = await runCli(['audit', 'verify', cut, '--public-key', pem, '--expect-head', expect]);
  assert.equal(caught.code, 1);
  assert.match(caught.stdout, /^log: the log ends at seq 6, before the expected head 11 \(it was cut\)\n/);
});
