/**
 * NIST CAVP AES-GCM vectors (SP 800-38D test vectors, gcmEncryptExtIV and
 * gcmDecrypt for 128-, 192- and 256-bit keys, from Debian's
 * python3-cryptography-vectors) through Keyhold's own code:
 * - keys/operations/encrypt.ts decrypt() on an imported aes{128,192,256}-gcm
 *   key, ciphertext keyhold:v1:base64(IV || CT || Tag), AAD as associated
 *   data: the published PT, or KH_DECRYPT_FAILED for a FAIL vector;
 * - the key type's AEAD algorithm (what encrypt() runs, with the vector's IV
 *   instead of a random one) gives CT || Tag, and encrypt() → decrypt()
 *   round-trips the PT;
 * - 256-bit keys also through crypto/aes-gcm.ts, the primitive the barrier
 *   and the seals use for Keyhold's own records (nonce || CT || tag).
 * Not applicable (counted): IVs other than 96 bits (Keyhold's nonce) and tags
 * other than 128 bits (Keyhold's only tag length).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { KEY_TYPES } from '../../../src/keys/key-types.js';
import { decrypt, encrypt } from '../../../src/keys/operations/encrypt.js';
import { encodeVersioned } from '../../../src/keys/ciphertext.js';
import type { ManagedKey } from '../../../src/keys/managed-key.js';
import { aesGcmDecrypt } from '../../../src/crypto/aes-gcm.js';
import { concatBytes } from '../../../src/crypto/bytes.js';
import { packagedVectors } from '../../helpers/vectors.js';
import { VectorTally, attempt, bytesEqual, describeError, isKeyholdCode, keyNames, toHex, vaultKeys, type ExpectedCounts } from './wycheproof.js';
import { cavpHex, field, loadCavp } from './cavp.js';

const TYPES = { 128: 'aes128-gcm', 192: 'aes192-gcm', 256: 'aes256-gcm' } as const;
type Bits = keyof typeof TYPES;

/** Per file: 375 vectors with a 96-bit IV and a 128-bit tag run; the rest is counted by reason. */
const NOT_APPLICABLE: ExpectedCounts['skipped'] = {
  '8-bit IV (not the 96-bit nonce)': 2625,
  '1024-bit IV (not the 96-bit nonce)': 2625,
  '96-bit IV, 120-bit tag (tags are 128 bits)': 375,
  '96-bit IV, 112-bit tag (tags are 128 bits)': 375,
  '96-bit IV, 104-bit tag (tags are 128 bits)': 375,
  '96-bit IV, 96-bit tag (tags are 128 bits)': 375,
  '96-bit IV, 64-bit tag (tags are 128 bits)': 375,
  '96-bit IV, 32-bit tag (tags are 128 bits)': 375,
};

interface Plan {
  readonly file: string;
  readonly bits: Bits;
  /** FAIL vectors among those run (decrypt files; encrypt files hold none). */
  readonly failures: number;
}

const PLANS: readonly Plan[] = [
  { file: 'gcmEncryptExtIV128.rsp', bits: 128, failures: 0 },
  { file: 'gcmDecrypt128.rsp', bits: 128, failures: 196 },
  { file: 'gcmEncryptExtIV192.rsp', bits: 192, failures: 0 },
  { file: 'gcmDecrypt192.rsp', bits: 192, failures: 190 },
  { file: 'gcmEncryptExtIV256.rsp', bits: 256, failures: 0 },
  { file: 'gcmDecrypt256.rsp', bits: 256, failures: 191 },
];

async function runFile(t: TestContext, plan: Plan): Promise<void> {
  const vectors = packagedVectors(`ciphers/AES/GCM/${plan.file}`);
  const blocks = loadCavp(vectors);
  const keys = await vaultKeys(t);
  const name = keyNames('gcm');
  const type = TYPES[plan.bits];
  const alg = KEY_TYPES[type].aead;
  const cache = new Map<string, ManagedKey>();
  const tally = new VectorTally(plan.file, 'vector #');
  let ordinal = 0;
  let fails = 0;
  for (const b of blocks) {
    if (b.fields.Count === undefined) continue;
    ordinal++;
    const where = `[Keylen ${b.section.Keylen} IVlen ${b.section.IVlen} PTlen ${b.section.PTlen} AADlen ${b.section.AADlen} Taglen ${b.section.Taglen}] Count ${b.fields.Count} (line ${b.line})`;
    if (b.section.Keylen !== String(plan.bits)) {
      tally.fail(ordinal, `${where}: not a ${plan.bits}-bit key`);
      continue;
    }
    if (b.section.IVlen !== '96') {
      tally.skip(`${b.section.IVlen}-bit IV (not the 96-bit nonce)`);
      continue;
    }
    if (b.section.Taglen !== '128') {
      tally.skip(`96-bit IV, ${b.section.Taglen}-bit tag (tags are 128 bits)`);
      continue;
    }
    const secret = cavpHex(field(b, 'Key', plan.file));
    const iv = cavpHex(field(b, 'IV', plan.file));
    const ct = cavpHex(field(b, 'CT', plan.file));
    const aad = cavpHex(field(b, 'AAD', plan.file));
    const tag = cavpHex(field(b, 'Tag', plan.file));
    const fail = b.flags.includes('FAIL');
    const pt = fail ? undefined : cavpHex(field(b, 'PT', plan.file));
    if (fail) fails++;
    let key = cache.get(toHex(secret));
    if (key === undefined) {
      key = await keys.importKey({ name: name(), type, secret });
      cache.set(toHex(secret), key);
    }
    const k = key;
    const sealed = concatBytes(ct, tag);
    const opened = attempt(() => decrypt(k, { ciphertext: encodeVersioned(1, concatBytes(iv, sealed)), associatedData: aad }).plaintext);
    if (pt === undefined) {
      tally.check(!opened.ok && isKeyholdCode(opened.error, 'KH_DECRYPT_FAILED'), ordinal, () => `${where}: a FAIL vector: decrypt() ${opened.ok ? `returned ${toHex(opened.value)}` : `threw ${describeError(opened.error)}`}, expected KH_DECRYPT_FAILED`);
    } else {
      tally.check(opened.ok && bytesEqual(opened.value, pt), ordinal, () => `${where}: decrypt() ${opened.ok ? `gave ${toHex(opened.value)}` : `threw ${describeError(opened.error)}`}, expected PT ${toHex(pt)}`);
      const out = attempt(() => alg.seal(secret, iv, pt, aad));
      tally.check(out.ok && bytesEqual(out.value, sealed), ordinal, () => `${where}: ${type} seal() gave ${out.ok ? toHex(out.value) : describeError(out.error)}, expected CT||Tag ${toHex(sealed)}`);
      const round = attempt(() => decrypt(k, { ciphertext: encrypt(k, { plaintext: pt, associatedData: aad }).ciphertext, associatedData: aad }).plaintext);
      tally.check(round.ok && bytesEqual(round.value, pt), ordinal, () => `${where}: encrypt()→decrypt() round trip: ${round.ok ? toHex(round.value) : describeError(round.error)}`);
    }
    if (plan.bits === 256) {
      const barrier = attempt(() => aesGcmDecrypt(secret, concatBytes(iv, sealed), aad));
      const got = barrier.ok ? (barrier.value === undefined ? 'undefined (refused)' : toHex(barrier.value)) : describeError(barrier.error);
      const right = barrier.ok && (pt === undefined ? barrier.value === undefined : barrier.value !== undefined && bytesEqual(barrier.value, pt));
      tally.check(right, ordinal, () => `${where}: crypto/aes-gcm.ts aesGcmDecrypt gave ${got}, expected ${pt === undefined ? 'a refusal' : toHex(pt)}`);
    }
    tally.ran();
  }
  t.diagnostic(`${plan.file}: ${fails} FAIL vectors among those run, ${cache.size} keys imported`);
  tally.finish(t, { run: 375, skipped: NOT_APPLICABLE });
  // Both outcomes must be exercised in a decrypt file, or one branch above checked nothing.
  assert.equal(fails, plan.failures, `${plan.file}: FAIL vectors among those run`);
}

for (const plan of PLANS) {
  test(`NIST CAVP ${plan.file} (AES-${plan.bits}-GCM, 96-bit IV, 128-bit tag) through Keyhold's decrypt/encrypt on imported ${TYPES[plan.bits]} keys`, { skip: packagedVectors(`ciphers/AES/GCM/${plan.file}`).skip }, (t) => runFile(t, plan));
}
