/** The file audit device and the API's fail-closed auditing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileAuditDevice } from '../../src/audit/file-device.js';
import { verifyLines } from '../../src/audit/audit-chain.js';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold } from '../../src/api/keyhold-app.js';
import { bearer, initVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runCli } from '../helpers/cli.js';

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');

test('group-committed appends form one verifiable chain that survives reopening', async (t) => {
  const file = join(tempDir(t), 'audit.log');
  const device = await FileAuditDevice.open(file);
  const entries = await Promise.all(Array.from({ length: 200 }, (_, i) => device.append({ type: 'test', i })));
  assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: 200 }, (_, i) => i + 1));
  await device.close();
  const again = await FileAuditDevice.open(file);
  await again.append({ type: 'after-restart' });
  await again.close();
  const result = verifyLines(lines(file));
  assert.deepEqual(result.ok && result.count, 201);
});

test('every kind of tampering is detected at the first bad line', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'audit.log');
  const device = await FileAuditDevice.open(file);
  for (let i = 0; i < 10; i++) await device.append({ type: 'test', value: `v${i}` });
  await device.close();
  const good = lines(file);
  const edited = good.map((l, i) => (i === 4 ? l.replace('"v4"', '"v9"') : l));
  const deleted = good.filter((_, i) => i !== 4);
  const reordered = [...good.slice(0, 3), good[4]!, good[3]!, ...good.slice(5)];
  const inserted = [...good.slice(0, 5), good[2]!, ...good.slice(5)];
  for (const [name, tampered, line] of [['edit', edited, 5], ['delete', deleted, 5], ['reorder', reordered, 4], ['insert', inserted, 6]] as const) {
    const r = verifyLines(tampered);
    assert.equal(r.ok, false, name);
    if (!r.ok) assert.equal(r.line, line, name);
  }
  // Truncation from the end is invisible to the chain alone; the count and head tell an operator.
  const truncated = verifyLines(good.slice(0, 7));
  assert.ok(truncated.ok && truncated.count === 7);

  // keyhold audit verify reports the same.
  writeFileSync(join(dir, 'bad.log'), `${edited.join('\n')}\n`);
  const bad = await runCli(['audit', 'verify', join(dir, 'bad.log')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /FAILED at line 5/);
  const ok = await runCli(['audit', 'verify', file]);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /^OK 10 entries, 0 checkpoints verified\n/);
});

test('a torn last line (crash mid-write) is cut off at open; a corrupt complete line refuses the device', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'audit.log');
  const device = await FileAuditDevice.open(file);
  await device.append({ type: 'test' });
  await device.close();
  appendFileSync(file, '{"seq":2,"ti');
  const reopened = await FileAuditDevice.open(file);
  assert.equal(reopened.head.seq, 1);
  await reopened.append({ type: 'next' });
  await reopened.close();
  assert.ok(verifyLines(lines(file)).ok);
  appendFileSync(file, '{"seq":3,"garbage":true}\n');
  await assert.rejects(FileAuditDevice.open(file), { code: 'KH_AUDIT_UNAVAILABLE' });
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
  assert.deepEqual(entries.map((e) => e.type), ['request', 'response', 'request', 'response', 'request', 'response']);
  assert.equal(entries[2]!.operation, 'encrypt');
  assert.equal(entries[3]!.status, 200);
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
