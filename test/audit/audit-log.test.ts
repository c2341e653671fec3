/** The file audit device and the API's fail-closed auditing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyLines } from '../../src/audit/audit-chain.js';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold } from '../../src/api/keyhold-app.js';
import { bearer, initVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runCli } from '../helpers/cli.js';
import { pinned, signingVault } from './checkpoint-fixtures.js';

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');

test('group-committed appends form one verifiable chain that survives reopening', async (t) => {
  const v = await signingVault(t);
  const device = await v.openDevice(1000);
  const entries = await Promise.all(Array.from({ length: 200 }, (_, i) => device.append({ type: 'test', i })));
  // Seq 1 is the genesis checkpoint.
  assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: 200 }, (_, i) => i + 2));
  await device.close();
  const again = await v.openDevice(1000);
  await again.append({ type: 'after-restart' });
  await again.close();
  const result = verifyLines(lines(v.file), { publicKey: await pinned(v.signingKey) });
  assert.ok(result.ok && result.count === 202, JSON.stringify(result));
});

test('every kind of tampering is reported with its line, and verification carries on after it', async (t) => {
  const v = await signingVault(t);
  const dir = v.dir;
  const file = v.file;
  const device = await v.openDevice(1000);
  for (let i = 0; i < 10; i++) await device.append({ type: 'test', value: `v${i}` });
  await device.close();
  const good = lines(file); // genesis + v0..v9
  const edited = good.map((l, i) => (i === 5 ? l.replace('"v4"', '"v9"') : l));
  const deleted = good.filter((_, i) => i !== 5);
  const reordered = [...good.slice(0, 4), good[5]!, good[4]!, ...good.slice(6)];
  const inserted = [...good.slice(0, 6), good[3]!, ...good.slice(6)];
  for (const [name, tampered, line] of [['edit', edited, 6], ['delete', deleted, 6], ['reorder', reordered, 5], ['insert', inserted, 7]] as const) {
    const r = verifyLines(tampered);
    assert.equal(r.ok, false, name);
    assert.equal(r.damaged[0]?.line, line, name);
    // Resynchronised: the entries after the damage are still counted.
    assert.equal(r.count, tampered.length, name);
  }
  // Two damaged lines far apart are both reported.
  const twice = good.map((l, i) => (i === 2 || i === 8 ? l.replace('"test"', '"tost"') : l));
  assert.deepEqual(verifyLines(twice).damaged.map((d) => [d.line, d.reason]), [
    [3, 'hash mismatch (edited entry)'],
    [9, 'hash mismatch (edited entry)'],
  ]);
  // Truncation from the end is invisible to the chain alone; a kept head (--expect-head) catches it.
  const truncated = verifyLines(good.slice(0, 7));
  assert.ok(truncated.ok && truncated.count === 7);
  const head = JSON.parse(good[10]!) as { seq: number; hash: string };
  const cut = verifyLines(good.slice(0, 7), { expectHead: { seq: head.seq, hash: head.hash } });
  assert.ok(!cut.ok && /before the expected head/.test(cut.damaged[0]!.reason));

  // keyhold audit verify reports the same.
  writeFileSync(join(dir, 'bad.log'), `${edited.join('\n')}\n`);
  const bad = await runCli(['audit', 'verify', join(dir, 'bad.log')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /^line 6: hash mismatch \(edited entry\)\nFAILED 1 problem\(s\); 11 entries read/);
  const ok = await runCli(['audit', 'verify', file]);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /^OK 11 entries, 0 checkpoints verified\n/);
});

test('a torn last line (crash mid-write) is cut off at open; a whole entry missing its newline is kept', async (t) => {
  const v = await signingVault(t);
  const device = await v.openDevice(1000);
  await device.append({ type: 'test' });
  await device.close();
  appendFileSync(v.file, '{"seq":3,"ti');
  const reopened = await v.openDevice(1000);
  assert.equal(reopened.head.seq, 2);
  await reopened.append({ type: 'next' });
  await reopened.close();
  assert.ok(verifyLines(lines(v.file), { publicKey: await pinned(v.signingKey) }).ok);
  // Removing the last newline must not make the node drop the last entry.
  writeFileSync(v.file, readFileSync(v.file, 'utf8').replace(/\n$/, ''));
  const kept = await v.openDevice(1000);
  assert.equal(kept.head.seq, 3);
  assert.equal(kept.damage, undefined);
  await kept.close();
  // Blank lines carry nothing: skipped, not damage.
  appendFileSync(v.file, '\n\n');
  const blank = await v.openDevice(1000);
  assert.equal(blank.damage, undefined);
  await blank.append({ type: 'after blank lines' });
  await blank.close();
  assert.ok(verifyLines(lines(v.file), { publicKey: await pinned(v.signingKey) }).ok);
});

async function auditedVault(t: Parameters<typeof tempDir>[0], auditFile: string) {
  const dir = tempDir(t);
  const config = resolveConfig({ storage: { path: join(dir, 'k.db') }, log: { level: 'silent' }, audit: { file: auditFile } });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const { shares, rootToken } = await initVault(app, 1, 1);
  await unsealVault(app, shares);
  return { app, rootToken };
}

test('requests and responses are audited with every sensitive value as an HMAC', async (t) => {
  const file = join(tempDir(t), 'audit.log');
  const { app, rootToken } = await auditedVault(t, file);
  const call = (url: string, payload: object) => app.api.inject({ method: 'POST', url, headers: bearer(rootToken), payload });
  await call('/v1/keys', { name: 'payroll-2026' });
  const secret = Buffer.from('salary of alice: 123456').toString('base64');
  const ct = (await call('/v1/keys/payroll-2026/encrypt', { plaintext: secret })).json().ciphertext as string;
  await call('/v1/keys/payroll-2026/decrypt', { ciphertext: ct });
  const text = readFileSync(file, 'utf8');
  for (const s of ['payroll-2026', secret, ct, ct.split(':')[2]!, rootToken]) assert.ok(!text.includes(s), `${s.slice(0, 20)} in the audit log`);
  const entries = lines(file).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(entries.map((e) => e.type), ['checkpoint', 'request', 'response', 'request', 'response', 'request', 'response']);
  assert.equal(entries[3]!.operation, 'encrypt');
  assert.equal(entries[4]!.status, 200);
  const nameHash = (await call('/v1/sys/audit-hash', { input: 'payroll-2026' })).json().hash as string;
  assert.match(nameHash, /^hmac-sha256:[0-9a-f]{64}$/);
  assert.ok(text.includes(nameHash), 'an operator finds the key by its audit hash');
  assert.ok(verifyLines(lines(file)).ok);
});

test('fail closed: when the audit device cannot write, requests are refused and nothing executes', async (t) => {
  // /dev/full accepts the open and fails every write with ENOSPC: a real full-disk fault.
  const { app, rootToken } = await auditedVault(t, '/dev/full');
  const r = await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(rootToken), payload: { name: 'never' } });
  assert.equal(r.statusCode, 503);
  assert.equal(r.json().error.code, 'KH_AUDIT_UNAVAILABLE');
  assert.equal(await app.services.keys.store.get('never'), undefined, 'the key was not created');
  const again = await app.api.inject({ method: 'POST', url: '/v1/sys/rotate', headers: bearer(rootToken) });
  assert.equal(again.json().error.code, 'KH_AUDIT_UNAVAILABLE');
  assert.equal(app.services.barrier.keyStatus().term, 1, 'the keyring was not rotated');
});
