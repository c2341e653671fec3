/**
 * ECDSA (FIPS 186-5) on P-256, P-384, P-521 and secp256k1. Signing and
 * verifying messages goes through node:crypto (OpenSSL); prehashed input
 * (the caller hashed already) goes through @noble/curves, because node's
 * sign() always hashes. Secret form: the private scalar, derived from
 * Keyhold's entropy source with noble's FIPS 186-5 A.2.1 reduction.
 * Public form: SPKI DER.
 */
import { createPrivateKey, sign, verify, type KeyObject } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { entropy } from '../random.js';
import { toBase64Url } from '../bytes.js';
import { KeyholdError } from '../../errors.js';
import { loadPkcs8OfType, loadSpki, loadSpkiOfType, spkiOf } from './ed25519.js';
import { DIGEST_BYTES, type SignatureScheme } from './signature-scheme.js';

type NobleCurve = typeof p256;

export interface EcPrivate {
  readonly key: KeyObject;
  readonly scalar: Uint8Array;
}

export interface EcPublic {
  readonly key: KeyObject;
  readonly point: Uint8Array;
}

function ecdsa(name: string, curve: NobleCurve, jwkCurve: string): SignatureScheme<EcPrivate, EcPublic> {
  const coordBytes = curve.lengths.publicKeyUncompressed! >> 1;
  const loadPrivate = (scalar: Uint8Array): EcPrivate => {
    const point = curve.getPublicKey(scalar, false);
    const x = point.subarray(1, 1 + coordBytes);
    const y = point.subarray(1 + coordBytes);
    const key = createPrivateKey({ key: { kty: 'EC', crv: jwkCurve, d: toBase64Url(scalar), x: toBase64Url(x), y: toBase64Url(y) }, format: 'jwk' });
    return { key, scalar };
  };
  return {
    name,
    supports: { hash: true, prehashed: true, rsaPadding: false, ecdsaFormat: true },
    generate() {
      const secret = curve.utils.randomSecretKey(entropy(curve.lengths.seed!));
      return { secret, publicKey: spkiOf(loadPrivate(secret).key) };
    },
    importSecret(bytes) {
      let scalar = bytes.slice();
      if (bytes.length !== curve.lengths.secretKey) {
        const jwk = loadPkcs8OfType(bytes, 'ec').export({ format: 'jwk' });
        if (jwk.crv !== jwkCurve || jwk.d === undefined) throw new KeyholdError('KH_INPUT_INVALID', `the private key is not on ${jwkCurve}`);
        scalar = new Uint8Array(Buffer.from(jwk.d, 'base64url'));
      }
      return { secret: scalar, publicKey: spkiOf(loadPrivate(scalar).key) };
    },
    importPublic(bytes) {
      const jwk = loadSpkiOfType(bytes, 'ec').export({ format: 'jwk' });
      if (jwk.crv !== jwkCurve) throw new KeyholdError('KH_INPUT_INVALID', `the public key is not on ${jwkCurve}`);
      return bytes.slice();
    },
    loadPrivate,
    loadPublic(spki) {
      const key = loadSpki(spki);
      const jwk = key.export({ format: 'jwk' });
      const point = new Uint8Array([4, ...Buffer.from(jwk.x!, 'base64url'), ...Buffer.from(jwk.y!, 'base64url')]);
      return { key, point };
    },
    sign(priv, message, o) {
      if (!o.prehashed) return new Uint8Array(sign(o.hash, message, { key: priv.key, dsaEncoding: o.ecdsaFormat === 'der' ? 'der' : 'ieee-p1363' }));
      if (message.length !== DIGEST_BYTES[o.hash]) throw new RangeError('prehashed input has the wrong length for the hash');
      return curve.sign(message, priv.scalar, { prehash: false, lowS: false, format: o.ecdsaFormat === 'der' ? 'der' : 'compact' });
    },
    verify(pub, message, signature, o) {
      try {
        if (!o.prehashed) return verify(o.hash, message, { key: pub.key, dsaEncoding: o.ecdsaFormat === 'der' ? 'der' : 'ieee-p1363' }, signature);
        return curve.verify(signature, message, pub.point, { prehash: false, lowS: false, format: o.ecdsaFormat === 'der' ? 'der' : 'compact' });
      } catch {
        return false;
      }
    },
  };
}

export const ecdsaP256 = ecdsa('ECDSA P-256', p256, 'P-256');
export const ecdsaP384 = ecdsa('ECDSA P-384', p384, 'P-384');
export const ecdsaP521 = ecdsa('ECDSA P-521', p521 as unknown as NobleCurve, 'P-521');
export const ecdsaSecp256k1 = ecdsa('ECDSA secp256k1', secp256k1 as unknown as NobleCurve, 'secp256k1');
