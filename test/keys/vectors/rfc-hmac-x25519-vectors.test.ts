/**
 * RFC known answers shipped by Debian's python3-cryptography-vectors,
 * through Keyhold's own code:
 * - HMAC: RFC 4231 (SHA-256/384/512) on imported hmac-sha{256,384,512} keys
 *   and RFC 2202 (SHA-1) on an imported hmac-any key with legacy: true
 *   (keys/operations/hmac.ts computeHmac / verifyHmac; keys under 16 bytes
 *   need legacy: true, as import requires). The tag must equal MD, verify,
 *   and with one bit changed must not. RFC 4231 SHA-256 also through
 *   crypto/hmac.ts, the barrier's HMAC.
 * - X25519: RFC 7748 §5.2 through an imported x25519 key's derive operation
 *   (keys/operations/agreement.ts) and the primitive crypto/agreement/x25519.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KeyType } from '../../../src/keys/key-types.js';
import { computeHmac, verifyHmac } from '../../../src/keys/operations/hmac.js';
import { deriveSharedSecret } from '../../../src/keys/operations/agreement.js';
import { decodeVersioned, encodeVersioned } from '../../../src/keys/ciphertext.js';
import type { HashName } from '../../../src/crypto/signature/signature-scheme.js';
import { hmacSha256 } from '../../../src/crypto/hmac.js';
import { x25519Peer, x25519Private, x25519Shared } from '../../../src/crypto/agreement/x25519.js';
import { packagedVectors } from '../../helpers/vectors.js';
import { VectorTally, attempt, bytesEqual, describeError, keyNames, toHex, vaultKeys } from './wycheproof.js';
import { cavpHex, field, loadCavp } from './cavp.js';

interface HmacPlan {
  readonly file: string;
  readonly rfc: string;
  readonly type: KeyType;
  readonly hash: HashName;
  /** Vectors in the file (the RFC's truncated-output case is not in these files). */
  readonly count: number;
}

const HMAC_PLANS: readonly HmacPlan[] = [
  { file: 'rfc-4231-sha256.txt', rfc: 'RFC 4231', type: 'hmac-sha256', hash: 'sha256', count: 6 },
  { file: 'rfc-4231-sha384.txt', rfc: 'RFC 4231', type: 'hmac-sha384', hash: 'sha384', count: 6 },
  { file: 'rfc-4231-sha512.txt', rfc: 'RFC 4231', type: 'hmac-sha512', hash: 'sha512', count: 6 },
  { file: 'rfc-2202-sha1.txt', rfc: 'RFC 2202', type: 'hmac-any', hash: 'sha1', count: 7 },
];

for (const plan of HMAC_PLANS) {
  const vectors = packagedVectors(`HMAC/${plan.file}`);
  test(`${plan.rfc} HMAC-${plan.hash.toUpperCase()} (${plan.file}) through Keyhold's computeHmac / verifyHmac on imported ${plan.type} keys`, { skip: vectors.skip }, async (t) => {
    const keys = await vaultKeys(t);
    const name = keyNames('hmac');
    const tally = new VectorTally(plan.file, 'vector #');
    // hmac-any keys MAC with the hash each request names; the others with their type's own.
    const options = plan.type === 'hmac-any' ? { hash: plan.hash } : {};
    let ordinal = 0;
    let shortKeys = 0;
    for (const b of loadCavp(vectors)) {
      if (b.fields.MD === undefined) continue;
      ordinal++;
      const where = `line ${b.line}`;
      const secret = cavpHex(field(b, 'Key', plan.file));
      const msg = cavpHex(field(b, 'Msg', plan.file));
      const md = cavpHex(field(b, 'MD', plan.file));
      const legacy = plan.hash === 'sha1' || secret.length < 16;
      if (secret.length < 16) shortKeys++;
      const key = await keys.importKey({ name: name(), type: plan.type, secret, ...(legacy ? { legacy: true } : {}) });
      const computed = attempt(() => decodeVersioned(computeHmac(key, msg, undefined, options).hmac, 'KH_SIGNATURE_MALFORMED').bytes);
      tally.check(computed.ok && bytesEqual(computed.value, md), ordinal, () => `${where}: computeHmac gave ${computed.ok ? toHex(computed.value) : describeError(computed.error)}, expected ${toHex(md)}`);
      const verified = attempt(() => verifyHmac(key, msg, encodeVersioned(1, md), options).valid);
      tally.check(verified.ok && verified.value, ordinal, () => `${where}: verifyHmac of MD: ${verified.ok ? `valid=${verified.value}` : describeError(verified.error)}`);
      const wrong = md.slice();
      wrong[wrong.length - 1]! ^= 1;
      const refused = attempt(() => verifyHmac(key, msg, encodeVersioned(1, wrong), options).valid);
      tally.check(refused.ok && !refused.value, ordinal, () => `${where}: verifyHmac of MD with one bit changed: ${refused.ok ? `valid=${refused.value}` : describeError(refused.error)}`);
      if (plan.hash === 'sha256') tally.check(bytesEqual(hmacSha256(secret, msg), md), ordinal, () => `${where}: crypto/hmac.ts hmacSha256 differs from MD`);
      tally.ran();
    }
    tally.finish(t, { run: plan.count, skipped: {} });
    // The short-key ("Jefe") case exercises the legacy import path.
    assert.ok(shortKeys >= 1, `${plan.file}: no key under 16 bytes`);
  });
}

const X25519_FILE = 'asymmetric/X25519/rfc7748.txt';

test(`RFC 7748 §5.2 X25519 (${X25519_FILE}) through an imported x25519 key's derive and crypto/agreement/x25519`, { skip: packagedVectors(X25519_FILE).skip }, async (t) => {
  const keys = await vaultKeys(t);
  const name = keyNames('x');
  const tally = new VectorTally('rfc7748.txt', 'vector #');
  let ordinal = 0;
  for (const b of loadCavp(packagedVectors(X25519_FILE))) {
    if (b.fields.OUTPUT_U === undefined) continue;
    ordinal++;
    const where = `COUNT ${b.fields.COUNT} (line ${b.line})`;
    const scalar = cavpHex(field(b, 'INPUT_SCALAR', X25519_FILE));
    const u = cavpHex(field(b, 'INPUT_U', X25519_FILE));
    const expected = cavpHex(field(b, 'OUTPUT_U', X25519_FILE));
    const key = await keys.importKey({ name: name(), type: 'x25519', secret: scalar });
    const derived = attempt(() => deriveSharedSecret(key, { peerPublicKey: u, output: 'shared-secret' }).secret);
    tally.check(derived.ok && bytesEqual(derived.value, expected), ordinal, () => `${where}: deriveSharedSecret gave ${derived.ok ? toHex(derived.value) : describeError(derived.error)}, expected ${toHex(expected)}`);
    const primitive = attempt(() => x25519Shared(x25519Private(scalar), x25519Peer(u)));
    tally.check(primitive.ok && bytesEqual(primitive.value, expected), ordinal, () => `${where}: x25519Shared gave ${primitive.ok ? toHex(primitive.value) : describeError(primitive.error)}`);
    tally.ran();
  }
  tally.finish(t, { run: 3, skipped: {} });
});
