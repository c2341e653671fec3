/** A new root token from a quorum of unseal shares (Vault's generate-root): nonce-bound, once, wrong shares refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, unsealedVault } from '../helpers/keyhold.js';

test('a quorum of unseal shares generates a new root token, shown once; bad shares and nonces are refused', async (t) => {
  const { app, shares } = await unsealedVault(t);
  const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) => app.api.inject({ method, url, ...(payload ? { payload } : {}) });
  assert.equal((await inject('POST', '/v1/sys/generate-root/update', { key: shares[0]!, nonce: 'x' })).json().error.code, 'KH_ROOT_GENERATION_NOT_STARTED');
  const { nonce } = (await inject('POST', '/v1/sys/generate-root/init')).json();
  assert.equal((await inject('POST', '/v1/sys/generate-root/init')).json().error.code, 'KH_ROOT_GENERATION_IN_PROGRESS');
  assert.equal((await inject('POST', '/v1/sys/generate-root/update', { key: shares[0]!, nonce: 'other' })).json().error.code, 'KH_ROOT_GENERATION_NONCE_MISMATCH');
  const first = (await inject('POST', '/v1/sys/generate-root/update', { key: shares[0]!, nonce })).json();
  assert.deepEqual([first.complete, first.progress, first.required], [false, 1, 2]);
  const done = (await inject('POST', '/v1/sys/generate-root/update', { key: shares[2]!, nonce })).json();
  assert.equal(done.complete, true);
  assert.match(done.rootToken, /^khr\./);
  assert.equal((await app.api.inject({ url: '/v1/keys', headers: bearer(done.rootToken) })).statusCode, 200, 'the new token works');
  assert.equal((await inject('GET', '/v1/sys/generate-root/init')).json().started, false, 'the generation is over');

  // Shares that do not open the root key (here: from another vault) mint nothing.
  const other = await unsealedVault(t);
  const again = (await inject('POST', '/v1/sys/generate-root/init')).json();
  await inject('POST', '/v1/sys/generate-root/update', { key: other.shares[0]!, nonce: again.nonce });
  const wrong = await inject('POST', '/v1/sys/generate-root/update', { key: other.shares[1]!, nonce: again.nonce });
  assert.equal(wrong.json().error.code, 'KH_UNSEAL_FAILED');
});
