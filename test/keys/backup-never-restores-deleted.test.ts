/**
 * Review of issue 15, finding 6: restoring a key backup (VSSM restorebackup,
 * action restoreKeys, which the VSSM admin password alone may hold) brought
 * back a key destroyed after the backup was made, and its old ciphertexts
 * decrypted again. A deletion now leaves a tombstone (the name's HMAC), and a
 * backup holding a deleted key is refused as a whole with KH_BACKUP_KEY_DELETED.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold, type KeyholdApp } from '../../src/api/keyhold-app.js';
import { exportKeyRecords, importKeyRecords } from '../../src/keys/key-backup.js';
import { KeyManager } from '../../src/keys/key-manager.js';
import { KeyholdError } from '../../src/errors.js';
import { bearer, initVault, unsealVault, TEST_LIMITS } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';

async function vault(t: Parameters<typeof tempDir>[0]): Promise<{ app: KeyholdApp; root: Record<string, string> }> {
  const app = await buildKeyhold(resolveConfig({ storage: { path: join(tempDir(t), 'k.db') }, log: { level: 'silent' }, limits: TEST_LIMITS }), { logger: false });
  t.after(() => app.close());
  const init = await initVault(app, 1, 1);
  await unsealVault(app, init.shares);
  return { app, root: bearer(init.rootToken) };
}

const deletedError = (e: unknown) => e instanceof KeyholdError && e.code === 'KH_BACKUP_KEY_DELETED' && e.status === 409;

test('a backup does not bring back a key destroyed after it was made, and its ciphertexts stay undecryptable', async (t) => {
  const { app, root } = await vault(t);
  const { keys, barrier } = app.services;
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/keys', headers: root, payload: { name: 'shred-me', type: 'aes256-gcm' } })).statusCode, 200);
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/keys', headers: root, payload: { name: 'keep', type: 'aes256-gcm' } })).statusCode, 200);
  const ct = (await app.api.inject({ method: 'POST', url: '/v1/keys/shred-me/encrypt', headers: root, payload: { plaintext: Buffer.from('customer PII').toString('base64') } })).json().ciphertext as string;
  const backup = await exportKeyRecords(barrier, keys);
  await keys.update('shred-me', { deletionAllowed: true });
  await keys.destroy('shred-me');
  await assert.rejects(importKeyRecords(barrier, keys, backup.blob), deletedError);
  assert.equal((await app.api.inject({ method: 'GET', url: '/v1/keys/shred-me', headers: root })).statusCode, 404);
  const pt = await app.api.inject({ method: 'POST', url: '/v1/keys/shred-me/decrypt', headers: root, payload: { ciphertext: ct } });
  assert.equal(pt.statusCode, 404, pt.body);
  // Re-creating the name makes another key: the old backup is still refused, a backup made now is not.
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/keys', headers: root, payload: { name: 'shred-me', type: 'aes256-gcm' } })).statusCode, 200);
  await assert.rejects(importKeyRecords(barrier, keys, backup.blob), deletedError, 'the tombstone outlives a re-created key');
  const fresh = await exportKeyRecords(barrier, keys);
  const again = await importKeyRecords(barrier, keys, fresh.blob);
  assert.deepEqual([again.restored, [...again.skipped].sort()], [[], ['keep', 'shred-me']]);
  // Listings never show tombstones.
  assert.deepEqual(((await app.api.inject({ method: 'GET', url: '/v1/keys', headers: root })).json().keys as { name: string }[]).map((k) => k.name), ['keep', 'shred-me']);
});

test('a scheduled deletion carried out at its date leaves a tombstone too', async (t) => {
  const { app, root } = await vault(t);
  const { keys, barrier } = app.services;
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/keys', headers: root, payload: { name: 'expiring', type: 'aes256-gcm' } })).statusCode, 200);
  const backup = await exportKeyRecords(barrier, keys);
  await keys.scheduleDeletion('expiring', 7);
  // A manager whose clock is past the deletion date carries the deletion out on first access.
  const later = new KeyManager(barrier, { now: () => new Date(Date.now() + 8 * 86_400_000) });
  await assert.rejects(later.get('expiring'), (e: unknown) => e instanceof KeyholdError && e.code === 'KH_KEY_NOT_FOUND');
  await assert.rejects(importKeyRecords(barrier, keys, backup.blob), deletedError);
});
