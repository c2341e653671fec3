/**
 * sign / verify with hsm-ecdsa-* and hsm-rsa-* keys. Signing happens on the
 * token (pkcs11-client.ts sign: ECDSA over a SHA-256/384 digest taken in
 * node, RSA PKCS#1 v1.5 or PSS with SHA-256, MGF1-SHA-256 and a 32-byte
 * salt, RFC 8017 §8.1/§8.2); verification runs in node against the stored
 * public key with the software signature schemes, so it needs no HSM.
 * Output keyhold:v<n>:base64(signature), as for software keys. ECDSA
 * signatures come off the token as r || s (IEEE P1363, current mechanisms
 * §2.3.1) and are DER-encoded (RFC 3279 §2.2.3) unless p1363 is asked for.
 *
 * Options the token cannot honour are refused (KH_KEY_OPTION_UNSUPPORTED),
 * never ignored: prehashed input, and digests other than the mechanism's.
 */
import { p256, p384 } from '@noble/curves/nist.js';
import { KeyholdError } from '../../errors.js';
import type { SignOptions } from '../../crypto/signature/signature-scheme.js';
import type { Pkcs11Key, Pkcs11SignatureAlgorithm } from '../../seal/pkcs11/pkcs11-client.js';
import { decodeVersioned, encodeVersioned } from '../ciphertext.js';
import type { ManagedKey } from '../managed-key.js';
import type { SignRequestOptions } from '../operations/sign.js';
import type { HsmKeySpec } from './hsm-key-types.js';
import type { HsmAccess } from './hsm-objects.js';

type SigningSpec = Exclude<HsmKeySpec, { algorithm: 'aes-gcm' }>;

const CURVE = { 'P-256': p256, 'P-384': p384 } as const;

function resolve(key: ManagedKey, o: SignRequestOptions): { spec: SigningSpec; options: SignOptions; mechanism: Pkcs11SignatureAlgorithm } {
  const spec = key.spec.kind === 'hsm' ? key.spec.hsm : undefined;
  if (spec === undefined || spec.algorithm === 'aes-gcm') throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot sign or verify`);
  const refuse = (what: string) => new KeyholdError('KH_KEY_OPTION_UNSUPPORTED', `${what} is not an option for ${key.record.type} keys`);
  const hash = o.hash ?? spec.defaultHash;
  if (!spec.hashes.includes(hash)) throw refuse(`hash ${hash} (the HSM signs with ${spec.hashes.join(' or ')})`);
  if (o.prehashed === true) throw refuse('prehashed');
  if (spec.algorithm === 'ecdsa' && o.signatureAlgorithm !== undefined) throw refuse('signatureAlgorithm');
  if (spec.algorithm === 'rsa' && o.signatureFormat !== undefined) throw refuse('signatureFormat');
  const options: SignOptions = { hash, prehashed: false, rsaPadding: o.signatureAlgorithm ?? 'pss', ecdsaFormat: o.signatureFormat ?? 'der' };
  const mechanism: Pkcs11SignatureAlgorithm =
    spec.algorithm === 'ecdsa' ? (hash === 'sha384' ? 'ECDSA-SHA384' : 'ECDSA-SHA256') : options.rsaPadding === 'pss' ? 'RSA-PSS-SHA256' : 'RSA-PKCS1-SHA256';
  return { spec, options, mechanism };
}

export async function hsmSign(hsm: HsmAccess, key: ManagedKey, input: Uint8Array, o: SignRequestOptions & { version?: number | undefined }): Promise<{ signature: string; version: number }> {
  key.checkUsable();
  const { spec, options, mechanism } = resolve(key, o);
  const version = key.encryptionVersion(o.version);
  const object = key.handles(version).privateKey as Pkcs11Key;
  const client = await hsm.client();
  const raw = await client.sign(object, mechanism, input);
  const signature = spec.algorithm === 'ecdsa' && options.ecdsaFormat === 'der' ? CURVE[spec.curve].Signature.fromBytes(raw, 'compact').toBytes('der') : raw;
  return { signature: encodeVersioned(version, signature), version };
}

/** Verifies in node with the version's stored public key (the HSM is not asked). */
export function hsmVerify(key: ManagedKey, input: Uint8Array, signature: string, o: SignRequestOptions): { valid: boolean; version: number } {
  key.checkUsable();
  const { spec, options } = resolve(key, o);
  const { version, bytes } = decodeVersioned(signature, 'KH_SIGNATURE_MALFORMED');
  key.checkDecryptionVersion(version);
  const { publicKey } = key.handles(version);
  return { valid: publicKey !== undefined && spec.scheme.verify(publicKey, input, bytes, options), version };
}
