/**
 * The VSSM REST API (docs/compat.md#vssm) over real mTLS sockets: round
 * trips of every algorithm (checked against node:crypto and openssl where
 * Keyhold's output must interoperate), the legacy flag, protobuf-JSON
 * conventions, errors in VSSM's shape, the administrator password and its
 * throttling, listkeys, getlogs, the health check and mTLS itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, publicEncrypt, constants, sign as nodeSign, verify as nodeVerify, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_PASSWORD, b64, vssmVault } from './vssm-fixture.js';
import { bearer } from '../../helpers/keyhold.js';

const MSG = Buffer.from('Attack at dawn; bring the 3DES keys.');
const dec = (s: unknown) => Buffer.from(String(s), 'base64');

test('every symmetric CIPHER/MODE/PADDING round-trips; AES/GCM output is nonce || ciphertext || tag without AAD, CBC is IV || ciphertext', async (t) => {
  const v = await vssmVault(t);
  const aes = randomBytes(32);
  for (const [keyName, keySpec, keySize] of [['aes16', 'AES', 16], ['aes24', 'AES', 24], ['aes32', 'AES', 32], ['des', 'DES', 8], ['tdes', '3DES', 24]] as const) {
    const res = await v.admin('generatekey', { keyName, keyType: 'SYMMETRIC', keySpec, keySize, legacy: true });
    assert.equal(res.status, 200, `${keyName}: ${res.text}`);
  }
  assert.equal((await v.admin('injectkey', { keyName: 'aes-known', keyType: 'SYMMETRIC', key: b64(aes) })).status, 200);
  const ciphers = [['AES', ['aes16', 'aes24', 'aes32']], ['DES', ['des']], ['3DES', ['tdes']]] as const;
  for (const [cipher, names] of ciphers) {
    for (const mode of ['ECB', 'CBC', 'CTR', 'GCM']) {
      for (const padding of ['NoPadding', 'PKCS5Padding', 'PKCS7Padding']) {
        for (const keyName of names) {
          const algorithm = `${cipher}/${mode}/${padding}`;
          // A whole number of blocks, so NoPadding fits ECB and CBC too.
          const input = padding === 'NoPadding' && (mode === 'ECB' || mode === 'CBC') ? MSG.subarray(0, 32) : MSG;
          const enc = await v.call('/symmetric/encrypt', { input: b64(input), keyName, algorithm });
          if (mode === 'GCM' && cipher !== 'AES') {
            assert.equal(enc.status, 400, `${algorithm}: ${enc.text}`);
            continue;
          }
          assert.equal(enc.status, 200, `${algorithm} ${keyName}: ${enc.text}`);
          const out = dec(enc.json.output);
          const block = cipher === 'AES' ? 16 : 8;
          const padded = padding === 'NoPadding' ? input.length : (Math.floor(input.length / block) + 1) * block;
          const expected = mode === 'GCM' ? 12 + padded + 16 : mode === 'ECB' ? padded : block + padded;
          assert.equal(out.length, expected, `${algorithm}: output layout`);
          const back = await v.call('/symmetric/decrypt', { input: enc.json.output, keyName, algorithm });
          assert.equal(back.status, 200, `${algorithm}: ${back.text}`);
          assert.deepEqual(dec(back.json.output), input, algorithm);
        }
      }
    }
  }
  // Interoperability: node:crypto opens what the VSSM API made.
  const gcm = dec((await v.call('/symmetric/encrypt', { input: b64(MSG), keyName: 'aes-known', algorithm: 'AES/GCM/NoPadding' })).json.output);
  const d = createDecipheriv('aes-256-gcm', aes, gcm.subarray(0, 12));
  d.setAuthTag(gcm.subarray(gcm.length - 16));
  assert.deepEqual(Buffer.concat([d.update(gcm.subarray(12, gcm.length - 16)), d.final()]), MSG);
  const cbc = dec((await v.call('/symmetric/encrypt', { input: b64(MSG), keyName: 'aes-known', algorithm: 'AES/CBC/PKCS5Padding' })).json.output);
  const c = createDecipheriv('aes-256-cbc', aes, cbc.subarray(0, 16));
  assert.deepEqual(Buffer.concat([c.update(cbc.subarray(16)), c.final()]), MSG);
});

test('symmetric failures: NoPadding on a partial block, tampering and bad padding all give one error; unknown algorithm strings get VSSM\'s messages', async (t) => {
  const v = await vssmVault(t);
  await v.admin('generatekey', { keyName: 'k', keyType: 'SYMMETRIC', keySize: 32 });
  const partial = await v.call('/symmetric/encrypt', { input: b64('abc'), keyName: 'k', algorithm: 'AES/CBC/NoPadding' });
  assert.equal(partial.status, 400);
  assert.match(String(partial.json.error), /multiple of 16 bytes/);
  const gcm = dec((await v.call('/symmetric/encrypt', { input: b64(MSG), keyName: 'k', algorithm: 'AES/GCM/NoPadding' })).json.output);
  gcm[20] = gcm[20]! ^ 1;
  const cbc = dec((await v.call('/symmetric/encrypt', { input: b64(MSG), keyName: 'k', algorithm: 'AES/CBC/PKCS5Padding' })).json.output);
  cbc[cbc.length - 1] = cbc[cbc.length - 1]! ^ 0x55;
  for (const [input, algorithm] of [[gcm, 'AES/GCM/NoPadding'], [cbc, 'AES/CBC/PKCS5Padding'], [randomBytes(5), 'AES/CBC/PKCS5Padding'], [randomBytes(3), 'AES/GCM/NoPadding']] as const) {
    const res = await v.call('/symmetric/decrypt', { input: b64(input), keyName: 'k', algorithm });
    assert.equal(res.status, 400, algorithm);
    assert.deepEqual(res.json, { error: 'decryption failed' }, algorithm);
  }
  for (const [algorithm, message] of [
    ['AES/GCM', 'Invalid algorithm specification: AES/GCM'],
    ['Blowfish/CBC/NoPadding', 'Invalid cipher: Blowfish'],
    ['AES/OFB/NoPadding', 'Unsupported block mode: OFB'],
    ['AES/CBC/ISO10126Padding', 'Unsupported padding mode: ISO10126Padding'],
  ]) {
    assert.deepEqual((await v.call('/symmetric/encrypt', { input: b64(MSG), keyName: 'k', algorithm })).json, { error: message });
  }
});

test('legacy algorithms need a key created with legacy: DES/3DES keys, ECB, RSA PKCS#1 v1.5, SHA-1 signatures and HMACs', async (t) => {
  const v = await vssmVault(t);
  const des = await v.admin('injectkey', { keyName: 'des', keyType: 'SYMMETRIC', key: b64(randomBytes(8)) });
  assert.equal(des.status, 400);
  assert.match(String(des.json.error), /legacy/);
  await v.admin('generatekey', { keyName: 'aes', keyType: 'SYMMETRIC', keySize: 32 });
  await v.admin('generatekey', { keyName: 'rsa', keyType: 'ASYMMETRIC', keySpec: 'RSA', keySize: 2048 });
  await v.admin('generatekey', { keyName: 'ec', keyType: 'ASYMMETRIC', keySpec: 'EC', keySize: 256 });
  await v.admin('generatekey', { keyName: 'mac', keyType: 'MAC', keySize: 32 });
  const refusals: [string, Record<string, unknown>][] = [
    ['/symmetric/encrypt', { keyName: 'aes', algorithm: 'AES/ECB/PKCS5Padding', input: b64(MSG) }],
    ['/asymmetric/encrypt', { keyName: 'rsa', algorithm: 'RSA', input: b64(MSG) }],
    ['/asymmetric/sign', { keyName: 'rsa', algorithm: 'SHA1withRSA', input: b64(MSG) }],
    ['/asymmetric/sign', { keyName: 'ec', algorithm: 'SHA1withECDSA', input: b64(MSG) }],
    ['/hmac/create', { keyName: 'mac', algorithm: 'SHA1', input: b64(MSG) }],
  ];
  for (const [path, body] of refusals) {
    const res = await v.call(path, body);
    assert.equal(res.status, 400, `${path} ${String(body.algorithm)}: ${res.text}`);
    assert.match(String(res.json.error), /legacy/, `${path} ${String(body.algorithm)}`);
  }
  // The same with a legacy key works.
  await v.admin('generatekey', { keyName: 'aes-legacy', keyType: 'SYMMETRIC', keySize: 16, legacy: true });
  assert.equal((await v.call('/symmetric/encrypt', { keyName: 'aes-legacy', algorithm: 'AES/ECB/PKCS5Padding', input: b64(MSG) })).status, 200);
  // A cipher that does not fit the key is refused, not reinterpreted.
  const wrong = await v.call('/symmetric/encrypt', { keyName: 'aes-legacy', algorithm: '3DES/CBC/PKCS5Padding', input: b64(MSG) });
  assert.equal(wrong.status, 400);
  assert.match(String(wrong.json.error), /3DES needs a des-ede3 key/);
});

test('RSA encryption: OAEP with each hash round-trips and opens with node:crypto; PKCS#1 v1.5 output opens with openssl', async (t) => {
  const v = await vssmVault(t);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  assert.equal((await v.admin('injectkey', { keyName: 'rsa', keyType: 'ASYMMETRIC', key: b64(pkcs8), legacy: true })).status, 200);
  for (const hash of ['SHA1', 'SHA256', 'SHA384', 'SHA512']) {
    const algorithm = `RSA-OAEP/${hash}`;
    const enc = await v.call('/asymmetric/encrypt', { input: b64(MSG), keyName: 'rsa', algorithm });
    assert.equal(enc.status, 200, enc.text);
    const { privateDecrypt } = await import('node:crypto');
    assert.deepEqual(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash.replace('SHA', 'sha') }, dec(enc.json.output)), MSG, algorithm);
    // And what node encrypts, the API decrypts.
    const theirs = publicEncrypt({ key: createPublicKey(privateKey), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash.replace('SHA', 'sha') }, MSG);
    assert.deepEqual(dec((await v.call('/asymmetric/decrypt', { input: b64(theirs), keyName: 'rsa', algorithm })).json.output), MSG, algorithm);
  }
  const pkcs1 = dec((await v.call('/asymmetric/encrypt', { input: b64(MSG), keyName: 'rsa', algorithm: 'RSA' })).json.output);
  writeFileSync(join(v.dir, 'rsa.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
  writeFileSync(join(v.dir, 'ct.bin'), pkcs1);
  assert.deepEqual(execFileSync('openssl', ['pkeyutl', '-decrypt', '-inkey', 'rsa.pem', '-in', 'ct.bin'], { cwd: v.dir }), MSG);
  const big = await v.call('/asymmetric/encrypt', { input: b64(randomBytes(300)), keyName: 'rsa', algorithm: 'RSA-OAEP/SHA256' });
  assert.equal(big.status, 413);
  assert.deepEqual(Object.keys(big.json), ['error']);
});

test('signatures: every algorithm signs input and prehashed digests, and verifies with node:crypto', async (t) => {
  const v = await vssmVault(t);
  await v.admin('generatekey', { keyName: 'rsa', keyType: 'ASYMMETRIC', keySpec: 'RSA', keySize: 2048, legacy: true });
  for (const bits of [256, 384, 521]) await v.admin('generatekey', { keyName: `ec${bits}`, keyType: 'ASYMMETRIC', keySpec: 'EC', keySize: bits, legacy: true });
  await v.admin('generatekey', { keyName: 'ed', keyType: 'ASYMMETRIC', keySpec: 'Ed25519' });
  const list = (await v.admin('listkeys')).json as { asymmetricKey: { name: string; publicKey: string; keySpec: string }[] };
  const pub = (name: string) => createPublicKey({ key: dec(list.asymmetricKey.find((k) => k.name === name)!.publicKey), format: 'der', type: 'spki' });
  const cases: [string, string, string | null, object][] = [
    ['rsa', 'SHA1withRSA', 'sha1', {}],
    ['rsa', 'SHA256withRSA', 'sha256', {}],
    ['rsa', 'SHA384withRSA', 'sha384', {}],
    ['rsa', 'SHA512withRSA', 'sha512', {}],
    ['rsa', 'SHA256withRSA/PSS', 'sha256', { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }],
    ['ec256', 'SHA1withECDSA', 'sha1', {}],
    ['ec256', 'SHA256withECDSA', 'sha256', {}],
    ['ec384', 'SHA384withECDSA', 'sha384', {}],
    ['ec521', 'SHA512withECDSA', 'sha512', {}],
    ['ed', 'Ed25519', null, {}],
  ];
  for (const [keyName, algorithm, hash, opts] of cases) {
    const signed = await v.call('/asymmetric/sign', { input: b64(MSG), keyName, algorithm });
    assert.equal(signed.status, 200, `${algorithm}: ${signed.text}`);
    const sig = dec(signed.json.output);
    assert.ok(nodeVerify(hash, MSG, { key: pub(keyName), ...opts }, sig), `${algorithm} verifies with node:crypto`);
    assert.deepEqual((await v.call('/asymmetric/verify', { input: b64(MSG), signature: signed.json.output, keyName, algorithm })).json, { valid: true }, algorithm);
    if (hash === null || algorithm.endsWith('/PSS')) continue;
    // `hashed`: the caller's digest, used when `input` is empty (VSSM's AsymmetricSignRequest).
    const digest = createHash(hash).update(MSG).digest();
    const pre = await v.call('/asymmetric/sign', { hashed: b64(digest), keyName, algorithm });
    assert.equal(pre.status, 200, `${algorithm} prehashed: ${pre.text}`);
    assert.ok(nodeVerify(hash, MSG, pub(keyName), dec(pre.json.output)), `${algorithm} prehashed verifies as a signature of the message`);
    assert.deepEqual((await v.call('/asymmetric/verify', { hashed: b64(digest), signature: pre.json.output, keyName, algorithm })).json, { valid: true });
  }
  // A signature made elsewhere verifies here; an algorithm that does not fit the key is refused.
  const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await v.admin('injectkey', { keyName: 'imported-ec', keyType: 'ASYMMETRIC', key: b64(ours.privateKey.export({ format: 'der', type: 'pkcs8' })) });
  const theirs = nodeSign('sha256', MSG, ours.privateKey);
  assert.deepEqual((await v.call('/asymmetric/verify', { input: b64(MSG), signature: b64(theirs), keyName: 'imported-ec', algorithm: 'SHA256withECDSA' })).json, { valid: true });
  const misfit = await v.call('/asymmetric/sign', { input: b64(MSG), keyName: 'imported-ec', algorithm: 'SHA256withRSA' });
  assert.equal(misfit.status, 400);
  assert.match(String(misfit.json.error), /needs an RSA key/);
  assert.deepEqual((await v.call('/asymmetric/verify', { input: b64(MSG), keyName: 'imported-ec', algorithm: 'SHA256withECDSA' })).json, {});
});

test('HMAC keys: any length, any hash per request (SHA-1 on legacy keys), constant-time verify', async (t) => {
  const v = await vssmVault(t);
  const key = randomBytes(20);
  assert.equal((await v.admin('injectkey', { keyName: 'm', keyType: 'MAC', key: b64(key) })).status, 200);
  for (const [alg, hash] of [['SHA256', 'sha256'], ['SHA384', 'sha384'], ['SHA512', 'sha512']] as const) {
    const { createHmac } = await import('node:crypto');
    const expected = createHmac(hash, key).update(MSG).digest('base64');
    assert.equal((await v.call('/hmac/create', { input: b64(MSG), keyName: 'm', algorithm: alg })).json.output, expected);
    assert.deepEqual((await v.call('/hmac/verify', { input: b64(MSG), hmac: expected, keyName: 'm', algorithm: alg })).json, { valid: true });
    assert.deepEqual((await v.call('/hmac/verify', { input: b64('other'), hmac: expected, keyName: 'm', algorithm: alg })).json, {});
  }
  assert.deepEqual((await v.call('/hmac/create', { input: b64(MSG), keyName: 'm', algorithm: 'MD5' })).json, { error: 'Invalid algorithm: MD5' });
  assert.equal((await v.admin('generatekey', { keyName: 'm64', keyType: 'MAC', keySize: 64 })).status, 200);
  const listed = (await v.admin('listkeys', { keyName: 'm64', keyType: 'MAC' })).json as { macKey: { keyLength: string }[] };
  assert.equal(listed.macKey[0]!.keyLength, '64');
});

test('admin password: right, wrong (VSSM\'s message), snake_case, throttled after repeated failures; unconfigured refuses', async (t) => {
  const v = await vssmVault(t);
  assert.equal((await v.admin('listkeys')).status, 200);
  assert.equal((await v.call('/admin/listkeys', { admin_password: ADMIN_PASSWORD })).status, 200);
  const wrong = await v.admin('listkeys', {}, 'nope');
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.json, { error: 'Incorrect administrator password.' });
  assert.deepEqual((await v.call('/admin/generatekey', { keyName: 'x', keyType: 'MAC' })).json, { error: 'Incorrect administrator password.' });
  // The third failure locks the account for a while (auth/login-throttle.ts), even for the right password.
  assert.equal((await v.admin('listkeys', {}, 'nope again')).status, 401);
  const locked = await v.admin('listkeys');
  assert.equal(locked.status, 429, locked.text);
  assert.equal((await v.admin('listkeys', {}, 'nope')).status, 429);
  assert.match(String(locked.json.error), /too many failed logins/);

  const plain = await vssmVault(t, { compat: { vssm: {} } });
  const none = await plain.admin('listkeys');
  assert.equal(none.status, 403);
  assert.match(String(none.json.error), /rootPassword/);
});

test('generatekey, injectkey and listkeys: VSSM\'s shapes and messages, names in one namespace', async (t) => {
  const v = await vssmVault(t);
  const before = Date.now();
  assert.deepEqual((await v.admin('generatekey', { keyName: 'sym', keyType: 'SYMMETRIC', keySize: '32' })).json, {});
  assert.deepEqual((await v.admin('generatekey', { key_name: 'mac', key_type: 'MAC', key_size: 48 })).json, {});
  assert.deepEqual((await v.admin('generatekey', { keyName: 'rsa', keyType: 'ASYMMETRIC', keySpec: 'RSA', keySize: 2048 })).json, {});
  assert.deepEqual((await v.admin('generatekey', { keyName: 'ec', keyType: 'ASYMMETRIC', keySpec: 'EC', keySize: 384 })).json, {});
  assert.deepEqual((await v.admin('generatekey', { keyName: 'sym', keyType: 'SYMMETRIC', keySize: 32 })).json, { error: 'Key with name sym already exists.' });
  assert.deepEqual((await v.admin('injectkey', { keyName: 'rsa', keyType: 'MAC', key: b64(randomBytes(32)) })).json, { error: 'Key with name rsa already exists.' });
  assert.deepEqual((await v.admin('generatekey', { keyName: '', keyType: 'MAC' })).json, { error: 'Key name cannot be blank.' });
  assert.deepEqual((await v.admin('generatekey', { keyName: 'q', keyType: 'QUANTUM' })).json, { error: 'Invalid key type: QUANTUM' });
  assert.match(String((await v.admin('generatekey', { keyName: 'q', keyType: 'ASYMMETRIC', keySpec: 'EC', keySize: 226 })).json.error), /P-224 is not supported/);
  assert.match(String((await v.admin('generatekey', { keyName: 'q', keyType: 'ASYMMETRIC', keySpec: 'DSA', keySize: 2048 })).json.error), /Unsupported key spec: DSA/);
  assert.match(String((await v.admin('injectkey', { keyName: 'q', keyType: 'ASYMMETRIC', key: b64('not a key') })).json.error), /PKCS#8/);
  // Keys created through /v1 that VSSM can use are listed too; others are not.
  await v.server.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(v.rootToken), payload: { name: 'chacha', type: 'chacha20-poly1305' } });

  const all = (await v.admin('listkeys')).json as {
    symmetricKey: { name: string; createdAt: string; keyLength: string }[];
    macKey: { name: string; keyLength: string }[];
    asymmetricKey: { name: string; createdAt: string; keySpec: string; publicKey: string }[];
  };
  assert.deepEqual(Object.keys(all).sort(), ['asymmetricKey', 'macKey', 'symmetricKey']);
  assert.deepEqual(all.symmetricKey.map((k) => [k.name, k.keyLength]), [['sym', '32']]);
  assert.deepEqual(all.macKey.map((k) => [k.name, k.keyLength]), [['mac', '48']]);
  assert.deepEqual(all.asymmetricKey.map((k) => [k.name, k.keySpec]), [['ec', 'EC'], ['rsa', 'RSA']]);
  const created = Number(all.symmetricKey[0]!.createdAt);
  assert.ok(typeof all.symmetricKey[0]!.createdAt === 'string' && created >= before - 1000 && created <= Date.now(), 'createdAt is int64 milliseconds as a string');
  assert.equal(createPublicKey({ key: dec(all.asymmetricKey[1]!.publicKey), format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength, 2048);

  const one = (await v.admin('listkeys', { keyName: 'rsa', keyType: 'ASYMMETRIC' })).json as { asymmetricKey: unknown[] };
  assert.deepEqual(Object.keys(one), ['asymmetricKey']);
  assert.equal(one.asymmetricKey.length, 1);
  assert.deepEqual((await v.admin('listkeys', { keyName: 'rsa', keyType: 'MAC' })).json, { error: 'No key by that name exists.' });
  assert.deepEqual((await v.admin('listkeys', { keyName: 'rsa', keyType: 'BLOB' })).json, { error: 'Unsupported key type: BLOB' });
});

test('protobuf JSON: snake_case accepted, unknown fields and bad base64 refused, any Content-Type read as JSON, unknown key is 404', async (t) => {
  const v = await vssmVault(t);
  await v.admin('generatekey', { keyName: 'k', keyType: 'SYMMETRIC', keySize: 32 });
  const enc = await v.call('/symmetric/encrypt', { input: b64(MSG), key_name: 'k', algorithm: 'AES/GCM/NoPadding' });
  assert.equal(enc.status, 200);
  // curl -d sends application/x-www-form-urlencoded; VSSM reads the body as JSON anyway.
  const form = await v.call('/symmetric/decrypt', undefined, { raw: JSON.stringify({ input: enc.json.output, keyName: 'k', algorithm: 'AES/GCM/NoPadding' }), contentType: 'application/x-www-form-urlencoded' });
  assert.deepEqual(dec(form.json.output), MSG);
  // URL-safe base64 without padding is accepted on input (protobuf JSON).
  const urlSafe = await v.call('/symmetric/decrypt', { input: dec(enc.json.output).toString('base64url'), keyName: 'k', algorithm: 'AES/GCM/NoPadding' });
  assert.deepEqual(dec(urlSafe.json.output), MSG);
  assert.deepEqual((await v.call('/symmetric/encrypt', { input: b64(MSG), keyName: 'k', algorithm: 'AES/GCM/NoPadding', colour: 'blue' })).json, { error: 'unknown field "colour"' });
  assert.deepEqual((await v.call('/symmetric/encrypt', { input: '***', keyName: 'k', algorithm: 'AES/GCM/NoPadding' })).json, { error: 'illegal base64 data in field "input"' });
  assert.deepEqual((await v.call('/symmetric/encrypt', { input: 5, keyName: 'k', algorithm: 'AES/GCM/NoPadding' })).json, { error: 'invalid value for field "input"' });
  assert.match(String((await v.call('/symmetric/encrypt', { keyName: 'k', key_name: 'k', algorithm: 'AES/GCM/NoPadding' })).json.error), /given twice/);
  const missing = await v.call('/symmetric/encrypt', { input: b64(MSG), keyName: 'nope', algorithm: 'AES/GCM/NoPadding' });
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.json, { error: 'Invalid key name: nope' });
  const broken = await v.call('/symmetric/encrypt', undefined, { raw: '{"input":' });
  assert.equal(broken.status, 400);
  assert.deepEqual(Object.keys(broken.json), ['error']);
  const unknownPath = await v.call('/symmetric/frobnicate', {});
  assert.equal(unknownPath.status, 404);
  assert.deepEqual(Object.keys(unknownPath.json), ['error']);
  // An empty plaintext encrypts (ECB on a legacy key gives empty output: proto3 omits it).
  await v.admin('generatekey', { keyName: 'legacy', keyType: 'SYMMETRIC', keySize: 16, legacy: true });
  assert.deepEqual((await v.call('/symmetric/encrypt', { keyName: 'legacy', algorithm: 'AES/ECB/NoPadding' })).json, {});
});

test('mTLS: no client certificate, or one from an untrusted CA, is refused on every VSSM endpoint', async (t) => {
  const v = await vssmVault(t);
  await v.server.api.ready();
  const paths = v.server.routes.filter((r) => r.url.startsWith('/REST/v1/')).map((r) => r.url.slice('/REST/v1'.length));
  assert.equal(paths.length, 15);
  for (const path of paths) {
    for (const as of ['none', 'rogue'] as const) {
      const res = await v.call(path, { adminPassword: ADMIN_PASSWORD, keyName: 'k', algorithm: 'AES/GCM/NoPadding', input: b64(MSG) }, { as });
      assert.equal(res.status, 401, `${path} as ${as}: ${res.text}`);
      assert.match(String(res.json.error), /client certificate/);
    }
  }
});

test('getlogs serves the audit log in VSSM\'s line format; the health port answers running, then bootstrapping when sealed', async (t) => {
  const v = await vssmVault(t);
  await v.admin('generatekey', { keyName: 'k', keyType: 'SYMMETRIC', keySize: 32 });
  await v.call('/symmetric/encrypt', { input: b64(MSG), keyName: 'nope', algorithm: 'AES/GCM/NoPadding' });
  const logs = (await v.admin('getlogs')).json as { log: string[] };
  assert.ok(logs.log.length >= 4, JSON.stringify(logs));
  for (const line of logs.log) assert.match(line, /^\[\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\] audit:\d+, (INFO|WARN|ERROR): \S/, line);
  assert.ok(logs.log.some((l) => / WARN: response .*status=404/.test(l)), 'the refused encrypt is there');
  assert.ok(logs.log.some((l) => /op=vssmGenerateKey POST \/REST\/v1\/admin\/generatekey/.test(l)));
  const text = logs.log.join('\n');
  assert.ok(!text.includes(ADMIN_PASSWORD) && !text.includes('"adminPassword"'), 'the password never reaches the log');
  // In the audit file itself: no password, and VSSM's `output` (here a plaintext) is HMAC'd like every value.
  const enc = await v.call('/symmetric/encrypt', { input: b64(MSG.subarray(0, 12)), keyName: 'k', algorithm: 'AES/GCM/NoPadding' });
  await v.call('/symmetric/decrypt', { input: enc.json.output, keyName: 'k', algorithm: 'AES/GCM/NoPadding' });
  const file = readFileSync(join(v.dir, 'audit.log'), 'utf8');
  assert.ok(!file.includes(ADMIN_PASSWORD) && !file.includes(b64(MSG.subarray(0, 12))) && !file.includes(String(enc.json.output)));
  assert.match(file, /"outputBytes":"hmac-sha256:/);

  const health = await fetch(`${v.server.healthUrl}/REST/v1/healthcheck`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), 'running');
  assert.equal((await v.server.api.inject({ method: 'POST', url: '/v1/sys/seal', headers: bearer(v.rootToken) })).statusCode, 200);
  const sealed = await fetch(`${v.server.healthUrl}/REST/v1/healthcheck`);
  assert.equal(sealed.status, 503);
  assert.equal(await sealed.text(), 'bootstrapping');
  const refused = await v.call('/symmetric/encrypt', { input: b64(MSG), keyName: 'k', algorithm: 'AES/GCM/NoPadding' });
  assert.equal(refused.status, 503);
  assert.deepEqual(Object.keys(refused.json), ['error']);
});

test('an RSA private key injected as PKCS#8 is the key the API uses (Ed25519 and secp256k1 too)', async (t) => {
  const v = await vssmVault(t);
  const ed = generateKeyPairSync('ed25519');
  await v.admin('injectkey', { keyName: 'ed', keyType: 'ASYMMETRIC', key: b64(ed.privateKey.export({ format: 'der', type: 'pkcs8' })) });
  const sig = dec((await v.call('/asymmetric/sign', { input: b64(MSG), keyName: 'ed', algorithm: 'Ed25519' })).json.output);
  assert.ok(nodeVerify(null, MSG, ed.publicKey, sig));
  const k1 = createPrivateKey(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
  assert.equal((await v.admin('injectkey', { keyName: 'k1', keyType: 'ASYMMETRIC', key: b64(k1.export({ format: 'der', type: 'pkcs8' })) })).status, 200);
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'der', type: 'pkcs8' });
  assert.match(String((await v.admin('injectkey', { keyName: 'small', keyType: 'ASYMMETRIC', key: b64(rsa1024) })).json.error), /1024 bits are not supported/);
});

test('a key with a release policy decrypts nothing through VSSM (it has no recipient to seal the plaintext to)', async (t) => {
  const v = await vssmVault(t);
  const made = await v.server.api.inject({ method: 'POST', url: '/v1/keys', headers: { authorization: `Bearer ${v.rootToken}` }, payload: { name: 'released', type: 'aes256-gcm', releasePolicy: { pcrs: { '0': 'ab'.repeat(48) } } } });
  assert.equal(made.statusCode, 200, made.body);
  const enc = await v.server.api.inject({ method: 'POST', url: '/v1/keys/released/encrypt', headers: { authorization: `Bearer ${v.rootToken}` }, payload: { plaintext: b64('top secret') } });
  // /v1's AEAD ciphertext body is VSSM's GCM layout (nonce || ciphertext || tag): the same bytes, offered to VSSM.
  const body = String(enc.json<{ ciphertext: string }>().ciphertext).split(':')[2]!;
  const res = await v.call('/symmetric/decrypt', { input: body, keyName: 'released', algorithm: 'AES/GCM/NoPadding' });
  assert.equal(res.status, 403, res.text);
  assert.ok(!res.text.includes(b64('top secret')));
});
