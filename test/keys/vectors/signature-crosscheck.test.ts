/**
 * Sign → verify cross-checks against independent implementations: for each
 * signature key type with a node:crypto counterpart (ML-DSA has none in
 * Node 20), a key made by keys.create signs through Keyhold's signMessage,
 * and the signature must verify with node:crypto from the exported public
 * key, and, for Ed25519 and ECDSA, with @noble/curves. Every option Keyhold
 * offers for the type is covered (hashes, DER/P1363, prehashed, PSS/PKCS#1).
 * The other direction too: a signature made by @noble/curves (Ed25519,
 * ECDSA) or node:crypto (RSA) under a key Keyhold imports as public-only
 * must verify through verifyMessage, and fail for another message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createHash, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { ed25519 as nobleEd25519 } from '@noble/curves/ed25519.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { KeyType } from '../../../src/keys/key-types.js';
import { signMessage, verifyMessage, type SignRequestOptions } from '../../../src/keys/operations/sign.js';
import { publicKey as exportPublicKey } from '../../../src/keys/operations/public-key.js';
import { decodeVersioned, encodeVersioned } from '../../../src/keys/ciphertext.js';
import type { ManagedKey } from '../../../src/keys/managed-key.js';
import type { HashName } from '../../../src/crypto/signature/signature-scheme.js';
import { keyNames, vaultKeys } from './wycheproof.js';

const MESSAGE = new TextEncoder().encode('{"sub":"alice","aud":"keyhold-vectors","exp":1732470000}');
const OTHER = new TextEncoder().encode('{"sub":"mallory","aud":"keyhold-vectors","exp":1732470000}');
const HASHES: readonly HashName[] = ['sha256', 'sha384', 'sha512'];

const digest = (hash: HashName, m: Uint8Array): Uint8Array => new Uint8Array(createHash(hash).update(m).digest());
const raw = (signature: string): Uint8Array => decodeVersioned(signature, 'KH_SIGNATURE_MALFORMED').bytes;

interface NobleEcdsa {
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, opts?: { prehash?: boolean; lowS?: boolean; format?: 'der' | 'compact' }): boolean;
  sign(message: Uint8Array, secretKey: Uint8Array, opts?: { prehash?: boolean; lowS?: boolean; format?: 'der' | 'compact' }): Uint8Array;
  keygen(): { secretKey: Uint8Array; publicKey: Uint8Array };
  getPublicKey(secretKey: Uint8Array, isCompressed?: boolean): Uint8Array;
}

type EcdsaType = Extract<KeyType, 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'ecdsa-secp256k1'>;
const ECDSA: Readonly<Record<EcdsaType, { curve: NobleEcdsa; crv: string; hash: HashName }>> = {
  'ecdsa-p256': { curve: p256, crv: 'P-256', hash: 'sha256' },
  'ecdsa-p384': { curve: p384, crv: 'P-384', hash: 'sha384' },
  'ecdsa-p521': { curve: p521, crv: 'P-521', hash: 'sha512' },
  'ecdsa-secp256k1': { curve: secp256k1, crv: 'secp256k1', hash: 'sha256' },
};
const RSA_TYPES = ['rsa-2048', 'rsa-3072', 'rsa-4096'] as const satisfies readonly KeyType[];

/** The node:crypto public key of a Keyhold key, from its exported PEM. */
function nodePublic(key: ManagedKey): KeyObject {
  const exported = exportPublicKey(key, undefined, 'pem').publicKey;
  assert.equal(typeof exported, 'string');
  return createPublicKey(exported as string);
}

/** Uncompressed EC point 04 || x || y from a node public key. */
function ecPoint(pub: KeyObject): Uint8Array {
  const jwk = pub.export({ format: 'jwk' });
  return new Uint8Array([4, ...Buffer.from(jwk.x!, 'base64url'), ...Buffer.from(jwk.y!, 'base64url')]);
}

/** SPKI DER of a raw EC point on `crv`, through node's JWK import. */
function ecSpki(crv: string, point: Uint8Array, coordBytes: number): Uint8Array {
  const x = Buffer.from(point.subarray(1, 1 + coordBytes)).toString('base64url');
  const y = Buffer.from(point.subarray(1 + coordBytes)).toString('base64url');
  return new Uint8Array(createPublicKey({ key: { kty: 'EC', crv, x, y }, format: 'jwk' }).export({ format: 'der', type: 'spki' }));
}

test('Ed25519: Keyhold signatures verify with node:crypto and @noble/curves; noble signatures verify in Keyhold', async (t) => {
  const keys = await vaultKeys(t);
  const key = await keys.create({ name: 'ed', type: 'ed25519' });
  const sig = raw(signMessage(key, MESSAGE, {}).signature);
  const pub = nodePublic(key);
  assert.equal(nodeVerify(null, MESSAGE, pub, sig), true, 'node:crypto');
  assert.equal(nodeVerify(null, OTHER, pub, sig), false, 'node:crypto, other message');
  const rawPub = new Uint8Array(Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url'));
  assert.equal(nobleEd25519.verify(sig, MESSAGE, rawPub), true, '@noble/curves');
  assert.equal(nobleEd25519.verify(sig, OTHER, rawPub), false, '@noble/curves, other message');

  const { secretKey, publicKey } = nobleEd25519.keygen();
  const spki = new Uint8Array([...Buffer.from('302a300506032b6570032100', 'hex'), ...publicKey]);
  const imported = await keys.importKey({ name: 'ed-noble', type: 'ed25519', publicKey: spki });
  const nobleSig = encodeVersioned(1, nobleEd25519.sign(MESSAGE, secretKey));
  assert.equal(verifyMessage(imported, MESSAGE, nobleSig, {}).valid, true, 'noble signature in Keyhold');
  assert.equal(verifyMessage(imported, OTHER, nobleSig, {}).valid, false, 'noble signature in Keyhold, other message');
});

for (const type of Object.keys(ECDSA) as EcdsaType[]) {
  test(`${type}: Keyhold signatures (every hash, DER and P1363, prehashed or not) verify with node:crypto and @noble/curves`, async (t) => {
    const { curve, crv, hash: defaultHash } = ECDSA[type];
    const keys = await vaultKeys(t);
    const name = keyNames('ec');
    const key = await keys.create({ name: name(), type });
    const pub = nodePublic(key);
    const point = ecPoint(pub);
    let checked = 0;
    for (const hash of [undefined, ...HASHES]) {
      const h = hash ?? defaultHash;
      for (const format of ['der', 'p1363'] as const) {
        for (const prehashed of [false, true]) {
          const what = `${type} hash ${hash ?? `default (${h})`} ${format}${prehashed ? ' prehashed' : ''}`;
          const options: SignRequestOptions = { signatureFormat: format, ...(hash !== undefined ? { hash } : {}), ...(prehashed ? { prehashed: true } : {}) };
          const sig = raw(signMessage(key, prehashed ? digest(h, MESSAGE) : MESSAGE, options).signature);
          const dsaEncoding = format === 'der' ? 'der' : 'ieee-p1363';
          // A prehashed signature over H(m) is an ordinary signature over m with H.
          assert.equal(nodeVerify(h, MESSAGE, { key: pub, dsaEncoding }, sig), true, `${what}: node:crypto`);
          assert.equal(nodeVerify(h, OTHER, { key: pub, dsaEncoding }, sig), false, `${what}: node:crypto, other message`);
          const nobleOpts = { prehash: false, lowS: false, format: format === 'der' ? 'der' : 'compact' } as const;
          assert.equal(curve.verify(sig, digest(h, MESSAGE), point, nobleOpts), true, `${what}: @noble/curves`);
          assert.equal(curve.verify(sig, digest(h, OTHER), point, nobleOpts), false, `${what}: @noble/curves, other message`);
          // And Keyhold's own verify agrees.
          assert.equal(verifyMessage(key, prehashed ? digest(h, MESSAGE) : MESSAGE, encodeVersioned(1, sig), options).valid, true, `${what}: verifyMessage`);
          checked++;
        }
      }
    }
    assert.equal(checked, 16);

    // The other direction: noble signs, Keyhold verifies with an imported public key.
    const { secretKey } = curve.keygen();
    const noblePoint = curve.getPublicKey(secretKey, false);
    const imported = await keys.importKey({ name: name(), type, publicKey: ecSpki(crv, noblePoint, (noblePoint.length - 1) / 2) });
    for (const format of ['der', 'p1363'] as const) {
      const nobleSig = encodeVersioned(1, curve.sign(digest(defaultHash, MESSAGE), secretKey, { prehash: false, format: format === 'der' ? 'der' : 'compact' }));
      assert.equal(verifyMessage(imported, MESSAGE, nobleSig, { signatureFormat: format }).valid, true, `${type} ${format}: noble signature in Keyhold`);
      assert.equal(verifyMessage(imported, digest(defaultHash, MESSAGE), nobleSig, { signatureFormat: format, prehashed: true }).valid, true, `${type} ${format}: noble signature in Keyhold, prehashed`);
      assert.equal(verifyMessage(imported, OTHER, nobleSig, { signatureFormat: format }).valid, false, `${type} ${format}: noble signature in Keyhold, other message`);
    }
  });
}

for (const type of RSA_TYPES) {
  test(`${type}: Keyhold PSS and PKCS#1 v1.5 signatures (every hash, prehashed PKCS#1) verify with node:crypto`, async (t) => {
    const keys = await vaultKeys(t);
    const key = await keys.create({ name: 'rsa', type });
    const pub = nodePublic(key);
    let checked = 0;
    for (const hash of [undefined, ...HASHES]) {
      const h = hash ?? 'sha256';
      const withHash = hash !== undefined ? { hash } : {};
      // PSS, salt length = digest length (checked explicitly, not with AUTO), MGF1 over the same hash.
      const pss = raw(signMessage(key, MESSAGE, { signatureAlgorithm: 'pss', ...withHash }).signature);
      const pssKey = { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: createHash(h).digest().length };
      assert.equal(nodeVerify(h, MESSAGE, pssKey, pss), true, `${type} ${h} PSS: node:crypto`);
      assert.equal(nodeVerify(h, OTHER, pssKey, pss), false, `${type} ${h} PSS: node:crypto, other message`);
      // The default (no signatureAlgorithm) is PSS too.
      const dflt = raw(signMessage(key, MESSAGE, withHash).signature);
      assert.equal(nodeVerify(h, MESSAGE, pssKey, dflt), true, `${type} ${h} default: node:crypto PSS`);
      const pkcsKey = { key: pub, padding: constants.RSA_PKCS1_PADDING };
      const pkcs = raw(signMessage(key, MESSAGE, { signatureAlgorithm: 'pkcs1v15', ...withHash }).signature);
      assert.equal(nodeVerify(h, MESSAGE, pkcsKey, pkcs), true, `${type} ${h} PKCS#1 v1.5: node:crypto`);
      assert.equal(nodeVerify(h, OTHER, pkcsKey, pkcs), false, `${type} ${h} PKCS#1 v1.5: node:crypto, other message`);
      // PKCS#1 v1.5 is deterministic: the prehashed path gives the very same bytes.
      const pre = raw(signMessage(key, digest(h, MESSAGE), { signatureAlgorithm: 'pkcs1v15', prehashed: true, ...withHash }).signature);
      assert.deepEqual(pre, pkcs, `${type} ${h} PKCS#1 v1.5 prehashed: same signature as over the message`);
      assert.equal(nodeVerify(h, MESSAGE, pkcsKey, pre), true, `${type} ${h} PKCS#1 v1.5 prehashed: node:crypto`);
      checked++;
    }
    assert.equal(checked, 4);

    // The other direction: node:crypto signs, Keyhold verifies with an imported public key
    // (not for 4096 bits: a second 4096-bit key generation costs seconds and adds no path).
    const bits = Number(type.slice(4));
    if (bits > 3072) return;
    const pair = generateKeyPairSync('rsa', { modulusLength: bits });
    const imported = await keys.importKey({ name: 'rsa-node', type, publicKey: new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' })) });
    const nodePss = encodeVersioned(1, nodeSign('sha256', MESSAGE, { key: pair.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }));
    const nodePkcs = encodeVersioned(1, nodeSign('sha256', MESSAGE, { key: pair.privateKey, padding: constants.RSA_PKCS1_PADDING }));
    assert.equal(verifyMessage(imported, MESSAGE, nodePss, { signatureAlgorithm: 'pss' }).valid, true, `${type}: node PSS signature in Keyhold`);
    assert.equal(verifyMessage(imported, OTHER, nodePss, { signatureAlgorithm: 'pss' }).valid, false, `${type}: node PSS signature in Keyhold, other message`);
    assert.equal(verifyMessage(imported, MESSAGE, nodePkcs, { signatureAlgorithm: 'pkcs1v15' }).valid, true, `${type}: node PKCS#1 signature in Keyhold`);
    assert.equal(verifyMessage(imported, digest('sha256', MESSAGE), nodePkcs, { signatureAlgorithm: 'pkcs1v15', prehashed: true }).valid, true, `${type}: node PKCS#1 signature in Keyhold, prehashed`);
    assert.equal(verifyMessage(imported, MESSAGE, nodePkcs, { signatureAlgorithm: 'pss' }).valid, false, `${type}: a PKCS#1 signature is not a PSS one`);
  });
}
