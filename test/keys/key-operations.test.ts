/** Every key type through the /v1 API: create, use, rotate, and the refusals that go with them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, createVerify, verify as nodeVerify, createHash } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { bearer, unsealedVault } from '../helpers/keyhold.js';
import { KEY_TYPES, KEY_TYPE_NAMES } from '../../src/keys/key-types.js';

type Vault = Awaited<ReturnType<typeof unsealedVault>>;
const b64 = (s: string) => Buffer.from(s).toString('base64');

function caller(v: Vault) {
  return async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown): Promise<LightMyRequestResponse> =>
    v.app.api.inject({ method, url, headers: bearer(v.rootToken), ...(payload !== undefined ? { payload: payload as object } : {}) });
}

test('AEAD keys encrypt and decrypt with associated data and context; any change fails with one message', async (t) => {
  const v = await unsealedVault(t);
  const call = caller(v);
  for (const type of KEY_TYPE_NAMES.filter((n) => KEY_TYPES[n].kind === 'aead')) {
    const name = `k-${type}`;
    assert.equal((await call('POST', '/v1/keys', { name, type })).statusCode, 200, type);
    const enc = await call('POST', `/v1/keys/${name}/encrypt`, { plaintext: b64('hello'), associatedData: b64('ad'), context: { tenant: 'a', app: 'b' } });
    assert.equal(enc.statusCode, 200, enc.body);
    const { ciphertext } = enc.json();
    assert.match(ciphertext, /^keyhold:v1:[A-Za-z0-9+/=]+$/);
    const dec = await call('POST', `/v1/keys/${name}/decrypt`, { ciphertext, associatedData: b64('ad'), context: { app: 'b', tenant: 'a' } });
    assert.equal(Buffer.from(dec.json().plaintext, 'base64').toString(), 'hello', type);
    for (const wrong of [
      { ciphertext, associatedData: b64('AD'), context: { tenant: 'a', app: 'b' } },
      { ciphertext, associatedData: b64('ad'), context: { tenant: 'x', app: 'b' } },
      { ciphertext, associatedData: b64('ad') },
      { ciphertext: `${ciphertext.slice(0, 20)}${ciphertext[20] === 'A' ? 'B' : 'A'}${ciphertext.slice(21)}`, associatedData: b64('ad'), context: { tenant: 'a', app: 'b' } },
    ]) {
      const r = await call('POST', `/v1/keys/${name}/decrypt`, wrong);
      assert.equal(r.statusCode, 400, type);
      assert.deepEqual([r.json().error.code, r.json().error.message], ['KH_DECRYPT_FAILED', 'decryption failed']);
    }
  }
});

test('rotation: old ciphertexts still decrypt, rewrap moves them to the new version, minDecryptionVersion retires the old one', async (t) => {
  const v = await unsealedVault(t);
  const call = caller(v);
  await call('POST', '/v1/keys', { name: 'payments' });
  const c1 = (await call('POST', '/v1/keys/payments/encrypt', { plaintext: b64('card') })).json().ciphertext as string;
  const rotated = (await call('POST', '/v1/keys/payments/rotate')).json();
  assert.equal(rotated.latestVersion, 2);
  assert.deepEqual(rotated.versions.map((x: { version: number }) => x.version), [1, 2]);
  const c2 = (await call('POST', '/v1/keys/payments/encrypt', { plaintext: b64('card') })).json().ciphertext as string;
  assert.match(c2, /^keyhold:v2:/);
  assert.equal((await call('POST', '/v1/keys/payments/decrypt', { ciphertext: c1 })).statusCode, 200);
  const rewrapped = (await call('POST', '/v1/keys/payments/rewrap', { ciphertext: c1 })).json();
  assert.match(rewrapped.ciphertext, /^keyhold:v2:/);
  assert.equal((await call('PATCH', '/v1/keys/payments', { minDecryptionVersion: 2 })).statusCode, 200);
  const old = await call('POST', '/v1/keys/payments/decrypt', { ciphertext: c1 });
  assert.equal(old.json().error.code, 'KH_KEY_VERSION_INVALID');
  assert.equal(Buffer.from((await call('POST', '/v1/keys/payments/decrypt', { ciphertext: rewrapped.ciphertext })).json().plaintext, 'base64').toString(), 'card');
  const trimmed = (await call('POST', '/v1/keys/payments/trim', { minAvailableVersion: 2 })).json();
  assert.deepEqual(trimmed.versions.map((x: { version: number }) => x.version), [2]);
  const badTrim = await call('POST', '/v1/keys/payments/trim', { minAvailableVersion: 3 });
  assert.equal(badTrim.json().error.code, 'KH_KEY_CONFIG_INVALID');
});

test('signature keys sign, verify, and their signatures verify with node:crypto from the exported public key', async (t) => {
  const v = await unsealedVault(t);
  const call = caller(v);
  const msg = Buffer.from('{"sub":"alice","exp":1732470000}');
  for (const type of KEY_TYPE_NAMES.filter((n) => KEY_TYPES[n].kind === 'signature')) {
    const name = `s-${type}`;
    assert.equal((await call('POST', '/v1/keys', { name, type })).statusCode, 200, type);
    const signed = await call('POST', `/v1/keys/${name}/sign`, { input: msg.toString('base64') });
    assert.equal(signed.statusCode, 200, `${type}: ${signed.body}`);
    const { signature } = signed.json();
    const ok = await call('POST', `/v1/keys/${name}/verify`, { input: msg.toString('base64'), signature });
    assert.equal(ok.json().valid, true, type);
    const bad = await call('POST', `/v1/keys/${name}/verify`, { input: Buffer.from('tampered').toString('base64'), signature });
    assert.equal(bad.json().valid, false, type);
    if (type.startsWith('ml-dsa')) continue;
    const pem = (await call('GET', `/v1/keys/${name}/public-key?format=pem`)).json().publicKey as string;
    const pub = createPublicKey(pem);
    const sig = Buffer.from(signature.split(':')[2], 'base64');
    const spec = KEY_TYPES[type];
    const hash = type === 'ed25519' ? null : 'defaultHash' in spec ? spec.defaultHash : null;
    const options = type.startsWith('rsa') ? { key: pub, padding: 6, saltLength: -1 } : pub;
    assert.equal(nodeVerify(hash, msg, options, sig), true, `${type} verifies with node:crypto`);
  }
});

test('ECDSA: P1363 format and prehashed digests; RSA: PKCS#1 v1.5', async (t) => {
  const v = await unsealedVault(t);
  const call = caller(v);
  await call('POST', '/v1/keys', { name: 'ec', type: 'ecdsa-p256' });
  await call('POST', '/v1/keys', { name: 'rsa', type: 'rsa-2048' });
  const msg = Buffer.from('message');
  const digest = createHash('sha256').update(msg).digest();
  const p1363 = (await call('POST', '/v1/keys/ec/sign', { input: msg.toString('base64'), signatureFormat: 'p1363' })).json().signature as string;
  assert.equal(Buffer.from(p1363.split(':')[2]!, 'base64').length, 64);
  const pre = (await call('POST', '/v1/keys/ec/sign', { input: digest.toString('base64'), prehashed: true })).json().signature as string;
  assert.equal((await call('POST', '/v1/keys/ec/verify', { input: msg.toString('base64'), signature: pre })).json().valid, true, 'prehashed signature verifies over the message');
  const pem = (await call('GET', '/v1/keys/rsa/public-key')).json().publicKey as string;
  const pkcs1 = (await call('POST', '/v1/keys/rsa/sign', { input: msg.toString('base64'), signatureAlgorithm: 'pkcs1v15' })).json().signature as string;
  assert.equal(createVerify('sha256').update(msg).verify(pem, Buffer.from(pkcs1.split(':')[2]!, 'base64')), true);
  const prePkcs1 = (await call('POST', '/v1/keys/rsa/sign', { input: digest.toString('base64'), prehashed: true, signatureAlgorithm: 'pkcs1v15' })).json().signature as string;
  assert.equal(createVerify('sha256').update(msg).verify(pem, Buffer.from(prePkcs1.split(':')[2]!, 'base64')), true);
  const refused = await call('POST', '/v1/keys/rsa/sign', { input: digest.toString('base64'), prehashed: true });
  assert.equal(refused.json().error.code, 'KH_KEY_OPTION_UNSUPPORTED');
  const shortDigest = await call('POST', '/v1/keys/ec/sign', { input: b64('short'), prehashed: true });
  assert.equal(shortDigest.json().error.code, 'KH_INPUT_INVALID');
});

test('HMAC keys compute and verify; data keys come wrapped and optionally in plaintext', async (t) => {
  const v = await unsealedVault(t);
  const call = caller(v);
  await call('POST', '/v1/keys', { name: 'mac', type: 'hmac-sha256' });
  const { hmac } = (await call('POST', '/v1/keys/mac/hmac', { input: b64('data') })).json();
  assert.equal((await call('POST', '/v1/keys/mac/verify-hmac', { input: b64('data'), hmac })).json().valid, true);
  assert.equal((await call('POST', '/v1/keys/mac/verify-hmac', { input: b64('date'), hmac })).json().valid, false);
  await call('POST', '/v1/keys', { name: 'kek' });
  const dk = (await call('POST', '/v1/keys/kek/datakey', { bits: 256 })).json();
  assert.equal(Buffer.from(dk.plaintext, 'base64').length, 32);
  const unwrapped = (await call('POST', '/v1/keys/kek/decrypt', { ciphertext: dk.ciphertext })).json();
  assert.equal(unwrapped.plaintext, dk.plaintext);
  const wrappedOnly = (await call('POST', '/v1/keys/kek/datakey', { bits: 512, plaintext: false })).json();
  assert.equal(wrappedOnly.plaintext, undefined);
});

test('wrong key type, disabled and deleted keys, bad names and bad base64 get precise codes', async (t) => {
  const v = await unsealedVault(t);
  const call = caller(v);
  await call('POST', '/v1/keys', { name: 'sym' });
  await call('POST', '/v1/keys', { name: 'ed', type: 'ed25519' });
  const code = (r: LightMyRequestResponse) => r.json().error.code as string;
  assert.equal(code(await call('POST', '/v1/keys', { name: 'sym' })), 'KH_KEY_EXISTS');
  assert.equal(code(await call('POST', '/v1/keys', { name: '../etc' })), 'KH_BAD_REQUEST');
  assert.equal(code(await call('POST', '/v1/keys', { name: 'x', type: 'rc4' })), 'KH_BAD_REQUEST');
  // DES exists only for legacy data (the VSSM API): refused without the flag.
  assert.equal(code(await call('POST', '/v1/keys', { name: 'x', type: 'des' })), 'KH_KEY_LEGACY_REQUIRED');
  assert.equal(code(await call('POST', '/v1/keys/ed/encrypt', { plaintext: b64('x') })), 'KH_KEY_OPERATION_UNSUPPORTED');
  assert.equal(code(await call('POST', '/v1/keys/sym/sign', { input: b64('x') })), 'KH_KEY_OPERATION_UNSUPPORTED');
  assert.equal(code(await call('POST', '/v1/keys/ed/sign', { input: b64('x'), hash: 'sha256' })), 'KH_KEY_OPTION_UNSUPPORTED');
  assert.equal(code(await call('POST', '/v1/keys/sym/encrypt', { plaintext: 'not base64!' })), 'KH_INPUT_INVALID');
  assert.equal(code(await call('POST', '/v1/keys/sym/decrypt', { ciphertext: 'vault:v1:abc' })), 'KH_CIPHERTEXT_MALFORMED');
  assert.equal(code(await call('POST', '/v1/keys/sym/decrypt', { ciphertext: 'keyhold:v9:AAAA' })), 'KH_KEY_VERSION_INVALID');
  assert.equal(code(await call('POST', '/v1/keys/nope/encrypt', { plaintext: b64('x') })), 'KH_KEY_NOT_FOUND');
  assert.equal(code(await call('POST', '/v1/keys/sym/encrypt', { plaintext: b64('x'), version: 2 })), 'KH_KEY_VERSION_INVALID');

  await call('POST', '/v1/keys/sym/disable');
  assert.equal(code(await call('POST', '/v1/keys/sym/encrypt', { plaintext: b64('x') })), 'KH_KEY_DISABLED');
  await call('POST', '/v1/keys/sym/enable');
  assert.equal((await call('DELETE', '/v1/keys/sym?waitingDays=3')).json().error.code, 'KH_KEY_CONFIG_INVALID');
  const scheduled = (await call('DELETE', '/v1/keys/sym?waitingDays=7')).json();
  assert.equal(scheduled.state, 'pending-deletion');
  assert.equal(code(await call('POST', '/v1/keys/sym/encrypt', { plaintext: b64('x') })), 'KH_KEY_PENDING_DELETION');
  const cancelled = (await call('POST', '/v1/keys/sym/cancel-deletion')).json();
  assert.equal(cancelled.state, 'disabled');
});

test('batches preserve order, report per-item errors, and refuse empty and oversized batches', async (t) => {
  const v = await unsealedVault(t);
  const call = caller(v);
  await call('POST', '/v1/keys', { name: 'bulk' });
  const items = Array.from({ length: 5 }, (_, i) => ({ plaintext: b64(`item-${i}`) }));
  items[2] = { plaintext: 'bad base64!' };
  const enc = (await call('POST', '/v1/keys/bulk/encrypt/batch', { items })).json();
  assert.equal(enc.results.length, 5);
  assert.equal(enc.results[2].error.code, 'KH_INPUT_INVALID');
  const dec = (await call('POST', '/v1/keys/bulk/decrypt/batch', { items: enc.results.filter((r: { ciphertext?: string }) => r.ciphertext).map((r: { ciphertext: string }) => ({ ciphertext: r.ciphertext })) })).json();
  assert.deepEqual(dec.results.map((r: { plaintext: string }) => Buffer.from(r.plaintext, 'base64').toString()), ['item-0', 'item-1', 'item-3', 'item-4']);
  assert.equal((await call('POST', '/v1/keys/bulk/encrypt/batch', { items: [] })).json().error.code, 'KH_BATCH_EMPTY');
  const big = Array.from({ length: 1001 }, () => ({ plaintext: b64('x') }));
  assert.equal((await call('POST', '/v1/keys/bulk/encrypt/batch', { items: big })).json().error.code, 'KH_BATCH_TOO_LARGE');
  const thousand = Array.from({ length: 1000 }, () => ({ plaintext: b64('x'.repeat(128)) }));
  const ok = await call('POST', '/v1/keys/bulk/encrypt/batch', { items: thousand });
  assert.equal(ok.json().results.length, 1000);
});

test('key metadata and listings never contain key material', async (t) => {
  const v = await unsealedVault(t);
  const call = caller(v);
  for (const type of KEY_TYPE_NAMES) await call('POST', '/v1/keys', { name: `m-${type}`, type });
  const list = await call('GET', '/v1/keys?limit=1000');
  assert.equal(list.json().keys.length, KEY_TYPE_NAMES.length);
  const paged = (await call('GET', '/v1/keys?limit=2')).json();
  assert.equal(paged.keys.length, 2);
  assert.equal(typeof paged.next, 'string');
  const secrets = (await v.app.services.keys.store.all()).flatMap((k) => k.record.versions.map((x) => x.secret!));
  for (const body of [list.body, ...(await Promise.all(KEY_TYPE_NAMES.map((n) => call('GET', `/v1/keys/m-${n}`)))).map((r) => r.body)]) {
    for (const s of secrets) assert.ok(!body.includes(s) && !body.includes(Buffer.from(s, 'base64').toString('hex')), 'secret material in a response');
  }
});

test('X25519 keys derive the same secret as node:crypto on the peer side; ML-KEM encapsulations decapsulate', async (t) => {
  const v = await unsealedVault(t);
  const call = caller(v);
  const { generateKeyPairSync, diffieHellman, hkdfSync } = await import('node:crypto');
  await call('POST', '/v1/keys', { name: 'kx', type: 'x25519' });
  const peer = generateKeyPairSync('x25519');
  const ours = createPublicKey((await call('GET', '/v1/keys/kx/public-key')).json().publicKey);
  const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: ours });
  const peerDer = peer.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const shared = (await call('POST', '/v1/keys/kx/derive', { peerPublicKey: peerDer })).json();
  assert.equal(shared.secret, expected.toString('base64'));
  const peerPem = peer.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const aes = (await call('POST', '/v1/keys/kx/derive', { peerPublicKey: peerPem, output: 'aes256-key', info: b64('ctx') })).json();
  assert.equal(aes.secret, Buffer.from(hkdfSync('sha256', expected, Buffer.alloc(0), Buffer.from('ctx'), 32)).toString('base64'));
  const lowOrder = await call('POST', '/v1/keys/kx/derive', { peerPublicKey: Buffer.alloc(32).toString('base64') });
  assert.equal(lowOrder.json().error.code, 'KH_INPUT_INVALID');

  for (const type of ['ml-kem-768', 'ml-kem-1024']) {
    await call('POST', '/v1/keys', { name: type, type });
    const enc = (await call('POST', `/v1/keys/${type}/encapsulate`, {})).json();
    const dec = (await call('POST', `/v1/keys/${type}/decapsulate`, { ciphertext: enc.ciphertext })).json();
    assert.equal(dec.sharedSecret, enc.sharedSecret, type);
    assert.equal(Buffer.from(dec.sharedSecret, 'base64').length, 32);
    const raw = (await call('GET', `/v1/keys/${type}/public-key?format=raw`)).json();
    assert.ok(raw.publicKey.length > 1000);
  }
});

test('SHA-1 signatures need a legacy key; the hash tool digests input', async (t) => {
  const v = await unsealedVault(t);
  const call = caller(v);
  await call('POST', '/v1/keys', { name: 'modern', type: 'ecdsa-p256' });
  await call('POST', '/v1/keys', { name: 'old', type: 'rsa-2048', legacy: true });
  assert.equal((await call('POST', '/v1/keys/modern/sign', { input: b64('x'), hash: 'sha1' })).json().error.code, 'KH_KEY_LEGACY_REQUIRED');
  const sig = (await call('POST', '/v1/keys/old/sign', { input: b64('x'), hash: 'sha1', signatureAlgorithm: 'pkcs1v15' })).json().signature as string;
  const pem = (await call('GET', '/v1/keys/old/public-key')).json().publicKey as string;
  assert.equal(createVerify('sha1').update('x').verify(pem, Buffer.from(sig.split(':')[2]!, 'base64')), true);
  const sum = (await call('POST', '/v1/sys/tools/hash', { input: b64('abc'), algorithm: 'sha3-256' })).json().sum;
  assert.equal(sum, createHash('sha3-256').update('abc').digest('hex'));
});
