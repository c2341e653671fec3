/**
 * VSSM's own known answers (published vectors vssm/known-answers.json, taken
 * from JackOfMostTrades/vssm vssm_service_test.go; skipped with one line when
 * absent, see test/helpers/vectors.ts): the test keys are injected through the VSSM admin
 * API, and every published ciphertext and signature is decrypted / verified
 * through the VSSM service API over mTLS. The file's hmac_verify entries are
 * marked unusable (their key was random per upstream run); HMACs are checked
 * against node:crypto instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { b64, vssmVault } from './vssm-fixture.js';
import { assertPresent, publishedVectors } from '../../helpers/vectors.js';
import { pkcs1DecryptionAvailable } from '../../../src/keys/operations/rsa-encrypt.js';

interface KnownAnswers {
  symmetric_keys_b64: Record<string, string>;
  asymmetric_keys_pkcs8_b64: Record<string, string>;
  symmetric_plaintext: string;
  symmetric_decrypt: { key: string; algorithm: string; ciphertext_b64: string }[];
  asymmetric_plaintext: string;
  asymmetric_decrypt: { key: string; algorithm: string; ciphertext_b64: string }[];
  sign_message: string;
  signature_verify: { key: string; algorithm: string; signature_b64: string }[];
  hmac_message: string;
  hmac_verify_NOTE: string;
}

const VECTORS = publishedVectors('vssm/known-answers.json', 'JackOfMostTrades/vssm, vssm_service_test.go');
const knownAnswers = (): KnownAnswers => JSON.parse(readFileSync(assertPresent(VECTORS), 'utf8')) as KnownAnswers;
const SOURCE = 'vssm known-answers.json';
const KEY_SPECS: Record<string, string> = { test_aes_key: 'AES', test_des_key: 'DES', test_3des_key: '3DES' };

test('VSSM known answers: symmetric ciphertexts of every cipher and mode decrypt to the published plaintext', { skip: VECTORS.skip }, async (t) => {
  const KA = knownAnswers();
  const v = await vssmVault(t);
  for (const [name, key] of Object.entries(KA.symmetric_keys_b64)) {
    const mac = name === 'test_mac_key';
    // DES, 3DES and ECB are legacy: the keys are injected with Keyhold's legacy flag (a VSSM client would not send it).
    const res = await v.admin('injectkey', { keyName: name, keyType: mac ? 'MAC' : 'SYMMETRIC', key, ...(mac ? {} : { keySpec: KEY_SPECS[name], legacy: true }) });
    assert.equal(res.status, 200, `${name}: ${res.text}`);
    assert.deepEqual(res.json, {});
  }
  for (const ka of KA.symmetric_decrypt) {
    const res = await v.call('/symmetric/decrypt', { input: ka.ciphertext_b64, keyName: ka.key, algorithm: ka.algorithm });
    assert.equal(res.status, 200, `${SOURCE} ${ka.key} ${ka.algorithm}: ${res.text}`);
    assert.equal(Buffer.from(String(res.json.output), 'base64').toString(), KA.symmetric_plaintext, `${SOURCE} ${ka.key} ${ka.algorithm}`);
  }
});

test('VSSM known answers: RSA-OAEP (SHA-1/256/384/512) ciphertexts decrypt; PKCS#1 v1.5 decrypts only with implicit rejection', { skip: VECTORS.skip }, async (t) => {
  const KA = knownAnswers();
  const v = await vssmVault(t);
  for (const [name, key] of Object.entries(KA.asymmetric_keys_pkcs8_b64)) {
    const res = await v.admin('injectkey', { keyName: name, keyType: 'ASYMMETRIC', key, legacy: true });
    assert.equal(res.status, 200, `${name}: ${res.text}`);
  }
  for (const ka of KA.asymmetric_decrypt) {
    const res = await v.call('/asymmetric/decrypt', { input: ka.ciphertext_b64, keyName: ka.key, algorithm: ka.algorithm });
    if (ka.algorithm === 'RSA' && !pkcs1DecryptionAvailable()) {
      // Node 20 / OpenSSL 3.0 has no implicit rejection: decrypting would be a padding oracle, so it is refused (docs/compat.md#vssm).
      assert.equal(res.status, 400, res.text);
      assert.match(String(res.json.error), /PKCS#1 v1\.5 decryption is not available/);
      continue;
    }
    assert.equal(res.status, 200, `${SOURCE} ${ka.algorithm}: ${res.text}`);
    assert.equal(Buffer.from(String(res.json.output), 'base64').toString(), KA.asymmetric_plaintext, `${SOURCE} ${ka.algorithm}`);
  }
});

test('VSSM known answers: every published RSA and ECDSA signature verifies, and a changed message does not', { skip: VECTORS.skip }, async (t) => {
  const KA = knownAnswers();
  const v = await vssmVault(t);
  for (const [name, key] of Object.entries(KA.asymmetric_keys_pkcs8_b64)) {
    assert.equal((await v.admin('injectkey', { keyName: name, keyType: 'ASYMMETRIC', key, legacy: true })).status, 200);
  }
  for (const ka of KA.signature_verify) {
    const ok = await v.call('/asymmetric/verify', { input: b64(KA.sign_message), signature: ka.signature_b64, keyName: ka.key, algorithm: ka.algorithm });
    assert.equal(ok.status, 200, `${SOURCE} ${ka.algorithm}: ${ok.text}`);
    assert.deepEqual(ok.json, { valid: true }, `${SOURCE} ${ka.key} ${ka.algorithm}`);
    const bad = await v.call('/asymmetric/verify', { input: b64(`${KA.sign_message}!`), signature: ka.signature_b64, keyName: ka.key, algorithm: ka.algorithm });
    // proto3 JSON omits a false bool: a failed verify is {}.
    assert.deepEqual(bad.json, {}, `${SOURCE} ${ka.algorithm} (tampered)`);
  }
});

test('VSSM known answers: HMACs of the published message equal node:crypto, and verify (the file\'s hmac_verify entries are unusable)', { skip: VECTORS.skip }, async (t) => {
  const KA = knownAnswers();
  assert.match(KA.hmac_verify_NOTE, /UNUSABLE/);
  const v = await vssmVault(t);
  const key = KA.symmetric_keys_b64.test_mac_key!;
  assert.equal((await v.admin('injectkey', { keyName: 'test_mac_key', keyType: 'MAC', key, legacy: true })).status, 200);
  for (const [alg, hash] of [['SHA1', 'sha1'], ['SHA256', 'sha256'], ['SHA384', 'sha384'], ['SHA512', 'sha512']] as const) {
    const expected = createHmac(hash, Buffer.from(key, 'base64')).update(KA.hmac_message).digest('base64');
    const made = await v.call('/hmac/create', { input: b64(KA.hmac_message), keyName: 'test_mac_key', algorithm: alg });
    assert.equal(made.status, 200, made.text);
    assert.equal(made.json.output, expected, alg);
    assert.deepEqual((await v.call('/hmac/verify', { input: b64(KA.hmac_message), hmac: expected, keyName: 'test_mac_key', algorithm: alg })).json, { valid: true }, alg);
    const wrong = Buffer.from(expected, 'base64');
    wrong[0] = wrong[0]! ^ 1;
    assert.deepEqual((await v.call('/hmac/verify', { input: b64(KA.hmac_message), hmac: wrong.toString('base64'), keyName: 'test_mac_key', algorithm: alg })).json, {}, alg);
  }
});
