/** Closing the server lets in-flight requests finish, refuses new ones, then wipes the keyring. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { initVault, testVault, unsealVault } from '../helpers/keyhold.js';

test('close waits for in-flight requests, then seals and closes storage', async (t) => {
  const { app } = await testVault(t);
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  let entered: () => void = () => undefined;
  const inHandler = new Promise<void>((r) => (entered = r));
  app.api.get(
    '/test/slow',
    { config: { auth: 'none', allowSealed: true }, schema: { operationId: 'slowTest', response: { 200: Type.Object({ done: Type.Boolean() }) } } },
    async () => {
      entered();
      await gate;
      return { done: true };
    },
  );
  await unsealVault(app, (await initVault(app, 1, 1)).shares);
  await app.api.listen({ host: '127.0.0.1', port: 0 });
  const address = app.api.server.address();
  assert.ok(address !== null && typeof address === 'object');
  const url = `http://127.0.0.1:${address.port}`;

  const slow = fetch(`${url}/test/slow`);
  await inHandler;
  const closing = app.close();
  let closed = false;
  void closing.then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(closed, false, 'close must wait for the in-flight request');
  assert.equal(app.services.barrier.sealed, false, 'keys stay until in-flight work is done');
  release();
  const res = await slow;
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { done: true });
  await closing;
  assert.equal(app.services.barrier.sealed, true, 'the keyring is wiped on shutdown');
  await assert.rejects(fetch(`${url}/v1/sys/seal-status`));
});
