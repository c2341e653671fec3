/**
 * AES-GCM on the HSM: round trips, tamper detection, the attributes of the
 * generated key, and cross-checks of CKM_AES_GCM (our CK_GCM_PARAMS) against
 * node:crypto and the Wycheproof aes_gcm_test.json vectors on keys with
 * known bytes (C_CreateObject: test-only, the client never imports keys).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { KeyholdError } from '../../../src/errors.js';
import { Pkcs11Client, type Pkcs11Key } from '../../../src/seal/pkcs11/pkcs11-client.js';
import { bytes, hex, openTestHsm, readWycheproof, rejectsWith, toHex, wycheproofFile } from './softhsm-client.js';

interface AeadFile {
  numberOfTests: number;
  testGroups: {
    keySize: number;
    ivSize: number;
    tagSize: number;
    tests: { tcId: number; comment: string; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: 'valid' | 'invalid' | 'acceptable' }[];
  }[];
}

const P = pkcs11js;

/** A token AES key with known bytes: extractable and not sensitive, so node can use the same bytes. */
async function knownAesKey(client: Pkcs11Client, label: string, value: Uint8Array): Promise<Pkcs11Key> {
  await client.withSession(({ api, handle }) => {
    api.C_CreateObject(handle, [
      { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
      { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
      { type: P.CKA_TOKEN, value: true },
      { type: P.CKA_PRIVATE, value: true },
      { type: P.CKA_LABEL, value: label },
      { type: P.CKA_VALUE, value: Buffer.from(value) },
      { type: P.CKA_SENSITIVE, value: false },
      { type: P.CKA_EXTRACTABLE, value: true },
      { type: P.CKA_ENCRYPT, value: true },
      { type: P.CKA_DECRYPT, value: true },
    ]);
  });
  const key = await client.findKey(label, 'secret');
  assert.ok(key);
  return key;
}

test('AES-256-GCM round trips on a generated key for empty, small and large inputs, with and without AAD', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  const key = await client.generateAesKey('gcm-roundtrip', { bits: 256 });
  assert.deepEqual({ label: key.label, keyClass: key.keyClass, keyType: key.keyType, idLength: key.id.length }, { label: 'gcm-roundtrip', keyClass: 'secret', keyType: 'AES', idLength: 16 });
  for (const size of [0, 1, 15, 16, 17, 4096, 1 << 20]) {
    for (const aad of [new Uint8Array(0), bytes('keyhold-root-key-v1')]) {
      const plaintext = new Uint8Array(randomBytes(size));
      const sealed = await client.aesGcmEncrypt(key, plaintext, aad);
      assert.equal(sealed.iv.length, 12);
      assert.equal(sealed.ciphertext.length, size + 16);
      assert.deepEqual(await client.aesGcmDecrypt(key, sealed.iv, sealed.ciphertext, aad), plaintext, `size ${size}, aad ${aad.length}`);
    }
  }
  for (const bits of [128, 192] as const) {
    const k = await client.generateAesKey(`gcm-${bits}`, { bits });
    const sealed = await client.aesGcmEncrypt(k, bytes('x'));
    assert.deepEqual(await client.aesGcmDecrypt(k, sealed.iv, sealed.ciphertext), bytes('x'));
  }
});

test('any change to ciphertext, tag, IV or AAD, or a wrong key, is KH_DECRYPT_FAILED "decryption failed"', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  const key = await client.generateAesKey('gcm-tamper');
  const other = await client.generateAesKey('gcm-other');
  const aad = bytes('context');
  const { iv, ciphertext } = await client.aesGcmEncrypt(key, bytes('the root key, say'), aad);
  const flip = (b: Uint8Array, i: number): Uint8Array => {
    const c = new Uint8Array(b);
    c[i]! ^= 0x01;
    return c;
  };
  const cases: [string, () => Promise<unknown>][] = [
    ['first ciphertext byte', () => client.aesGcmDecrypt(key, iv, flip(ciphertext, 0), aad)],
    ['last tag byte', () => client.aesGcmDecrypt(key, iv, flip(ciphertext, ciphertext.length - 1), aad)],
    ['iv', () => client.aesGcmDecrypt(key, flip(iv, 5), ciphertext, aad)],
    ['aad', () => client.aesGcmDecrypt(key, iv, ciphertext, flip(aad, 0))],
    ['aad missing', () => client.aesGcmDecrypt(key, iv, ciphertext)],
    ['truncated tag', () => client.aesGcmDecrypt(key, iv, ciphertext.subarray(0, ciphertext.length - 1), aad)],
    ['shorter than a tag', () => client.aesGcmDecrypt(key, iv, ciphertext.subarray(0, 15), aad)],
    ['iv of 16 bytes', () => client.aesGcmDecrypt(key, new Uint8Array(16), ciphertext, aad)],
    ['other key', () => client.aesGcmDecrypt(other, iv, ciphertext, aad)],
  ];
  for (const [what, p] of cases) {
    const err = await rejectsWith(p(), 'KH_DECRYPT_FAILED');
    assert.equal(err.message, 'decryption failed', what);
  }
  // The client is still healthy: a failed tag is not a device fault.
  assert.deepEqual(await client.aesGcmDecrypt(key, iv, ciphertext, aad), bytes('the root key, say'));
});

test('a generated AES key is a sensitive, non-extractable token object: C_GetAttributeValue(CKA_VALUE) is refused', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  await client.generateAesKey('gcm-attrs');
  await client.withSession(({ api, handle }) => {
    api.C_FindObjectsInit(handle, [{ type: P.CKA_LABEL, value: 'gcm-attrs' }]);
    const [object, extra] = api.C_FindObjects(handle, 2);
    api.C_FindObjectsFinal(handle);
    assert.ok(object && !extra, 'exactly one object');
    const bool = (type: number): boolean => api.C_GetAttributeValue(handle, object, [{ type }])[0]!.value[0] === 1;
    assert.deepEqual(
      {
        token: bool(P.CKA_TOKEN),
        private: bool(P.CKA_PRIVATE),
        sensitive: bool(P.CKA_SENSITIVE),
        extractable: bool(P.CKA_EXTRACTABLE),
        alwaysSensitive: bool(P.CKA_ALWAYS_SENSITIVE),
        neverExtractable: bool(P.CKA_NEVER_EXTRACTABLE),
        encrypt: bool(P.CKA_ENCRYPT),
        decrypt: bool(P.CKA_DECRYPT),
        wrap: bool(P.CKA_WRAP),
        unwrap: bool(P.CKA_UNWRAP),
        sign: bool(P.CKA_SIGN),
      },
      { token: true, private: true, sensitive: true, extractable: false, alwaysSensitive: true, neverExtractable: true, encrypt: true, decrypt: true, wrap: true, unwrap: true, sign: false },
    );
    assert.equal(api.C_GetAttributeValue(handle, object, [{ type: P.CKA_VALUE_LEN }])[0]!.value.readUInt32LE(0), 32);
    assert.throws(() => api.C_GetAttributeValue(handle, object, [{ type: P.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
    // Nor can it be made extractable afterwards (CKA_EXTRACTABLE may only go true -> false).
    assert.throws(() => api.C_SetAttributeValue(handle, object, [{ type: P.CKA_EXTRACTABLE, value: true }]), /CKR_ATTRIBUTE_READ_ONLY|CKR_ATTRIBUTE_VALUE_INVALID/);
  });
});

test('CKM_AES_GCM with our parameters equals node:crypto AES-256-GCM in both directions (known key)', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  const value = new Uint8Array(randomBytes(32));
  const key = await knownAesKey(client, 'gcm-known', value);
  for (const [plaintext, aad] of [
    [bytes('hello, hsm'), bytes('aad')],
    [new Uint8Array(randomBytes(1000)), new Uint8Array(0)],
    [new Uint8Array(0), bytes('gmac only')],
  ] as const) {
    // HSM -> node
    const sealed = await client.aesGcmEncrypt(key, plaintext, aad);
    const d = createDecipheriv('aes-256-gcm', value, sealed.iv);
    d.setAAD(aad);
    d.setAuthTag(sealed.ciphertext.subarray(-16));
    assert.deepEqual(new Uint8Array(Buffer.concat([d.update(sealed.ciphertext.subarray(0, -16)), d.final()])), plaintext);
    // node -> HSM
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', value, iv);
    c.setAAD(aad);
    const ct = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
    assert.deepEqual(await client.aesGcmDecrypt(key, iv, ct, aad), plaintext);
  }
  // The GCM spec's own example (McGrew & Viega, "The Galois/Counter Mode of Operation", Test Case 16).
  const k16 = await knownAesKey(client, 'gcm-tc16', hex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308'));
  const out = await client.aesGcmDecrypt(
    k16,
    hex('cafebabefacedbaddecaf888'),
    hex('522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' + '76fc6ece0f4e1768cddf8853bb2d551b'),
    hex('feedfacedeadbeeffeedfacedeadbeefabaddad2'),
  );
  assert.equal(toHex(out), 'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39');
});

test('Wycheproof aes_gcm_test.json (AES-256, 96-bit IV, 128-bit tag) decrypts on the HSM exactly as specified', { skip: wycheproofFile('aes_gcm_test.json').skip }, async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  const data = readWycheproof<AeadFile>('aes_gcm_test.json');
  assert.equal(data.numberOfTests, 316, 'aes_gcm_test.json is complete');
  let run = 0;
  const failures: string[] = [];
  for (const group of data.testGroups) {
    if (group.keySize !== 256 || group.ivSize !== 96 || group.tagSize !== 128) continue;
    for (const tc of group.tests) {
      run++;
      const key = await knownAesKey(client, `wp-${tc.tcId}`, hex(tc.key));
      const outcome = await client.aesGcmDecrypt(key, hex(tc.iv), hex(tc.ct + tc.tag), hex(tc.aad)).then(
        (pt) => ({ ok: true as const, pt }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      await client.destroyObject(key);
      if (tc.result === 'valid') {
        if (!outcome.ok) failures.push(`tcId ${tc.tcId} (${tc.comment}): valid vector refused: ${String(outcome.error)}`);
        else if (toHex(outcome.pt) !== tc.msg) failures.push(`tcId ${tc.tcId} (${tc.comment}): wrong plaintext`);
      } else if (outcome.ok || !(outcome.error instanceof KeyholdError) || outcome.error.code !== 'KH_DECRYPT_FAILED') {
        failures.push(`tcId ${tc.tcId} (${tc.comment}): invalid vector ${outcome.ok ? 'accepted' : `failed with ${String(outcome.error)}`}`);
      }
    }
  }
  assert.equal(run, 66, 'vectors run (39 valid, 27 invalid)');
  assert.deepEqual(failures, []);
});

test('IVs are fresh per encryption, and a key outlives the client that made it (token object, found by label)', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client, token } = hsm;
  const key = await client.generateAesKey('gcm-persist');
  const ivs = new Set<string>();
  for (let i = 0; i < 200; i++) ivs.add(toHex((await client.aesGcmEncrypt(key, bytes('same'))).iv));
  assert.equal(ivs.size, 200);
  const sealed = await client.aesGcmEncrypt(key, bytes('kept across restarts'), bytes('aad'));
  await client.close();
  const again = await Pkcs11Client.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin });
  t.after(() => again.close());
  const found = await again.findKey('gcm-persist', 'secret');
  assert.ok(found);
  assert.deepEqual(found.id, key.id);
  assert.deepEqual(await again.aesGcmDecrypt(found, sealed.iv, sealed.ciphertext, bytes('aad')), bytes('kept across restarts'));
  // The descriptor from the earlier client works too: it is looked up by label and CKA_ID.
  assert.deepEqual(await again.aesGcmDecrypt(key, sealed.iv, sealed.ciphertext, bytes('aad')), bytes('kept across restarts'));
  assert.equal(await again.findKey('gcm-persist', 'private'), null);
  assert.equal(await again.findKey('no-such-key', 'secret'), null);
});

test('a label is generated once; destroyed keys are gone; misuse is a TypeError', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  const key = await client.generateAesKey('gcm-once');
  await rejectsWith(client.generateAesKey('gcm-once'), 'KH_HSM_OPERATION_FAILED', /already holds/);
  const ec = await client.generateEcKeyPair('gcm-ec', 'P-256');
  await assert.rejects(client.aesGcmEncrypt(ec.privateKey, bytes('x')), TypeError);
  await assert.rejects(client.aesGcmEncrypt(key, 'text' as unknown as Uint8Array), TypeError);
  await assert.rejects(client.generateAesKey('', {}), TypeError);
  await assert.rejects(client.generateAesKey('odd', { bits: 64 as 128 }), TypeError);
  await client.destroyObject(key);
  assert.equal(await client.findKey('gcm-once', 'secret'), null);
  await rejectsWith(client.aesGcmEncrypt(key, bytes('x')), 'KH_HSM_KEY_NOT_FOUND', /gcm-once/);
});
