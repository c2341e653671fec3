/** Time-driven lifecycle with an injected clock: automatic rotation and deletion after the waiting period. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { memoryBarrier } from '../helpers/memory-barrier.js';
import { KeyManager } from '../../src/keys/key-manager.js';
import { encrypt, decrypt } from '../../src/keys/operations/encrypt.js';

async function manager(t: TestContext) {
  const { barrier } = await memoryBarrier(t);
  let now = Date.parse('2026-01-01T00:00:00Z');
  const keys = new KeyManager(barrier, { now: () => new Date(now) });
  return { keys, barrier, advance: (ms: number) => (now += ms) };
}

test('a key with autoRotatePeriodSeconds rotates on first use after the period', async (t) => {
  const { keys, advance } = await manager(t);
  await keys.create({ name: 'auto', autoRotatePeriodSeconds: 3600 });
  const before = encrypt(await keys.get('auto'), { plaintext: new Uint8Array([1]) });
  assert.equal(before.version, 1);
  advance(3599_000);
  assert.equal((await keys.get('auto')).record.latestVersion, 1);
  advance(2_000);
  const after = await keys.get('auto');
  assert.equal(after.record.latestVersion, 2);
  assert.equal(encrypt(after, { plaintext: new Uint8Array([1]) }).version, 2);
  assert.deepEqual(decrypt(after, { ciphertext: before.ciphertext }).plaintext, new Uint8Array([1]));
  await assert.rejects(keys.create({ name: 'too-fast', autoRotatePeriodSeconds: 60 }), { code: 'KH_KEY_CONFIG_INVALID' });
});

test('a key scheduled for deletion is gone after the waiting period, and usable again if cancelled before', async (t) => {
  const { keys, advance } = await manager(t);
  await keys.create({ name: 'doomed' });
  await keys.create({ name: 'saved' });
  await keys.scheduleDeletion('doomed', 7);
  await keys.scheduleDeletion('saved', 7);
  advance(6 * 86_400_000);
  await keys.cancelDeletion('saved');
  assert.equal((await keys.list({ limit: 10 })).keys.length, 2);
  advance(86_400_000 + 1);
  assert.deepEqual((await keys.list({ limit: 10 })).keys.map((k) => k.name), ['saved']);
  await assert.rejects(keys.get('doomed'), { code: 'KH_KEY_NOT_FOUND' });
  assert.equal((await keys.store.get('doomed')), undefined, 'the record is deleted from storage');
  await keys.create({ name: 'doomed' });
});

test('concurrent rotations of one key never lose a version', async (t) => {
  const { keys } = await manager(t);
  await keys.create({ name: 'busy' });
  await Promise.all(Array.from({ length: 20 }, () => keys.rotate('busy')));
  const key = await keys.get('busy');
  assert.equal(key.record.latestVersion, 21);
  assert.deepEqual(key.record.versions.map((v) => v.version), Array.from({ length: 21 }, (_, i) => i + 1));
});

test('sealing drops cached keys; after unseal they are read back from storage', async (t) => {
  const { barrier, rootKey: root } = await memoryBarrier(t);
  const keys = new KeyManager(barrier);
  await keys.create({ name: 'k' });
  const ct = encrypt(await keys.get('k'), { plaintext: new Uint8Array([7]) }).ciphertext;
  barrier.seal();
  await assert.rejects(keys.get('k'), { code: 'KH_SEALED' });
  await barrier.unseal(root);
  assert.deepEqual(decrypt(await keys.get('k'), { ciphertext: ct }).plaintext, new Uint8Array([7]));
});
