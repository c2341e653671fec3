/**
 * Raw block cipher modes (src/crypto/block-cipher.ts): PKCS#7 padding edge
 * cases, and the Triple DES counter mode (OpenSSL has none) checked block by
 * block against OpenSSL's DES-EDE3 of the counter values, across a carry; the
 * caller's IV is left as it was. VSSM's published vectors cover the rest
 * (test/api/compat/vssm-known-answers.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { blockDecrypt, blockEncrypt, pkcs7Pad, pkcs7Unpad } from '../../src/crypto/block-cipher.js';

test('PKCS#7: every length pads to a whole block and back; malformed padding is refused', () => {
  for (const size of [8, 16]) {
    for (let n = 0; n <= 2 * size; n++) {
      const data = randomBytes(n);
      const padded = pkcs7Pad(data, size);
      assert.equal(padded.length % size, 0);
      assert.ok(padded.length > n && padded.length <= n + size);
      assert.deepEqual(Buffer.from(pkcs7Unpad(padded, size)!), data);
    }
  }
  const bad = [new Uint8Array(0), Uint8Array.of(1, 2, 3), new Uint8Array(16), Uint8Array.from({ length: 16 }, () => 17), Uint8Array.from([...new Uint8Array(13), 2, 3, 3])];
  for (const b of bad) assert.equal(pkcs7Unpad(b, 16), undefined, Buffer.from(b).toString('hex'));
});

test('DES and 3DES counter mode: the keystream is the block encryption of a big-endian counter that carries across bytes', () => {
  const key = randomBytes(24);
  const iv = Buffer.from('00000000000000ff', 'hex');
  const zeros = new Uint8Array(24);
  const stream = blockEncrypt('des-ede3', key, 'ctr', iv, zeros);
  assert.equal(iv.toString('hex'), '00000000000000ff', 'the IV is not counted up in place');
  const ecb = (block: string) => {
    const c = createCipheriv('des-ede3', key, null).setAutoPadding(false);
    return Buffer.concat([c.update(Buffer.from(block, 'hex')), c.final()]);
  };
  assert.deepEqual(Buffer.from(stream), Buffer.concat([ecb('00000000000000ff'), ecb('0000000000000100'), ecb('0000000000000101')]));
  const msg = randomBytes(37);
  assert.deepEqual(Buffer.from(blockDecrypt('des-ede3', key, 'ctr', iv, blockEncrypt('des-ede3', key, 'ctr', iv, msg))), msg);
  // Single DES with K is DES-EDE3 with K || K || K.
  const k = randomBytes(8);
  assert.deepEqual(blockEncrypt('des', k, 'ecb', undefined, zeros.subarray(0, 8)), blockEncrypt('des-ede3', Buffer.concat([k, k, k]), 'ecb', undefined, zeros.subarray(0, 8)));
  assert.throws(() => blockEncrypt('des', randomBytes(7), 'ecb', undefined, zeros.subarray(0, 8)), RangeError);
  assert.throws(() => blockEncrypt('aes', randomBytes(16), 'cbc', randomBytes(8), new Uint8Array(16)), RangeError);
});
