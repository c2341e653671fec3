/**
 * BYOK in Vault transit's format, wrapped with node:crypto (OpenSSL's
 * id-aes256-wrap-pad), an implementation independent of the one that unwraps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createCipheriv, createDecipheriv, generateKeyPairSync, publicEncrypt, randomBytes, sign } from 'node:crypto';
import { bearer, unsealedVault } from '../helpers/keyhold.js';

function wrapForImport(wrappingPem: string, material: Buffer): string {
  const ephemeral = randomBytes(32);
  const wrappedKey = publicEncrypt({ key: wrappingPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, ephemeral);
  const kwp = createCipheriv('id-aes256-wrap-pad', ephemeral, Buffer.from('A65959A6', 'hex'));
  return Buffer.concat([wrappedKey, kwp.update(material), kwp.final()]).toString('base64');
}

test('wrapped symmetric and asymmetric keys import and work as the original material', async (t) => {
  const v = await unsealedVault(t);
  const call = (method: 'GET' | 'POST', url: string, payload?: object) => v.app.api.inject({ method, url, headers: bearer(v.rootToken), ...(payload ? { payload } : {}) });
  const wk = (await call('GET', '/v1/wrapping-key')).json();
  assert.equal(wk.algorithm, 'RSA_OAEP_SHA256_AES_KWP');
  assert.match(wk.publicKey, /BEGIN PUBLIC KEY/);
  assert.equal((await call('GET', '/v1/wrapping-key')).json().publicKey, wk.publicKey, 'the wrapping key is stable');

  // AES-256: ciphertexts made by Keyhold decrypt locally with the imported bytes.
  const aesKey = randomBytes(32);
  const imported = await call('POST', '/v1/keys/legacy-aes/import', { type: 'aes256-gcm', ciphertext: wrapForImport(wk.publicKey, aesKey) });
  assert.equal(imported.statusCode, 200, imported.body);
  const ct = (await call('POST', '/v1/keys/legacy-aes/encrypt', { plaintext: Buffer.from('moved in').toString('base64') })).json().ciphertext as string;
  const raw = Buffer.from(ct.split(':')[2]!, 'base64');
  const d = createDecipheriv('aes-256-gcm', aesKey, raw.subarray(0, 12));
  d.setAuthTag(raw.subarray(raw.length - 16));
  assert.equal(Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString(), 'moved in');

  // Ed25519 from PKCS#8: Keyhold's signature equals the local one (Ed25519 is deterministic).
  const ed = generateKeyPairSync('ed25519');
  const pkcs8 = ed.privateKey.export({ format: 'der', type: 'pkcs8' });
  assert.equal((await call('POST', '/v1/keys/legacy-ed/import', { type: 'ed25519', ciphertext: wrapForImport(wk.publicKey, pkcs8) })).statusCode, 200);
  const msg = Buffer.from('hello');
  const sig = (await call('POST', '/v1/keys/legacy-ed/sign', { input: msg.toString('base64') })).json().signature as string;
  assert.equal(sig.split(':')[2], sign(null, msg, ed.privateKey).toString('base64'));

  // import-version adds a new current version.
  const next = await call('POST', '/v1/keys/legacy-aes/import-version', { ciphertext: wrapForImport(wk.publicKey, randomBytes(32)) });
  assert.equal(next.json().latestVersion, 2);
});

test('public-key-only imports verify but cannot sign; bad wrapping is one fixed error', async (t) => {
  const v = await unsealedVault(t);
  const call = (method: 'GET' | 'POST', url: string, payload?: object) => v.app.api.inject({ method, url, headers: bearer(v.rootToken), ...(payload ? { payload } : {}) });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = ec.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const created = (await call('POST', '/v1/keys/partner/import', { type: 'ecdsa-p256', publicKey: spki })).json();
  assert.equal(created.publicOnly, true);
  const msg = Buffer.from('invoice');
  const s = sign('sha256', msg, ec.privateKey).toString('base64');
  assert.equal((await call('POST', '/v1/keys/partner/verify', { input: msg.toString('base64'), signature: `keyhold:v1:${s}` })).json().valid, true);
  assert.equal((await call('POST', '/v1/keys/partner/sign', { input: msg.toString('base64') })).json().error.code, 'KH_KEY_OPERATION_UNSUPPORTED');
  const wrongType = await call('POST', '/v1/keys/p2/import', { type: 'ed25519', publicKey: spki });
  assert.equal(wrongType.json().error.code, 'KH_INPUT_INVALID');

  const wk = (await call('GET', '/v1/wrapping-key')).json().publicKey as string;
  const good = Buffer.from(wrapForImport(wk, randomBytes(32)), 'base64');
  for (const bad of [Buffer.concat([good.subarray(0, 100), Buffer.from([good[100]! ^ 1]), good.subarray(101)]), good.subarray(0, 520), Buffer.concat([good, Buffer.alloc(8)])]) {
    const r = await call('POST', '/v1/keys/x/import', { type: 'aes256-gcm', ciphertext: bad.toString('base64') });
    assert.deepEqual([r.statusCode, r.json().error.code, r.json().error.message], [400, 'KH_DECRYPT_FAILED', 'decryption failed']);
  }
  const wrongLength = await call('POST', '/v1/keys/x/import', { type: 'aes256-gcm', ciphertext: wrapForImport(wk, randomBytes(16)) });
  assert.equal(wrongLength.json().error.code, 'KH_INPUT_INVALID');
});

test('only exportable keys export their material', async (t) => {
  const v = await unsealedVault(t);
  const call = (method: 'GET' | 'POST', url: string, payload?: object) => v.app.api.inject({ method, url, headers: bearer(v.rootToken), ...(payload ? { payload } : {}) });
  await call('POST', '/v1/keys', { name: 'locked' });
  await call('POST', '/v1/keys', { name: 'open', exportable: true });
  const refused = await call('GET', '/v1/keys/locked/export');
  assert.deepEqual([refused.statusCode, refused.json().error.code], [403, 'KH_KEY_NOT_EXPORTABLE']);
  const exported = (await call('GET', '/v1/keys/open/export')).json();
  assert.equal(Buffer.from(exported.versions[0].secret, 'base64').length, 32);
  // exportable cannot be switched on later
  const patch = await v.app.api.inject({ method: 'PATCH', url: '/v1/keys/locked', headers: bearer(v.rootToken), payload: { exportable: true } });
  assert.equal(patch.json().error.code, 'KH_BAD_REQUEST');
});
