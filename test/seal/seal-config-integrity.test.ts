/**
 * Issue 15 L7: an edited `core/seal-config` record (stored in the clear, its
 * bytes bound into the wrapped root key's AAD) is an integrity error with a
 * stable code, never KH_INTERNAL. Edits that keep it parseable but break the
 * rules init enforced (threshold above the share count, a 1-of-n threshold,
 * an automatic seal without its description) are caught when it is read, so
 * neither seal-status nor unseal acts on a threshold an attacker lowered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold } from '../../src/api/keyhold-app.js';
import { decodeSealConfig, encodeSealConfig, type SealConfig } from '../../src/seal/seal-config.js';
import { KeyholdError } from '../../src/errors.js';
import { initVault, testVault } from '../helpers/keyhold.js';

const GOOD: SealConfig = { version: 1, type: 'shamir', shares: 3, threshold: 2, initializedAt: '2026-01-01T00:00:00.000Z' };

test('L7: a seal config that breaks the rules init enforces is KH_STORAGE_INTEGRITY when read', () => {
  assert.deepEqual(decodeSealConfig(encodeSealConfig(GOOD)), GOOD);
  assert.deepEqual(decodeSealConfig(encodeSealConfig({ ...GOOD, shares: 1, threshold: 1 })), { ...GOOD, shares: 1, threshold: 1 });
  const bad: [string, unknown][] = [
    ['threshold lowered to 1 of 3', { ...GOOD, threshold: 1 }],
    ['threshold above the share count', { ...GOOD, threshold: 9 }],
    ['pkcs11 without its HSM key', { ...GOOD, type: 'pkcs11' }],
    ['enclave without measurements', { ...GOOD, type: 'enclave' }],
    ['shamir naming an HSM key', { ...GOOD, hsm: { keyLabel: 'x', mechanism: 'aes-gcm' } }],
    ['an unknown field', { ...GOOD, extra: true }],
    ['not JSON', 'garbage'],
  ];
  for (const [what, value] of bad) {
    const bytes = new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
    assert.throws(() => decodeSealConfig(bytes), (e: unknown) => e instanceof KeyholdError && e.code === 'KH_STORAGE_INTEGRITY', what);
  }
});

test('L7: an edited core/seal-config answers KH_STORAGE_INTEGRITY on seal-status and unseal, never KH_INTERNAL', async (t) => {
  const v = await testVault(t);
  const { shares } = await initVault(v.app, 3, 2);
  await v.app.close();
  const db = new Database(v.dbPath);
  t.after(() => db.close());
  const original = (db.prepare('SELECT value FROM kv WHERE key = ?').get('core/seal-config') as { value: Buffer }).value.toString();
  const edits = [original.replace('"threshold":2', '"threshold":1'), original.replace('"threshold":2', '"threshold":9'), original.replace('"type":"shamir"', '"type":"pkcs11"'), '{"version":1', ''];
  for (const edit of edits) {
    db.prepare('UPDATE kv SET value = ? WHERE key = ?').run(Buffer.from(edit), 'core/seal-config');
    const app = await buildKeyhold(resolveConfig({ storage: { path: v.dbPath }, listeners: { api: { port: 0 }, health: { port: 0 } }, log: { level: 'silent' } }), { logger: false });
    try {
      const status = await app.api.inject({ url: '/v1/sys/seal-status' });
      assert.equal(status.json().error?.code, 'KH_STORAGE_INTEGRITY', `seal-status with ${edit}: ${status.body}`);
      for (const key of shares.slice(0, 2)) {
        const res = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key } });
        assert.equal(res.json().error?.code, 'KH_STORAGE_INTEGRITY', `unseal with ${edit}: ${res.body}`);
      }
    } finally {
      await app.close();
    }
  }
});
