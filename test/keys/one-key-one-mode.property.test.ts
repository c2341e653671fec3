/**
 * Issue 15 H5, at the keys layer and over arbitrary inputs (fast-check): no
 * key serves two modes. AEAD keys refuse every raw mode but GCM whatever the
 * input, padding or legacy flag; raw keys round-trip every mode; a raw key
 * Keyhold generated answers each mode under its own subkey (the CTR
 * keystream at any IV is no ECB block, and no GCM ciphertext it helps forge
 * opens), while imported material is used as given (VSSM's semantics).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { ManagedKey } from '../../src/keys/managed-key.js';
import type { KeyRecord } from '../../src/keys/key-record.js';
import type { KeyType } from '../../src/keys/key-type-names.js';
import { rawDecrypt, rawEncrypt, type RawCipherSpec } from '../../src/keys/operations/block-cipher.js';
import { decrypt, encrypt } from '../../src/keys/operations/encrypt.js';
import { KeyholdError } from '../../src/errors.js';

const NOW = '2026-01-01T00:00:00.000Z';

function keyOf(type: KeyType, secret: Uint8Array, options: { legacy?: boolean; imported?: boolean } = {}): ManagedKey {
  const record: KeyRecord = {
    format: 1,
    name: 'k',
    type,
    description: '',
    tags: {},
    createdAt: NOW,
    updatedAt: NOW,
    state: 'enabled',
    exportable: false,
    legacy: options.legacy ?? false,
    sealWrap: false,
    publicOnly: false,
    latestVersion: 1,
    minDecryptionVersion: 1,
    minEncryptionVersion: 0,
    minAvailableVersion: 1,
    autoRotatePeriodSeconds: 0,
    lastRotatedAt: NOW,
    versions: [{ version: 1, createdAt: NOW, secret: Buffer.from(secret).toString('base64') }],
    ...(options.imported === true && { origin: 'imported' as const }),
  };
  return new ManagedKey(record);
}

const code = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return e instanceof KeyholdError ? e.code : 'not a KeyholdError';
  }
};

const AEAD_TYPES = [['aes128-gcm', 16], ['aes192-gcm', 24], ['aes256-gcm', 32]] as const;
const RAW_TYPES = [['aes128-raw', 16], ['aes192-raw', 24], ['aes256-raw', 32]] as const;
const modes = fc.constantFrom('ecb', 'cbc', 'ctr') as fc.Arbitrary<'ecb' | 'cbc' | 'ctr'>;
const paddings = fc.constantFrom('none', 'pkcs7') as fc.Arbitrary<'none' | 'pkcs7'>;

test('H5 property: an AEAD key refuses ECB, CBC and CTR for any input, padding and legacy flag, in both directions', () => {
  fc.assert(
    fc.property(fc.constantFrom(...AEAD_TYPES), modes, paddings, fc.boolean(), fc.uint8Array({ maxLength: 80 }), ([type, bytes], mode, padding, legacy, input) => {
      const key = keyOf(type, randomBytes(bytes), { legacy });
      const spec: RawCipherSpec = { cipher: 'aes', mode, padding };
      assert.equal(code(() => rawEncrypt(key, spec, input)), 'KH_KEY_OPERATION_UNSUPPORTED');
      assert.equal(code(() => rawDecrypt(key, spec, input)), 'KH_KEY_OPERATION_UNSUPPORTED');
      // Its own mode still works and is the /v1 AEAD: what VSSM GCM encrypts, /v1 decrypts.
      const gcm = rawEncrypt(key, { cipher: 'aes', mode: 'gcm', padding: 'none' }, input).output;
      assert.deepEqual(decrypt(key, { ciphertext: `keyhold:v1:${Buffer.from(gcm).toString('base64')}` }).plaintext, input);
    }),
    { numRuns: 200 },
  );
});

test('H5 property: raw AES keys round-trip every mode and are refused by the AEAD operations', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...RAW_TYPES),
      fc.constantFrom('ecb', 'cbc', 'ctr', 'gcm') as fc.Arbitrary<RawCipherSpec['mode']>,
      fc.boolean(),
      fc.uint8Array({ maxLength: 80 }),
      ([type, bytes], mode, imported, plaintext) => {
        const key = keyOf(type, randomBytes(bytes), { legacy: true, imported });
        const spec: RawCipherSpec = { cipher: 'aes', mode, padding: 'pkcs7' };
        assert.deepEqual(rawDecrypt(key, spec, rawEncrypt(key, spec, plaintext).output).plaintext, plaintext);
        assert.equal(code(() => encrypt(key, { plaintext })), 'KH_KEY_OPERATION_UNSUPPORTED');
        assert.equal(code(() => decrypt(key, { ciphertext: `keyhold:v1:${Buffer.from(randomBytes(40)).toString('base64')}` })), 'KH_KEY_OPERATION_UNSUPPORTED');
      },
    ),
    { numRuns: 200 },
  );
});

test('H5 property: a generated raw key answers each mode under its own subkey; imported material is the same in every mode', () => {
  fc.assert(
    fc.property(fc.constantFrom(...RAW_TYPES), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), ([type, bytes], iv, imported) => {
      const material = randomBytes(bytes);
      const key = keyOf(type, material, { legacy: true, imported });
      // The CTR "oracle": a zero block under IV x decrypts to the keystream block E(x) of the CTR key.
      const ctrBlock = rawDecrypt(key, { cipher: 'aes', mode: 'ctr', padding: 'none' }, Buffer.concat([iv, new Uint8Array(16)])).plaintext;
      const ecbBlock = rawEncrypt(key, { cipher: 'aes', mode: 'ecb', padding: 'none' }, iv).output;
      const c = createCipheriv(`aes-${bytes * 8}-ecb`, material, null).setAutoPadding(false);
      const underMaterial = Buffer.concat([c.update(iv), c.final()]);
      if (imported) {
        assert.deepEqual(Buffer.from(ctrBlock), underMaterial, 'imported: CTR runs under the material as given');
        assert.deepEqual(Buffer.from(ecbBlock), underMaterial, 'imported: ECB runs under the material as given');
      } else {
        assert.notDeepEqual(Buffer.from(ctrBlock), underMaterial, 'generated: CTR is not under the key material');
        assert.notDeepEqual(Buffer.from(ecbBlock), underMaterial, 'generated: ECB is not under the key material');
        assert.notDeepEqual(Buffer.from(ctrBlock), Buffer.from(ecbBlock), 'generated: CTR and ECB use different subkeys');
      }
    }),
    { numRuns: 100 },
  );
});
