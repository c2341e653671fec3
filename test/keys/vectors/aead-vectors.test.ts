/**
 * Wycheproof AEAD vectors (AES-GCM, AES-GCM-SIV, ChaCha20-Poly1305,
 * XChaCha20-Poly1305) and the XChaCha draft's A.3.1 example, through
 * Keyhold's own code:
 * - decrypt direction: keys/operations/encrypt.ts decrypt() on an imported
 *   key, ciphertext keyhold:v1:base64(iv || ct || tag), the vector's aad as
 *   associated data: valid → msg; invalid → KeyholdError KH_DECRYPT_FAILED.
 * - encrypt direction (valid vectors): the key type's AEAD algorithm
 *   (KEY_TYPES[type].aead.seal, as encrypt() uses with a random nonce) with
 *   the vector's iv gives ct || tag; and encrypt() → decrypt() round-trips.
 * 16-byte-key AES-GCM-SIV vectors have no key type (only aes256-gcm-siv) and
 * run through the aesGcmSiv algorithm object directly.
 * Not applicable (counted): IV sizes other than the type's nonce size, tags
 * other than 128 bits (AES-GCM runs with 128-, 192- and 256-bit keys).
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { KEY_TYPES, type KeyType } from '../../../src/keys/key-types.js';
import { decrypt, encrypt } from '../../../src/keys/operations/encrypt.js';
import { encodeVersioned } from '../../../src/keys/ciphertext.js';
import type { ManagedKey } from '../../../src/keys/managed-key.js';
import type { KeyManager } from '../../../src/keys/key-manager.js';
import { aesGcmSiv } from '../../../src/crypto/aead/noble-aead.js';
import type { AeadAlgorithm } from '../../../src/crypto/aead/aead.js';
import { concatBytes } from '../../../src/crypto/bytes.js';
import { XCHACHA_DRAFT_A3 } from '../../helpers/vectors.js';
import {
  VectorTally,
  attempt,
  bytesEqual,
  describeError,
  hex,
  isKeyholdCode,
  keyNames,
  loadWycheproof,
  readVectorJson,
  wycheproof,
  toHex,
  vaultKeys,
  type AeadGroup,
  type ExpectedCounts,
  type WycheproofResult,
} from './wycheproof.js';

type AeadKeyType = { [K in KeyType]: (typeof KEY_TYPES)[K]['kind'] extends 'aead' ? K : never }[KeyType];

/** Where a group's vectors go: an AEAD key type, the bare algorithm, or nowhere (why). */
type Route = { readonly type: AeadKeyType } | { readonly algorithm: AeadAlgorithm; readonly via: string } | { readonly skip: string };

interface AeadVector {
  readonly tcId: number;
  readonly result: WycheproofResult;
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
  readonly aad: Uint8Array;
  readonly msg: Uint8Array;
  readonly ct: Uint8Array;
  readonly tag: Uint8Array;
}

/** Imported AEAD keys, one per distinct (type, key bytes). */
function keyCache(keys: KeyManager) {
  const cache = new Map<string, ManagedKey>();
  const name = keyNames('aead');
  return async (type: AeadKeyType, secret: Uint8Array): Promise<ManagedKey> => {
    const id = `${type}:${toHex(secret)}`;
    let key = cache.get(id);
    if (key === undefined) {
      key = await keys.importKey({ name: name(), type, secret });
      cache.set(id, key);
    }
    return key;
  };
}

/** Standard routing: 128-bit tags, the type's nonce size, a key type for the key size. */
function routeBy(byKeyBits: Readonly<Record<number, AeadKeyType | { algorithm: AeadAlgorithm; via: string }>>) {
  return (g: AeadGroup): Route => {
    const target = byKeyBits[g.keySize];
    if (target === undefined) return { skip: `${g.keySize}-bit key (no key type)` };
    if (g.tagSize !== 128) return { skip: `${g.tagSize}-bit tag` };
    const alg = typeof target === 'string' ? KEY_TYPES[target].aead : target.algorithm;
    if (g.ivSize !== alg.nonceBytes * 8) return { skip: `${g.ivSize}-bit IV (not the ${alg.nonceBytes * 8}-bit nonce)` };
    return typeof target === 'string' ? { type: target } : target;
  };
}

const msg = (v: AeadVector) => `plaintext ${toHex(v.msg)}`;

async function checkVector(tally: VectorTally, route: Exclude<Route, { skip: string }>, keyFor: ReturnType<typeof keyCache>, v: AeadVector): Promise<void> {
  const sealed = concatBytes(v.ct, v.tag);
  const shouldOpen = v.result === 'valid';
  const mayOpen = v.result !== 'invalid';
  if ('type' in route) {
    const alg = KEY_TYPES[route.type].aead;
    const key = await keyFor(route.type, v.key);
    // Decrypt through the operation, as a caller's ciphertext would arrive.
    const opened = attempt(() => decrypt(key, { ciphertext: encodeVersioned(1, concatBytes(v.iv, sealed)), associatedData: v.aad }));
    if (opened.ok) {
      tally.check(mayOpen, v.tcId, () => `expected ${v.result}: decrypt() returned a plaintext (${toHex(opened.value.plaintext)})`);
      if (mayOpen) tally.check(bytesEqual(opened.value.plaintext, v.msg), v.tcId, () => `decrypt() gave ${toHex(opened.value.plaintext)}, expected ${toHex(v.msg)}`);
    } else {
      const refusedRight = isKeyholdCode(opened.error, 'KH_DECRYPT_FAILED');
      tally.check(!shouldOpen && refusedRight, v.tcId, () => `expected ${v.result === 'valid' ? msg(v) : 'KH_DECRYPT_FAILED'}, decrypt() threw ${describeError(opened.error)}`);
    }
    if (shouldOpen) {
      // Encrypt direction with the vector's nonce, through the type's algorithm.
      const out = attempt(() => alg.seal(v.key, v.iv, v.msg, v.aad));
      tally.check(out.ok && bytesEqual(out.value, sealed), v.tcId, () => `seal() gave ${out.ok ? toHex(out.value) : describeError(out.error)}, expected ct||tag ${toHex(sealed)}`);
      // And the random-nonce API round-trips the same inputs.
      const round = attempt(() => decrypt(key, { ciphertext: encrypt(key, { plaintext: v.msg, associatedData: v.aad }).ciphertext, associatedData: v.aad }).plaintext);
      tally.check(round.ok && bytesEqual(round.value, v.msg), v.tcId, () => `encrypt()→decrypt() round trip: ${round.ok ? toHex(round.value) : describeError(round.error)}`);
    }
  } else {
    const alg = route.algorithm;
    const opened = attempt(() => alg.open(v.key, v.iv, sealed, v.aad));
    if (!opened.ok) tally.fail(v.tcId, `${route.via}.open() threw ${describeError(opened.error)}`);
    else if (opened.value === undefined) tally.check(!shouldOpen, v.tcId, () => `expected ${msg(v)}, ${route.via}.open() refused`);
    else {
      const pt = opened.value;
      tally.check(mayOpen && bytesEqual(pt, v.msg), v.tcId, () => `expected ${mayOpen ? msg(v) : 'a refusal'}, ${route.via}.open() gave ${toHex(pt)}`);
    }
    if (shouldOpen) {
      const out = attempt(() => alg.seal(v.key, v.iv, v.msg, v.aad));
      tally.check(out.ok && bytesEqual(out.value, sealed), v.tcId, () => `${route.via}.seal() gave ${out.ok ? toHex(out.value) : describeError(out.error)}, expected ${toHex(sealed)}`);
    }
  }
  tally.ran();
}

interface AeadFilePlan {
  readonly file: string;
  readonly route: (g: AeadGroup) => Route;
  readonly expected: ExpectedCounts;
  readonly known?: ReadonlyMap<number, string>;
}

const PLANS: readonly AeadFilePlan[] = [
  {
    file: 'aes_gcm_test.json',
    route: routeBy({ 128: 'aes128-gcm', 192: 'aes192-gcm', 256: 'aes256-gcm' }),
    expected: {
      run: 197,
      skipped: {
        '64-bit IV (not the 96-bit nonce)': 7,
        '128-bit IV (not the 96-bit nonce)': 58,
        '120-bit IV (not the 96-bit nonce)': 3,
        '160-bit IV (not the 96-bit nonce)': 3,
        '256-bit IV (not the 96-bit nonce)': 3,
        '512-bit IV (not the 96-bit nonce)': 3,
        '1024-bit IV (not the 96-bit nonce)': 3,
        '2056-bit IV (not the 96-bit nonce)': 3,
        '8-bit IV (not the 96-bit nonce)': 6,
        '16-bit IV (not the 96-bit nonce)': 6,
        '32-bit IV (not the 96-bit nonce)': 6,
        '48-bit IV (not the 96-bit nonce)': 6,
        '80-bit IV (not the 96-bit nonce)': 6,
        '0-bit IV (not the 96-bit nonce)': 6,
      },
    },
  },
  {
    file: 'aes_gcm_siv_test.json',
    route: routeBy({ 128: { algorithm: aesGcmSiv, via: 'aesGcmSiv' }, 256: 'aes256-gcm-siv' }),
    expected: { run: 202, skipped: {} },
  },
  {
    file: 'chacha20_poly1305_test.json',
    route: routeBy({ 256: 'chacha20-poly1305' }),
    expected: {
      run: 316,
      skipped: {
        '0-bit IV (not the 96-bit nonce)': 1,
        '64-bit IV (not the 96-bit nonce)': 1,
        '88-bit IV (not the 96-bit nonce)': 1,
        '104-bit IV (not the 96-bit nonce)': 1,
        '112-bit IV (not the 96-bit nonce)': 1,
        '128-bit IV (not the 96-bit nonce)': 1,
        '192-bit IV (not the 96-bit nonce)': 1,
        '160-bit IV (not the 96-bit nonce)': 1,
        '256-bit IV (not the 96-bit nonce)': 1,
      },
    },
  },
  {
    file: 'xchacha20_poly1305_test.json',
    route: routeBy({ 256: 'xchacha20-poly1305' }),
    expected: {
      run: 306,
      skipped: {
        '0-bit IV (not the 192-bit nonce)': 1,
        '64-bit IV (not the 192-bit nonce)': 1,
        '88-bit IV (not the 192-bit nonce)': 1,
        '96-bit IV (not the 192-bit nonce)': 1,
        '104-bit IV (not the 192-bit nonce)': 1,
        '112-bit IV (not the 192-bit nonce)': 1,
        '128-bit IV (not the 192-bit nonce)': 1,
        '160-bit IV (not the 192-bit nonce)': 1,
        '256-bit IV (not the 192-bit nonce)': 1,
      },
    },
  },
];

async function runFile(t: TestContext, plan: AeadFilePlan): Promise<void> {
  const data = loadWycheproof<AeadGroup>(plan.file);
  const keyFor = keyCache(await vaultKeys(t));
  const tally = new VectorTally(plan.file);
  for (const g of data.testGroups) {
    const route = plan.route(g);
    if ('skip' in route) {
      tally.skip(route.skip, g.tests.length);
      continue;
    }
    for (const tc of g.tests) {
      const v: AeadVector = { tcId: tc.tcId, result: tc.result, key: hex(tc.key), iv: hex(tc.iv), aad: hex(tc.aad), msg: hex(tc.msg), ct: hex(tc.ct), tag: hex(tc.tag) };
      await checkVector(tally, route, keyFor, v);
    }
  }
  tally.finish(t, plan.expected, plan.known);
}

for (const plan of PLANS) {
  test(`Wycheproof ${plan.file} through Keyhold's AEAD decrypt/encrypt`, { skip: wycheproof(plan.file).skip }, (t) => runFile(t, plan));
}

test('XChaCha20-Poly1305 draft-irtf-cfrg-xchacha-03 A.3.1 through an xchacha20-poly1305 key', { skip: XCHACHA_DRAFT_A3.skip }, async (t) => {
  const file = 'xchacha/xchacha_draft_a3.json';
  const raw = readVectorJson(XCHACHA_DRAFT_A3) as Record<string, string>;
  const field = (k: string): Uint8Array => hex(raw[k] ?? '');
  const keyFor = keyCache(await vaultKeys(t));
  const tally = new VectorTally(file);
  const v: AeadVector = { tcId: 1, result: 'valid', key: field('key'), iv: field('nonce'), aad: field('aad'), msg: field('plaintext'), ct: field('ciphertext'), tag: field('tag') };
  await checkVector(tally, { type: 'xchacha20-poly1305' }, keyFor, v);
  // The same with one bit of the tag flipped must be refused.
  const badTag = v.tag.slice();
  badTag[0] = badTag[0]! ^ 1;
  await checkVector(tally, { type: 'xchacha20-poly1305' }, keyFor, { ...v, tcId: 2, result: 'invalid', tag: badTag });
  tally.finish(t, { run: 2, skipped: {} });
});
