import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { Barrier } from '../../src/barrier/barrier.js';
import { tempDir } from '../helpers/temp-dir.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

async function unsealedBarrier(t: TestContext) {
  const backend = new SqliteBackend({ path: join(tempDir(t), 'b.db') });
  const barrier = new Barrier(backend);
  const rootKey = new Uint8Array(randomBytes(32));
  await backend.transaction([barrier.createKeyring(rootKey)]);
  t.after(() => backend.close());
  return { backend, barrier, rootKey };
}

test('records round-trip and are stored only as ciphertext', async (t) => {
  const { backend, barrier } = await unsealedBarrier(t);
  await barrier.put('app/secret', enc('attack at dawn'));
  assert.equal(dec(await barrier.get('app/secret')), 'attack at dawn');
  const raw = await backend.get('logical/app/secret');
  assert.ok(raw);
  assert.ok(!Buffer.from(raw).includes('attack at dawn'));
  assert.equal(raw[0], 2, 'record version');
  assert.equal(await barrier.get('app/absent'), undefined);
});

test('every flipped bit of a record is detected: KH_STORAGE_ROLLBACK in the generation field, KH_STORAGE_INTEGRITY elsewhere', async (t) => {
  const { backend, barrier } = await unsealedBarrier(t);
  await barrier.put('x', enc('value'));
  const raw = (await backend.get('logical/x'))!;
  let flipped = 0;
  for (let i = 0; i < raw.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const bad = raw.slice();
      bad[i]! ^= 1 << bit;
      await backend.put('logical/x', bad);
      // Bytes 5-12 are the generation, checked against the storage state before decryption.
      await assert.rejects(barrier.get('x'), { code: i >= 5 && i < 13 ? 'KH_STORAGE_ROLLBACK' : 'KH_STORAGE_INTEGRITY' }, `byte ${i} bit ${bit}`);
      flipped++;
    }
  }
  assert.equal(flipped, raw.length * 8);
  await backend.put('logical/x', raw.subarray(0, 10));
  await assert.rejects(barrier.get('x'), { code: 'KH_STORAGE_INTEGRITY' });
  await backend.put('logical/x', new Uint8Array());
  await assert.rejects(barrier.get('x'), { code: 'KH_STORAGE_INTEGRITY' });
});

test('a record moved or copied to another path does not authenticate', async (t) => {
  const { backend, barrier } = await unsealedBarrier(t);
  await barrier.put('users/alice', enc('alice-data'));
  await barrier.put('users/bob', enc('bob-data'));
  const bobGeneration = (await backend.get('logical/users/bob'))!.slice(5, 13);
  await backend.put('logical/users/bob', (await backend.get('logical/users/alice'))!);
  // Refused as not the current record (its generation is alice's) ...
  await assert.rejects(barrier.get('users/bob'), { code: 'KH_STORAGE_ROLLBACK' });
  // ... and with the generation relabelled to bob's, the AAD (path, term, generation) does not authenticate.
  const relabelled = (await backend.get('logical/users/alice'))!.slice();
  relabelled.set(bobGeneration, 5);
  await backend.put('logical/users/bob', relabelled);
  await assert.rejects(barrier.get('users/bob'), { code: 'KH_STORAGE_INTEGRITY' });
  assert.equal(dec(await barrier.get('users/alice')), 'alice-data');
});

test('rotation adds a term: new writes use it, old records stay readable, and a relabelled term fails', async (t) => {
  const { backend, barrier, rootKey } = await unsealedBarrier(t);
  await barrier.put('old', enc('written in term 1'));
  const info = await barrier.rotate();
  assert.equal(info.term, 2);
  await barrier.put('new', enc('written in term 2'));
  const term = async (k: string) => new DataView((await backend.get(k))!.buffer).getUint32(1);
  assert.equal(await term('logical/old'), 1);
  assert.equal(await term('logical/new'), 2);
  assert.equal(dec(await barrier.get('old')), 'written in term 1');

  const relabelled = (await backend.get('logical/old'))!.slice();
  new DataView(relabelled.buffer).setUint32(1, 2);
  await backend.put('logical/old', relabelled);
  await assert.rejects(barrier.get('old'), { code: 'KH_STORAGE_INTEGRITY' });

  // A fresh barrier on the same storage reads both terms after unseal.
  const other = new Barrier(backend);
  await other.unseal(rootKey);
  assert.equal(dec(await other.get('new')), 'written in term 2');
  assert.deepEqual(other.keyStatus().term, 2);
});

test('while sealed every data call throws KH_SEALED; sealing is idempotent', async (t) => {
  const { barrier, rootKey } = await unsealedBarrier(t);
  await barrier.put('k', enc('v'));
  barrier.seal();
  barrier.seal();
  assert.equal(barrier.sealed, true);
  const view = barrier.view('app/');
  await assert.rejects(barrier.get('k'), { code: 'KH_SEALED' });
  await assert.rejects(barrier.put('k', enc('v')), { code: 'KH_SEALED' });
  await assert.rejects(barrier.delete('k'), { code: 'KH_SEALED' });
  await assert.rejects(barrier.list(''), { code: 'KH_SEALED' });
  await assert.rejects(barrier.transaction([{ type: 'put', path: 'k', value: enc('v') }]), { code: 'KH_SEALED' });
  await assert.rejects(barrier.rotate(), { code: 'KH_SEALED' });
  await assert.rejects(barrier.rewrapAll(), { code: 'KH_SEALED' });
  assert.throws(() => barrier.indexPath('key', 'k'), { code: 'KH_SEALED' });
  assert.throws(() => barrier.encryptOp({ type: 'put', path: 'k', value: enc('v') }), { code: 'KH_SEALED' });
  assert.throws(() => barrier.decryptRecord('k', new Uint8Array(64)), { code: 'KH_SEALED' });
  // And through a view, as services reach the barrier.
  await assert.rejects(view.get('k'), { code: 'KH_SEALED' });
  await assert.rejects(view.put('k', enc('v')), { code: 'KH_SEALED' });
  await assert.rejects(view.delete('k'), { code: 'KH_SEALED' });
  await assert.rejects(view.list(), { code: 'KH_SEALED' });
  await assert.rejects(view.transaction([{ type: 'delete', path: 'k' }]), { code: 'KH_SEALED' });
  assert.throws(() => view.indexPath('key', 'k'), { code: 'KH_SEALED' });
  await barrier.unseal(rootKey);
  assert.equal(dec(await barrier.get('k')), 'v');
});

test('unseal with the wrong root key fails with KH_STORAGE_INTEGRITY and stays sealed', async (t) => {
  const { barrier } = await unsealedBarrier(t);
  barrier.seal();
  await assert.rejects(barrier.unseal(new Uint8Array(32)), { code: 'KH_STORAGE_INTEGRITY' });
  assert.equal(barrier.sealed, true);
});

test('views are confined to their prefix', async (t) => {
  const { barrier } = await unsealedBarrier(t);
  const a = barrier.view('a/');
  const b = barrier.view('b/');
  await a.put('x', enc('in a'));
  await b.put('x', enc('in b'));
  assert.equal(dec(await a.get('x')), 'in a');
  assert.deepEqual(await a.list(), ['x']);
  await a.transaction([{ type: 'put', path: 'y', value: enc('1') }, { type: 'delete', path: 'x' }]);
  assert.deepEqual(await a.list(), ['y']);
  assert.equal(dec(await b.get('x')), 'in b');
  // Paths are keys, not file paths: '..' does not climb out of a view.
  assert.equal(await a.get('../b/x'), undefined);
  await a.put('../b/x', enc('planted'));
  assert.equal(dec(await b.get('x')), 'in b');
  assert.deepEqual(await b.list(), ['x']);
  // A sibling whose prefix starts with the same letters is another view.
  const ab = barrier.view('ab/');
  await ab.put('z', enc('in ab'));
  assert.deepEqual(await a.list(), ['../b/x', 'y']);
  assert.deepEqual(await ab.list(), ['z']);
  // Deleting through one view leaves the other's record of the same name.
  await b.put('y', enc('b y'));
  await a.delete('y');
  assert.equal(dec(await b.get('y')), 'b y');
  assert.throws(() => barrier.view('noslash'), TypeError);
});

test('index paths are keyed HMACs: stable per vault, distinct per namespace and per vault', async (t) => {
  const one = await unsealedBarrier(t);
  const two = await unsealedBarrier(t);
  const p = one.barrier.indexPath('key', 'payments');
  assert.match(p, /^[0-9a-f]{64}$/);
  assert.equal(one.barrier.indexPath('key', 'payments'), p);
  assert.notEqual(one.barrier.indexPath('secret', 'payments'), p);
  assert.notEqual(two.barrier.indexPath('key', 'payments'), p);
  // namespace/name boundary is unambiguous
  assert.notEqual(one.barrier.indexPath('ke', 'ypayments'), p);
});

test('rewrapAll and rotate keep the keyring record whole: later writes and a fresh unseal still read every record', async (t) => {
  const { backend, barrier, rootKey } = await unsealedBarrier(t);
  await barrier.put('a', enc('1'));
  await barrier.rewrapAll();
  await barrier.put('b', enc('2'));
  await barrier.rotate();
  await barrier.put('c', enc('3'));
  const other = new Barrier(backend);
  await other.unseal(rootKey);
  assert.deepEqual([dec(await other.get('a')), dec(await other.get('b')), dec(await other.get('c'))], ['1', '2', '3']);
});
