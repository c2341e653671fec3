/**
 * The behaviour every PhysicalBackend must have. Each backend's test file
 * calls runBackendSuite with a factory; PostgreSQL will reuse it unchanged.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { PhysicalBackend } from '../../src/storage/backend.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

export function runBackendSuite(name: string, open: (t: TestContext) => Promise<PhysicalBackend>): void {
  const withBackend = (title: string, fn: (b: PhysicalBackend) => Promise<void>) =>
    test(`${name}: ${title}`, async (t) => {
      const b = await open(t);
      try {
        await fn(b);
      } finally {
        await b.close();
      }
    });

  withBackend('get of an absent key is undefined', async (b) => {
    assert.equal(await b.get('nope'), undefined);
  });

  withBackend('put then get returns the same bytes, including empty and binary values', async (b) => {
    const binary = new Uint8Array(256).map((_, i) => i);
    await b.put('a', bytes('one'));
    await b.put('empty', new Uint8Array());
    await b.put('bin', binary);
    assert.equal(text(await b.get('a')), 'one');
    assert.deepEqual(await b.get('empty'), new Uint8Array());
    assert.deepEqual(await b.get('bin'), binary);
  });

  withBackend('put overwrites', async (b) => {
    await b.put('k', bytes('1'));
    await b.put('k', bytes('2'));
    assert.equal(text(await b.get('k')), '2');
  });

  withBackend('delete removes; deleting an absent key is not an error', async (b) => {
    await b.put('k', bytes('1'));
    await b.delete('k');
    await b.delete('k');
    assert.equal(await b.get('k'), undefined);
  });

  withBackend('list returns keys with the prefix in ascending order, and nothing else', async (b) => {
    for (const k of ['logical/b/2', 'logical/a', 'logical/b/1', 'logical0', 'core/x', 'logical/', 'logical/b/\u00e9']) await b.put(k, bytes(k));
    assert.deepEqual(await b.list('logical/'), ['logical/', 'logical/a', 'logical/b/1', 'logical/b/2', 'logical/b/\u00e9']);
    assert.deepEqual(await b.list('logical/b/'), ['logical/b/1', 'logical/b/2', 'logical/b/\u00e9']);
    assert.deepEqual(await b.list('zzz'), []);
    assert.equal((await b.list('')).length, 7);
  });

  withBackend('keys are binary-exact: similar keys do not collide', async (b) => {
    await b.put('a%', bytes('1'));
    await b.put('a_', bytes('2'));
    await b.put('A', bytes('3'));
    assert.equal(text(await b.get('a%')), '1');
    assert.equal(text(await b.get('a_')), '2');
    assert.deepEqual(await b.list('a'), ['a%', 'a_']);
  });

  withBackend('transaction applies puts and deletes in order', async (b) => {
    await b.put('gone', bytes('x'));
    await b.transaction([
      { type: 'put', key: 't/1', value: bytes('1') },
      { type: 'put', key: 't/2', value: bytes('first') },
      { type: 'put', key: 't/2', value: bytes('second') },
      { type: 'delete', key: 'gone' },
    ]);
    assert.equal(text(await b.get('t/1')), '1');
    assert.equal(text(await b.get('t/2')), 'second');
    assert.equal(await b.get('gone'), undefined);
  });

  withBackend('a failing transaction writes nothing', async (b) => {
    await b.put('keep', bytes('old'));
    const poison = { type: 'put', key: 'p', value: {} as unknown as Uint8Array } as const;
    await assert.rejects(b.transaction([{ type: 'put', key: 'keep', value: bytes('new') }, { type: 'put', key: 'fresh', value: bytes('1') }, poison]));
    assert.equal(text(await b.get('keep')), 'old');
    assert.equal(await b.get('fresh'), undefined);
  });

  withBackend('an empty transaction is a no-op', async (b) => {
    await b.transaction([]);
    assert.deepEqual(await b.list(''), []);
  });

  withBackend('concurrent writes to different keys all land', async (b) => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => b.put(`c/${String(i).padStart(2, '0')}`, bytes(String(i)))));
    assert.equal((await b.list('c/')).length, 50);
  });

  withBackend('calls after close fail with KH_STORAGE_UNAVAILABLE', async (b) => {
    await b.close();
    await assert.rejects(b.get('x'), { code: 'KH_STORAGE_UNAVAILABLE' });
  });
}
