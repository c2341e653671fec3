/**
 * Vault transit compatibility, proven with the real node-vault client
 * (generic write/read/list/delete on transit paths) against a listening
 * Keyhold: every Vault key type, round trips across rotation, rewrap, data
 * keys, signatures, HMACs, random, hash, a 500-item batch with references,
 * deletion only after deletion_allowed, and errors in Vault's shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createCipheriv, createDecipheriv, createHash, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes, verify as cryptoVerify } from 'node:crypto';
import vault from 'node-vault';
import { runningVault } from '../../helpers/keyhold.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

interface VaultClientError extends Error {
  response?: { statusCode: number; body: { errors?: string[] } };
}

async function refused(p: Promise<unknown>, status: number, message?: RegExp): Promise<VaultClientError> {
  const e = await p.then(
    () => assert.fail('expected a Vault error'),
    (err: unknown) => err as VaultClientError,
  );
  assert.equal(e.response?.statusCode, status, `${e.message}`);
  assert.ok(Array.isArray(e.response?.body.errors), `errors in Vault's shape: ${JSON.stringify(e.response?.body)}`);
  if (message !== undefined) assert.match(e.message, message);
  return e;
}

async function client(t: Parameters<typeof runningVault>[0]) {
  const { server, rootToken } = await runningVault(t);
  // node-vault's defaults: v.list() sends the HTTP LIST method (src/api/http-list-method.ts).
  return { server, rootToken, v: vault({ endpoint: server.apiUrl, token: rootToken }) };
}

test('node-vault creates every Vault key type and reads it back in Vault shape', async (t) => {
  const { v } = await client(t);
  const types = ['aes128-gcm96', 'aes256-gcm96', 'chacha20-poly1305', 'ed25519', 'ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'rsa-2048', 'hmac'];
  for (const type of types) {
    await v.write(`transit/keys/k-${type}`, { type });
    const r = await v.read(`transit/keys/k-${type}`);
    assert.equal(r.data.type, type);
    assert.equal(r.data.name, `k-${type}`);
    assert.equal(r.data.latest_version, 1);
    assert.equal(r.data.deletion_allowed, false);
    assert.equal(r.data.exportable, false);
    assert.equal(typeof r.request_id, 'string');
    assert.equal(r.lease_id, '');
    assert.equal(r.wrap_info, null);
    const v1 = r.data.keys['1'];
    if (['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'rsa-2048'].includes(type)) assert.equal(typeof v1.public_key, 'string', type);
    else assert.equal(typeof v1, 'number', type);
  }
  const listed = await v.list('transit/keys');
  assert.deepEqual([...listed.data.keys].sort(), types.map((x) => `k-${x}`).sort());
  // Creating an existing key changes nothing (as Vault).
  await v.write('transit/keys/k-ed25519', { type: 'ed25519' });
  await refused(v.write('transit/keys/bad', { type: 'aes512-gcm' }), 400, /unknown key type/);
  await refused(v.write('transit/keys/derived', { derived: true }), 400, /not supported/);
});

test('encrypt/decrypt round trip, rotation, old vault:v1 ciphertexts, rewrap, min_decryption_version', async (t) => {
  const { v } = await client(t);
  for (const type of ['aes256-gcm96', 'aes128-gcm96', 'chacha20-poly1305', 'rsa-2048']) {
    const name = `enc-${type}`;
    await v.write(`transit/keys/${name}`, { type });
    const plaintext = b64(`secret for ${type}`);
    const c1 = (await v.write(`transit/encrypt/${name}`, { plaintext })).data;
    assert.match(c1.ciphertext, /^vault:v1:[A-Za-z0-9+/]+=*$/);
    assert.equal(c1.key_version, 1);
    assert.equal((await v.write(`transit/decrypt/${name}`, { ciphertext: c1.ciphertext })).data.plaintext, plaintext);
    if (type === 'rsa-2048') continue;
    const rotated = await v.write(`transit/keys/${name}/rotate`, {});
    assert.equal(rotated.data.latest_version, 2);
    const c2 = (await v.write(`transit/encrypt/${name}`, { plaintext })).data.ciphertext as string;
    assert.match(c2, /^vault:v2:/);
    assert.equal((await v.write(`transit/decrypt/${name}`, { ciphertext: c1.ciphertext })).data.plaintext, plaintext, 'v1 still decrypts');
    const rewrapped = (await v.write(`transit/rewrap/${name}`, { ciphertext: c1.ciphertext })).data;
    assert.match(rewrapped.ciphertext, /^vault:v2:/);
    assert.equal(rewrapped.key_version, 2);
    assert.equal((await v.write(`transit/decrypt/${name}`, { ciphertext: rewrapped.ciphertext })).data.plaintext, plaintext);
    // Older versions can be retired: v1 ciphertexts are then refused, v2 ones still work.
    await v.write(`transit/keys/${name}/config`, { min_decryption_version: 2 });
    await refused(v.write(`transit/decrypt/${name}`, { ciphertext: c1.ciphertext }), 400);
    assert.equal((await v.write(`transit/decrypt/${name}`, { ciphertext: c2 })).data.plaintext, plaintext);
    // AEAD failures say only what Vault says.
    const tampered = c2.slice(0, -4) + (c2.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await refused(v.write(`transit/decrypt/${name}`, { ciphertext: tampered }), 400, /message authentication failed/);
  }
  await refused(v.write('transit/decrypt/enc-aes256-gcm96', { ciphertext: 'keyhold:v1:AAAA' }), 400, /no prefix/);
  await refused(v.write('transit/encrypt/enc-aes256-gcm96', { plaintext: 'not base64!' }), 400, /base64/);
  await refused(v.write('transit/encrypt/enc-aes256-gcm96', { plaintext: b64('x'), context: b64('tenant') }), 400, /context is not supported/);
  await refused(v.write('transit/encrypt/missing', { plaintext: b64('x') }), 400, /encryption key not found/);
});

test('data keys: plaintext and wrapped, the wrapped one decrypts to the plaintext one', async (t) => {
  const { v } = await client(t);
  await v.write('transit/keys/dk', {});
  const plain = (await v.write('transit/datakey/plaintext/dk', { bits: 512 })).data;
  assert.equal(Buffer.from(plain.plaintext, 'base64').length, 64);
  assert.match(plain.ciphertext, /^vault:v1:/);
  assert.equal((await v.write('transit/decrypt/dk', { ciphertext: plain.ciphertext })).data.plaintext, plain.plaintext);
  const wrapped = (await v.write('transit/datakey/wrapped/dk', {})).data;
  assert.equal(wrapped.plaintext, undefined);
  assert.equal(Buffer.from((await v.write('transit/decrypt/dk', { ciphertext: wrapped.ciphertext })).data.plaintext, 'base64').length, 32);
  await refused(v.write('transit/datakey/other/dk', {}), 400);
});

test('sign/verify with ed25519, ecdsa-p256 and rsa-2048; signatures verify with node:crypto too', async (t) => {
  const { v } = await client(t);
  const input = b64('message to sign');
  for (const type of ['ed25519', 'ecdsa-p256', 'rsa-2048']) {
    const name = `sig-${type}`;
    await v.write(`transit/keys/${name}`, { type });
    const { signature, key_version } = (await v.write(`transit/sign/${name}`, { input })).data;
    assert.match(signature, /^vault:v1:/);
    assert.equal(key_version, 1);
    assert.equal((await v.write(`transit/verify/${name}`, { input, signature })).data.valid, true);
    assert.equal((await v.write(`transit/verify/${name}`, { input: b64('another message'), signature })).data.valid, false);
    // Vault's defaults: SHA2-256, PSS for RSA, ASN.1 (DER) for ECDSA, public keys in the key read.
    const pub = (await v.read(`transit/keys/${name}`)).data.keys['1'].public_key as string;
    const key = type === 'ed25519' ? createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pub, 'base64').toString('base64url') }, format: 'jwk' }) : createPublicKey(pub);
    const raw = Buffer.from(signature.split(':')[2], 'base64');
    const options = type === 'rsa-2048' ? { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: -2 } : key;
    assert.ok(cryptoVerify(type === 'ed25519' ? null : 'sha256', Buffer.from('message to sign'), options, raw), `${type} signature verifies with node:crypto`);
  }
  // The hash in the path, PKCS#1 v1.5, JWS marshaling.
  const s384 = (await v.write('transit/sign/sig-ecdsa-p256/sha2-384', { input })).data.signature;
  assert.equal((await v.write('transit/verify/sig-ecdsa-p256/sha2-384', { input, signature: s384 })).data.valid, true);
  assert.equal((await v.write('transit/verify/sig-ecdsa-p256', { input, signature: s384 })).data.valid, false);
  const pkcs = (await v.write('transit/sign/sig-rsa-2048', { input, signature_algorithm: 'pkcs1v15' })).data.signature;
  assert.equal((await v.write('transit/verify/sig-rsa-2048', { input, signature: pkcs, signature_algorithm: 'pkcs1v15' })).data.valid, true);
  const jws = (await v.write('transit/sign/sig-ecdsa-p256', { input, marshaling_algorithm: 'jws' })).data.signature as string;
  assert.match(jws, /^vault:v1:[A-Za-z0-9_-]+$/);
  assert.equal((await v.write('transit/verify/sig-ecdsa-p256', { input, signature: jws, marshaling_algorithm: 'jws' })).data.valid, true);
  const digest = b64(createHash('sha256').update('message to sign').digest());
  const pre = (await v.write('transit/sign/sig-ecdsa-p256', { input: digest, prehashed: true })).data.signature;
  assert.equal((await v.write('transit/verify/sig-ecdsa-p256', { input, signature: pre })).data.valid, true);
  await refused(v.write('transit/sign/sig-ecdsa-p256/sha3-256', { input }), 400, /unsupported hash/);
  await refused(v.write('transit/sign/enc-none', { input }), 400, /encryption key not found/);
});

test('hmac and its verification, random bytes, hashes', async (t) => {
  const { v } = await client(t);
  await v.write('transit/keys/mac', { type: 'hmac' });
  const input = b64('mac me');
  const { hmac } = (await v.write('transit/hmac/mac', { input })).data;
  assert.match(hmac, /^vault:v1:/);
  assert.equal((await v.write('transit/hmac/mac/sha2-256', { input })).data.hmac, hmac, 'deterministic');
  assert.equal((await v.write('transit/verify/mac', { input, hmac })).data.valid, true);
  assert.equal((await v.write('transit/verify/mac', { input: b64('other'), hmac })).data.valid, false);
  await refused(v.write('transit/hmac/mac/sha2-512', { input }), 400, /fixed hash/);

  assert.equal(Buffer.from((await v.write('transit/random', {})).data.random_bytes, 'base64').length, 32);
  assert.equal(Buffer.from((await v.write('transit/random/48', {})).data.random_bytes, 'base64').length, 48);
  assert.match((await v.write('transit/random', { bytes: 16, format: 'hex' })).data.random_bytes, /^[0-9a-f]{32}$/);
  await refused(v.write('transit/random', { bytes: 1_000_000 }), 400);

  const sum = (alg: string) => createHash(alg).update('hash me').digest('hex');
  assert.equal((await v.write('transit/hash', { input: b64('hash me') })).data.sum, sum('sha256'));
  assert.equal((await v.write('transit/hash/sha2-512', { input: b64('hash me') })).data.sum, sum('sha512'));
  assert.equal((await v.write('transit/hash', { input: b64('hash me'), algorithm: 'sha3-256', format: 'base64' })).data.sum, createHash('sha3-256').update('hash me').digest('base64'));
  await refused(v.write('transit/hash/md5', { input: b64('x') }), 400, /unsupported algorithm/);
});

test('a Vault-style batch workload: 500 items with references through encrypt, decrypt, rewrap, sign, verify, hmac', async (t) => {
  const { v } = await client(t);
  await v.write('transit/keys/batch', {});
  const items = Array.from({ length: 500 }, (_, i) => ({ plaintext: b64(`record ${i}`), reference: `ref-${i}` }));
  const enc = (await v.write('transit/encrypt/batch', { batch_input: items })).data.batch_results as { ciphertext: string; reference: string }[];
  assert.equal(enc.length, 500);
  enc.forEach((r, i) => {
    assert.equal(r.reference, `ref-${i}`);
    assert.match(r.ciphertext, /^vault:v1:/);
  });
  await v.write('transit/keys/batch/rotate', {});
  const rewrapped = (await v.write('transit/rewrap/batch', { batch_input: enc.map((r) => ({ ciphertext: r.ciphertext, reference: r.reference })) })).data.batch_results as { ciphertext: string }[];
  assert.ok(rewrapped.every((r) => r.ciphertext.startsWith('vault:v2:')));
  const dec = (await v.write('transit/decrypt/batch', { batch_input: rewrapped.map((r, i) => ({ ciphertext: r.ciphertext, reference: `d-${i}` })) })).data.batch_results as { plaintext: string; reference: string }[];
  dec.forEach((r, i) => {
    assert.equal(Buffer.from(r.plaintext, 'base64').toString(), `record ${i}`);
    assert.equal(r.reference, `d-${i}`);
  });

  // One bad item: Vault answers 400 with the whole envelope (no errors array), the failure in its own item.
  const mixed = [{ ciphertext: enc[0]!.ciphertext, reference: 'good' }, { ciphertext: 'garbage', reference: 'bad' }];
  const e = (await v.write('transit/decrypt/batch', { batch_input: mixed }).catch((x: unknown) => x)) as VaultClientError;
  assert.equal(e.response?.statusCode, 400);
  const results = (e.response!.body as unknown as { data: { batch_results: { error?: string; reference: string; plaintext?: string }[] } }).data.batch_results;
  assert.equal(results[0]!.plaintext, items[0]!.plaintext);
  assert.match(results[1]!.error ?? '', /no prefix/);
  assert.equal(results[1]!.reference, 'bad');
  // ... or the status the caller asked for on partial failure.
  const partial = await v.write('transit/decrypt/batch', { batch_input: mixed, partial_failure_response_code: 207 }).catch((x: VaultClientError) => x);
  assert.equal((partial as VaultClientError).response?.statusCode, 207);

  await v.write('transit/keys/batch-sig', { type: 'ed25519' });
  await v.write('transit/keys/batch-mac', { type: 'hmac' });
  const inputs = items.slice(0, 100).map((x) => ({ input: x.plaintext, reference: x.reference }));
  const sigs = (await v.write('transit/sign/batch-sig', { batch_input: inputs })).data.batch_results as { signature: string }[];
  const verified = (await v.write('transit/verify/batch-sig', { batch_input: inputs.map((x, i) => ({ ...x, signature: sigs[i]!.signature })) })).data.batch_results as { valid: boolean; reference: string }[];
  assert.ok(verified.every((r, i) => r.valid && r.reference === inputs[i]!.reference));
  const macs = (await v.write('transit/hmac/batch-mac', { batch_input: inputs })).data.batch_results as { hmac: string }[];
  assert.equal(macs.length, 100);
  assert.ok(macs.every((m) => m.hmac.startsWith('vault:v1:')));
});

test('delete is refused until deletion_allowed, then immediate; export is refused for non-exportable keys', async (t) => {
  const { v } = await client(t);
  await v.write('transit/keys/doomed', {});
  await refused(v.delete('transit/keys/doomed'), 400, /deletion is not allowed/);
  const configured = await v.write('transit/keys/doomed/config', { deletion_allowed: true });
  assert.equal(configured.data.deletion_allowed, true);
  await v.delete('transit/keys/doomed');
  await refused(v.read('transit/keys/doomed'), 404);
  await refused(v.list('transit/keys'), 404);

  await v.write('transit/keys/secret', { type: 'ed25519' });
  await refused(v.read('transit/export/signing-key/secret'), 400, /key is not exportable/);
  await refused(v.read('transit/export/encryption-key/secret'), 400);
  const pub = await v.read('transit/export/public-key/secret/latest');
  assert.equal(Object.keys(pub.data.keys).length, 1);
  await v.write('transit/keys/open', { exportable: true });
  const exported = await v.read('transit/export/encryption-key/open/1');
  assert.equal(Buffer.from(exported.data.keys['1'], 'base64').length, 32);

  // Trim: versions below min_decryption_version can go for good.
  await v.write('transit/keys/open/rotate', {});
  await v.write('transit/keys/open/config', { min_decryption_version: 2 });
  const trimmed = await v.write('transit/keys/open/trim', { min_available_version: 2 });
  assert.deepEqual(Object.keys(trimmed.data.keys), ['2']);
});

test('the token gates are those of /v1: X-Vault-Token, Bearer, and permission denied in Vault shape', async (t) => {
  const { server, rootToken, v } = await client(t);
  await v.write('transit/keys/gated', {});
  await refused(vault({ endpoint: server.apiUrl, token: 'hvs.not-a-token' }).write('transit/encrypt/gated', { plaintext: b64('x') }), 403, /permission denied/);
  await refused(vault({ endpoint: server.apiUrl, token: '' }).read('transit/keys/gated'), 403, /permission denied/);
  const viaBearer = await fetch(`${server.apiUrl}/v1/transit/encrypt/gated`, { method: 'POST', headers: { authorization: `Bearer ${rootToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ plaintext: b64('x') }) });
  assert.equal(viaBearer.status, 200);
  const unknown = await fetch(`${server.apiUrl}/v1/transit/frobnicate/gated`, { method: 'POST', headers: { 'x-vault-token': rootToken } });
  assert.equal(unknown.status, 404);
  assert.deepEqual(await unknown.json(), { errors: ['unsupported path'] });
  const notJson = await fetch(`${server.apiUrl}/v1/transit/encrypt/gated`, { method: 'POST', headers: { 'x-vault-token': rootToken, 'content-type': 'application/json' }, body: '{"plaintext":' });
  assert.equal(notJson.status, 400);
  assert.ok(Array.isArray(((await notJson.json()) as { errors: unknown }).errors));
});

test('BYOK: material wrapped to transit/wrapping_key is imported; ciphertexts made with it open with the original key outside Keyhold', async (t) => {
  const { v } = await client(t);
  const wrappingPem = (await v.read('transit/wrapping_key')).data.public_key as string;
  assert.equal(createPublicKey(wrappingPem).asymmetricKeyDetails?.modulusLength, 4096);
  const wrap = (material: Buffer) => {
    // Vault's documented recipe: RSA-OAEP-SHA256(ephemeral AES-256 key) || AES-KWP(ephemeral, material).
    const ephemeral = randomBytes(32);
    const kwp = createCipheriv('id-aes256-wrap-pad', ephemeral, Buffer.from('A65959A6', 'hex'));
    return Buffer.concat([publicEncrypt({ key: wrappingPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, ephemeral), kwp.update(material), kwp.final()]).toString('base64');
  };
  const aes = randomBytes(32);
  const imported = await v.write('transit/keys/byok/import', { ciphertext: wrap(aes), hash_function: 'SHA256', type: 'aes256-gcm96' });
  assert.equal(imported.data.latest_version, 1);
  assert.equal(imported.data.exportable, false);
  const ct = (await v.write('transit/encrypt/byok', { plaintext: b64('bring your own key') })).data.ciphertext as string;
  const raw = Buffer.from(ct.split(':')[2]!, 'base64');
  const d = createDecipheriv('aes-256-gcm', aes, raw.subarray(0, 12));
  d.setAuthTag(raw.subarray(raw.length - 16));
  assert.equal(Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString(), 'bring your own key');

  // A second version from new material; the old ciphertext still decrypts.
  const rotated = await v.write('transit/keys/byok/import_version', { ciphertext: wrap(randomBytes(32)) });
  assert.equal(rotated.data.latest_version, 2);
  assert.equal(Buffer.from((await v.write('transit/decrypt/byok', { ciphertext: ct })).data.plaintext, 'base64').toString(), 'bring your own key');

  // An imported Ed25519 private key signs; node:crypto verifies with the public half it derived itself.
  const ed = generateKeyPairSync('ed25519');
  await v.write('transit/keys/byok-ed/import', { ciphertext: wrap(ed.privateKey.export({ format: 'der', type: 'pkcs8' })), type: 'ed25519' });
  const sig = (await v.write('transit/sign/byok-ed', { input: b64('signed by my own key') })).data.signature as string;
  assert.ok(cryptoVerify(null, Buffer.from('signed by my own key'), ed.publicKey, Buffer.from(sig.split(':')[2]!, 'base64')));

  await refused(v.write('transit/keys/byok-bad/import', { ciphertext: wrap(aes).slice(0, -8) + 'AAAAAAA=' }), 400);
  await refused(v.write('transit/keys/byok-sha1/import', { ciphertext: wrap(aes), hash_function: 'SHA1' }), 400, /not supported/);
  await refused(v.write('transit/keys/byok/import_version', { ciphertext: wrap(aes), version: 1 }), 400, /not supported/);
});

test('writes with PUT (the Vault CLI and Go client) behave as POST', async (t) => {
  const { server, rootToken } = await client(t);
  const put = (path: string, body?: unknown) =>
    fetch(`${server.apiUrl}/v1/transit/${path}`, { method: 'PUT', headers: { 'x-vault-token': rootToken, ...(body !== undefined && { 'content-type': 'application/json' }) }, ...(body !== undefined && { body: JSON.stringify(body) }) });
  assert.equal((await put('keys/put-key', { type: 'aes128-gcm96' })).status, 200);
  assert.equal((await put('keys/put-key/rotate')).status, 200);
  const enc = (await (await put('encrypt/put-key', { plaintext: b64('put') })).json()) as { data: { ciphertext: string } };
  assert.match(enc.data.ciphertext, /^vault:v2:/);
  const dec = (await (await put('decrypt/put-key', { ciphertext: enc.data.ciphertext })).json()) as { data: { plaintext: string } };
  assert.equal(Buffer.from(dec.data.plaintext, 'base64').toString(), 'put');
});
