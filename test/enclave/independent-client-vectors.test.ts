// Known-answer tests for the primitives of the independent e2e client
// (docs/protocols.md §1 "Primitives"), run through the exact functions the client
// calls, so a pass here means the client's crypto is right independently of
// the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IndependentE2eError,
  hkdfSha256,
  x25519Public,
  x25519Shared,
  xchachaOpen,
  xchachaSeal,
} from './independent-e2e-client.js';
// Published, not carried here (test/helpers/vectors.ts): skipped with one line when absent.
import { XCHACHA_DRAFT_A3 } from '../helpers/vectors.js';
import { XCHACHA_FILE, xchachaVector } from './xchacha-draft-vector.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('XChaCha20-Poly1305 matches draft-irtf-cfrg-xchacha-03 A.3.1', { skip: XCHACHA_DRAFT_A3.skip }, () => {
  const v = xchachaVector();
  const key = hex(v.key);
  const nonce = hex(v.nonce);
  const aad = hex(v.aad); // the vector has AAD; the channel uses an empty one
  const sealed = xchachaSeal(key, nonce, hex(v.plaintext), aad);
  // §1: the 16-byte tag is appended to the ciphertext.
  assert.equal(toHex(sealed), v.ciphertext + v.tag, `${XCHACHA_FILE}: seal`);
  assert.equal(toHex(xchachaOpen(key, nonce, sealed, aad)), v.plaintext, `${XCHACHA_FILE}: open`);

  const flipped = sealed.slice();
  flipped[flipped.length - 1]! ^= 1;
  assert.throws(
    () => xchachaOpen(key, nonce, flipped, aad),
    (e: unknown) => e instanceof IndependentE2eError && e.code === 'decryption_failed',
    `${XCHACHA_FILE}: tampered tag must fail`,
  );
  assert.throws(
    () => xchachaOpen(key, nonce, sealed, new Uint8Array(0)),
    (e: unknown) => e instanceof IndependentE2eError && e.code === 'decryption_failed',
    `${XCHACHA_FILE}: wrong AAD must fail`,
  );
});

test('X25519 matches RFC 7748 §6.1', () => {
  const a = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const A = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
  const b = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  const B = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
  const K = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.equal(toHex(x25519Public(a)), A, 'RFC 7748 §6.1: Alice public');
  assert.equal(toHex(x25519Public(b)), B, 'RFC 7748 §6.1: Bob public');
  assert.equal(toHex(x25519Shared(a, hex(B))), K, 'RFC 7748 §6.1: K from Alice');
  assert.equal(toHex(x25519Shared(b, hex(A))), K, 'RFC 7748 §6.1: K from Bob');
});

test('X25519 refuses an all-zero shared secret (§1 Request step 2)', () => {
  // u = 0 and u = 1 are small-order points: every scalar maps them to zero.
  for (const u of ['00'.repeat(32), '01' + '00'.repeat(31)]) {
    assert.throws(
      () => x25519Shared(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'), hex(u)),
      (e: unknown) => e instanceof IndependentE2eError && e.code === 'weak_shared_secret',
      `low-order point ${u}`,
    );
  }
});

test('HKDF-SHA-256 matches RFC 5869 test case 1', () => {
  const okm = hkdfSha256(
    hex('0b'.repeat(22)),
    hex('000102030405060708090a0b0c'),
    hex('f0f1f2f3f4f5f6f7f8f9'),
    42,
  );
  assert.equal(
    toHex(okm),
    '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    'RFC 5869 A.1 (test case 1): OKM',
  );
});
