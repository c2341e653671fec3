/**
 * Public keys read off a PKCS#11 token, re-encoded as SubjectPublicKeyInfo
 * DER (RFC 5280 §4.1.2.7) through node:crypto's JWK import (RFC 7518 §6.2,
 * §6.3), so node verifies and encrypts with exactly what the HSM holds.
 *
 * - RSA: CKA_MODULUS and CKA_PUBLIC_EXPONENT are big-endian integers
 *   (PKCS#11 v2.40 current mechanisms §2.1.2).
 * - EC: CKA_EC_PARAMS is the DER of the curve's OID (ANSI X9.62
 *   ECParameters, namedCurve choice) and CKA_EC_POINT is the DER OCTET
 *   STRING wrapping the uncompressed point 04||X||Y (§2.3.3). Some modules
 *   return the bare point instead, so both are accepted.
 */
import { createPublicKey } from 'node:crypto';
import { KeyholdError } from '../../errors.js';

export type EcCurve = 'P-256' | 'P-384';

interface CurveInfo {
  readonly curve: EcCurve;
  /** DER of the named curve's OBJECT IDENTIFIER, as CKA_EC_PARAMS holds it. */
  readonly paramsHex: string;
  /** Bytes per coordinate (and per half of an r||s signature). */
  readonly size: number;
}

export const CURVES: Record<EcCurve, CurveInfo> = {
  // 1.2.840.10045.3.1.7 (prime256v1 / secp256r1)
  'P-256': { curve: 'P-256', paramsHex: '06082a8648ce3d030107', size: 32 },
  // 1.3.132.0.34 (secp384r1)
  'P-384': { curve: 'P-384', paramsHex: '06052b81040022', size: 48 },
};

/** The curve named by a CKA_EC_PARAMS value. */
export function curveFromParams(params: Uint8Array): CurveInfo {
  const hex = Buffer.from(params).toString('hex');
  const info = Object.values(CURVES).find((c) => c.paramsHex === hex);
  if (!info) throw new KeyholdError('KH_HSM_OPERATION_FAILED', 'The HSM key is on an unsupported curve (only P-256 and P-384).');
  return info;
}

/** The uncompressed point 04||X||Y out of a CKA_EC_POINT value (DER-wrapped or bare). */
export function uncompressedPoint(ecPoint: Uint8Array, size: number): Uint8Array {
  const raw = 1 + 2 * size;
  if (ecPoint.length === raw && ecPoint[0] === 0x04) return ecPoint;
  // OCTET STRING: tag 04, then a short-form length (< 128) or 0x81 nn.
  let offset = -1;
  if (ecPoint[0] === 0x04 && ecPoint[1] === raw) offset = 2;
  else if (ecPoint[0] === 0x04 && ecPoint[1] === 0x81 && ecPoint[2] === raw) offset = 3;
  if (offset < 0 || ecPoint.length !== offset + raw || ecPoint[offset] !== 0x04) {
    throw new KeyholdError('KH_HSM_OPERATION_FAILED', 'The HSM returned an EC point that is not an uncompressed point on the key’s curve.');
  }
  return ecPoint.subarray(offset);
}

const b64u = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

export function rsaSpki(modulus: Uint8Array, publicExponent: Uint8Array): Uint8Array {
  const key = createPublicKey({ key: { kty: 'RSA', n: b64u(modulus), e: b64u(publicExponent) }, format: 'jwk' });
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}

export function ecSpki(params: Uint8Array, ecPoint: Uint8Array): Uint8Array {
  const { curve, size } = curveFromParams(params);
  const q = uncompressedPoint(ecPoint, size);
  // createPublicKey checks that the point is on the curve.
  const key = createPublicKey({
    key: { kty: 'EC', crv: curve, x: b64u(q.subarray(1, 1 + size)), y: b64u(q.subarray(1 + size)) },
    format: 'jwk',
  });
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}
