/**
 * RSA and EC key pairs on the HSM: the private halves stay inside, the
 * exported SPKI is what node:crypto expects, and every operation is
 * cross-checked against node:crypto with that SPKI (RSA-OAEP encryption,
 * RSA PKCS#1 v1.5 / PSS and ECDSA signatures).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, verify as nodeVerify, type KeyObject } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Pkcs11Client, Pkcs11Key } from '../../../src/seal/pkcs11/pkcs11-client.js';
import { bytes, openTestHsm, rejectsWith } from './softhsm-client.js';

const P = pkcs11js;

async function nodeKey(client: Pkcs11Client, key: Pkcs11Key): Promise<KeyObject> {
  return createPublicKey({ key: Buffer.from(await client.publicKeySpki(key)), format: 'der', type: 'spki' });
}

/** Attributes of the one private key object labelled `label`. */
async function privateKeyFacts(client: Pkcs11Client, label: string, secretAttribute: number): Promise<{ sensitive: boolean; extractable: boolean; token: boolean; secretRefused: boolean }> {
  return client.withSession(({ api, handle }) => {
    api.C_FindObjectsInit(handle, [
      { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
      { type: P.CKA_LABEL, value: label },
    ]);
    const [object] = api.C_FindObjects(handle, 2);
    api.C_FindObjectsFinal(handle);
    assert.ok(object);
    const bool = (type: number): boolean => api.C_GetAttributeValue(handle, object, [{ type }])[0]!.value[0] === 1;
    let secretRefused = false;
    try {
      api.C_GetAttributeValue(handle, object, [{ type: secretAttribute }]);
    } catch (error) {
      secretRefused = (error as Error).message === 'CKR_ATTRIBUTE_SENSITIVE';
    }
    return { sensitive: bool(P.CKA_SENSITIVE), extractable: bool(P.CKA_EXTRACTABLE), token: bool(P.CKA_TOKEN), secretRefused };
  });
}

test('an RSA-2048 pair: private key sensitive and non-extractable, SPKI right for node, same SPKI from either half', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  const pair = await client.generateRsaKeyPair('rsa-facts', 2048);
  assert.deepEqual(pair.publicKey.id, pair.privateKey.id);
  assert.deepEqual(await privateKeyFacts(client, 'rsa-facts', P.CKA_PRIVATE_EXPONENT), { sensitive: true, extractable: false, token: true, secretRefused: true });
  const spki = await client.publicKeySpki(pair.publicKey);
  assert.deepEqual(await client.publicKeySpki(pair.privateKey), spki);
  const key = await nodeKey(client, pair.publicKey);
  assert.equal(key.asymmetricKeyType, 'rsa');
  assert.deepEqual(key.asymmetricKeyDetails, { modulusLength: 2048, publicExponent: 65537n });
  await rejectsWith(client.generateRsaKeyPair('rsa-facts', 2048), 'KH_HSM_OPERATION_FAILED', /already holds/);
  await assert.rejects(client.generateRsaKeyPair('rsa-small', 1024 as 2048), TypeError);
  await assert.rejects(client.publicKeySpki(await client.generateAesKey('rsa-aes')), TypeError);
});

test('RSA-OAEP: node encrypts with the exported SPKI, the HSM decrypts; HSM round trip; bad ciphertexts fail as "decryption failed"', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  const pair = await client.generateRsaKeyPair('rsa-oaep', 2048);
  const pub = await nodeKey(client, pair.publicKey);
  const secret = bytes('a 32-byte data encryption key!!!');

  // SHA-1 / MGF1-SHA-1: the one OAEP hash SoftHSM2 2.6 implements.
  const fromNode = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, secret);
  assert.deepEqual(await client.rsaOaepDecrypt(pair.privateKey, fromNode, { hash: 'SHA-1' }), secret);
  const fromHsm = await client.rsaOaepEncrypt(pair.publicKey, secret, { hash: 'SHA-1' });
  assert.equal(fromHsm.length, 256);
  assert.deepEqual(await client.rsaOaepDecrypt(pair.privateKey, fromHsm, { hash: 'SHA-1' }), secret);

  // SHA-256 / MGF1-SHA-256 (the default): SoftHSM2 2.6.1 refuses the parameters
  // ("hashAlg must be CKM_SHA_1": CKR_ARGUMENTS_BAD). A module that accepts
  // them must then decrypt node's ciphertext exactly.
  const fromNode256 = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, secret);
  const outcome = await client.rsaOaepDecrypt(pair.privateKey, fromNode256).then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) {
    assert.deepEqual(outcome.value, secret);
  } else {
    t.diagnostic('this module refuses RSA-OAEP with SHA-256 (SoftHSM2 2.6 supports SHA-1 only)');
    await rejectsWith(Promise.reject(outcome.error), 'KH_HSM_OPERATION_FAILED', /C_DecryptInit.*CKR_ARGUMENTS_BAD/);
  }

  const tampered = new Uint8Array(fromNode);
  tampered[100]! ^= 0x40;
  const cases: [string, Uint8Array][] = [
    ['tampered', tampered],
    ['short', fromNode.subarray(1)],
    ['long', new Uint8Array([...fromNode, 0])],
    ['zero', new Uint8Array(256)],
  ];
  for (const [what, ct] of cases) {
    const err = await rejectsWith(client.rsaOaepDecrypt(pair.privateKey, ct, { hash: 'SHA-1' }), 'KH_DECRYPT_FAILED');
    assert.equal(err.message, 'decryption failed', what);
  }
  await assert.rejects(client.rsaOaepEncrypt(pair.publicKey, new Uint8Array(256 - 2 * 20 - 1), { hash: 'SHA-1' }), TypeError);
  await assert.rejects(client.rsaOaepDecrypt(pair.publicKey, fromNode), TypeError);
});

test('RSA PKCS#1 v1.5 and PSS signatures from the HSM verify in node and on the HSM; altered ones do not', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  const pair = await client.generateRsaKeyPair('rsa-sign', 2048);
  const pub = await nodeKey(client, pair.publicKey);
  const message = bytes('audit checkpoint 42');
  const pkcs1 = await client.sign(pair.privateKey, 'RSA-PKCS1-SHA256', message);
  assert.ok(nodeVerify('sha256', message, { key: pub, padding: constants.RSA_PKCS1_PADDING }, pkcs1));
  const pss = await client.sign(pair.privateKey, 'RSA-PSS-SHA256', message);
  assert.ok(nodeVerify('sha256', message, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, pss));
  assert.ok(!nodeVerify('sha256', message, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, pkcs1));
  for (const [alg, sig] of [
    ['RSA-PKCS1-SHA256', pkcs1],
    ['RSA-PSS-SHA256', pss],
  ] as const) {
    assert.equal(await client.verify(pair.publicKey, alg, message, sig), true, alg);
    assert.equal(await client.verify(pair.publicKey, alg, bytes('audit checkpoint 43'), sig), false, alg);
    const bad = new Uint8Array(sig);
    bad[0]! ^= 1;
    assert.equal(await client.verify(pair.publicKey, alg, message, bad), false, alg);
    assert.equal(await client.verify(pair.publicKey, alg, message, sig.subarray(1)), false, `${alg} short`);
  }
  await assert.rejects(client.sign(pair.publicKey, 'RSA-PSS-SHA256', message), TypeError);
  await assert.rejects(client.sign(pair.privateKey, 'ECDSA-SHA256', message), TypeError);
});

test('ECDSA on P-256 and P-384: r||s signatures verify in node with the exported SPKI and on the HSM; the private key stays inside', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  for (const [curve, alg, hash, nodeCurve, size] of [
    ['P-256', 'ECDSA-SHA256', 'sha256', 'prime256v1', 64],
    ['P-384', 'ECDSA-SHA384', 'sha384', 'secp384r1', 96],
  ] as const) {
    const label = `ec-${curve}`;
    const pair = await client.generateEcKeyPair(label, curve);
    assert.deepEqual(await privateKeyFacts(client, label, P.CKA_VALUE), { sensitive: true, extractable: false, token: true, secretRefused: true });
    const pub = await nodeKey(client, pair.publicKey);
    assert.equal(pub.asymmetricKeyType, 'ec');
    assert.deepEqual(pub.asymmetricKeyDetails, { namedCurve: nodeCurve });
    assert.deepEqual(await client.publicKeySpki(pair.privateKey), await client.publicKeySpki(pair.publicKey));
    for (let i = 0; i < 5; i++) {
      const message = bytes(`message ${i} on ${curve}`);
      const sig = await client.sign(pair.privateKey, alg, message);
      assert.equal(sig.length, size);
      assert.ok(nodeVerify(hash, message, { key: pub, dsaEncoding: 'ieee-p1363' }, sig), `${curve} #${i} in node`);
      assert.equal(await client.verify(pair.publicKey, alg, message, sig), true);
      assert.equal(await client.verify(pair.publicKey, alg, bytes('other'), sig), false);
      const bad = new Uint8Array(sig);
      bad[size - 1]! ^= 1;
      assert.equal(await client.verify(pair.publicKey, alg, message, bad), false);
      assert.ok(!nodeVerify(hash, message, { key: pub, dsaEncoding: 'ieee-p1363' }, bad));
    }
    // The other digest works too (FIPS 186-4 §6.4 truncates a longer one).
    const cross = alg === 'ECDSA-SHA256' ? 'ECDSA-SHA384' : 'ECDSA-SHA256';
    const sig = await client.sign(pair.privateKey, cross, bytes('x'));
    assert.ok(nodeVerify(cross === 'ECDSA-SHA256' ? 'sha256' : 'sha384', bytes('x'), { key: pub, dsaEncoding: 'ieee-p1363' }, sig));
  }
  await assert.rejects(client.generateEcKeyPair('ec-k1', 'secp256k1' as 'P-256'), TypeError);
});
