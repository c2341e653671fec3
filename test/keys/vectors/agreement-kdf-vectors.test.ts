/**
 * Wycheproof X25519 (through an imported x25519 key's derive operation) and
 * HKDF-SHA-256 (RFC 5869 tcId 1-3 included) through crypto/hkdf.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveSharedSecret } from '../../../src/keys/operations/agreement.js';
import { hkdf } from '../../../src/crypto/hkdf.js';
import { attempt, bytesEqual, describeError, hex, isKeyholdCode, keyNames, loadWycheproof, vaultKeys, wycheproof, type WycheproofGroup, type WycheproofTest } from './wycheproof.js';

interface XdhTest extends WycheproofTest {
  public: string;
  private: string;
  shared: string;
}
interface HkdfTest extends WycheproofTest {
  ikm: string;
  salt: string;
  info: string;
  size: number;
  okm: string;
}

test('x25519_test.json through key import and derive', { skip: wycheproof('x25519_test.json').skip }, async (t) => {
  const file = loadWycheproof<WycheproofGroup<XdhTest>>('x25519_test.json');
  const keys = await vaultKeys(t);
  const name = keyNames('x');
  const failures: string[] = [];
  let run = 0;
  for (const g of file.testGroups) {
    for (const tc of g.tests) {
      run++;
      const key = await keys.importKey({ name: name(), type: 'x25519', secret: hex(tc.private) });
      const out = attempt(() => deriveSharedSecret(key, { peerPublicKey: hex(tc.public), output: 'shared-secret' }));
      const zero = /^0+$/.test(tc.shared);
      if (out.ok) {
        // Valid and acceptable vectors with a non-zero result must match exactly.
        if (tc.result === 'invalid' || zero || !bytesEqual(out.value.secret, hex(tc.shared))) failures.push(`${file.file} tcId ${tc.tcId}: got a secret for a ${tc.result}${zero ? ' all-zero' : ''} vector`);
      } else {
        // Refusal is right only with KH_INPUT_INVALID, and only for an all-zero result or a vector that is not plainly valid.
        const refusable = zero || tc.result !== 'valid';
        if (!refusable || !isKeyholdCode(out.error, 'KH_INPUT_INVALID')) failures.push(`${file.file} tcId ${tc.tcId}: ${describeError(out.error)}`);
      }
    }
  }
  assert.equal(run, file.numberOfTests);
  assert.deepEqual(failures, []);
});

test('hkdf_sha256_test.json through crypto/hkdf', { skip: wycheproof('hkdf_sha256_test.json').skip }, () => {
  const file = loadWycheproof<WycheproofGroup<HkdfTest>>('hkdf_sha256_test.json');
  const failures: string[] = [];
  for (const g of file.testGroups) {
    for (const tc of g.tests) {
      const out = attempt(() => hkdf('sha256', hex(tc.ikm), hex(tc.salt), hex(tc.info), tc.size));
      if (tc.result === 'valid' && !(out.ok && bytesEqual(out.value, hex(tc.okm)))) failures.push(`${file.file} tcId ${tc.tcId}: wrong okm`);
      if (tc.result === 'invalid' && out.ok) failures.push(`${file.file} tcId ${tc.tcId}: accepted an invalid size ${tc.size}`);
    }
  }
  assert.deepEqual(failures, []);
});
