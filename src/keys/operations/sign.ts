/**
 * sign / verify with signature keys. Output keyhold:v<n>:base64(signature).
 * Options a scheme does not honour are refused rather than ignored, so a
 * caller never believes it got RSA-PSS when it got something else.
 */
import { KeyholdError } from '../../errors.js';
import { DIGEST_BYTES, type HashName, type SignOptions } from '../../crypto/signature/signature-scheme.js';
import { decodeVersioned, encodeVersioned } from '../ciphertext.js';
import type { ManagedKey } from '../managed-key.js';
import { checkUsage } from '../key-usage.js';

export interface SignRequestOptions {
  hash?: HashName | undefined;
  prehashed?: boolean | undefined;
  signatureAlgorithm?: 'pss' | 'pkcs1v15' | undefined;
  signatureFormat?: 'der' | 'p1363' | undefined;
}

function resolveOptions(key: ManagedKey, o: SignRequestOptions): SignOptions {
  const spec = key.spec;
  if (spec.kind !== 'signature') throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot sign or verify`);
  checkUsage(key.record, 'sign-verify');
  const s = spec.scheme.supports;
  const refuse = (what: string) => new KeyholdError('KH_KEY_OPTION_UNSUPPORTED', `${what} is not an option for ${key.record.type} keys`);
  if (o.hash !== undefined && !s.hash) throw refuse('hash');
  if (o.hash === 'sha1' && !key.record.legacy) throw new KeyholdError('KH_KEY_LEGACY_REQUIRED', 'SHA-1 signatures need a key created with legacy: true');
  if (o.prehashed === true && !s.prehashed) throw refuse('prehashed');
  if (o.signatureAlgorithm !== undefined && !s.rsaPadding) throw refuse('signatureAlgorithm');
  if (o.signatureFormat !== undefined && !s.ecdsaFormat) throw refuse('signatureFormat');
  const options: SignOptions = {
    hash: o.hash ?? spec.defaultHash,
    prehashed: o.prehashed ?? false,
    rsaPadding: o.signatureAlgorithm ?? 'pss',
    ecdsaFormat: o.signatureFormat ?? 'der',
  };
  if (options.prehashed && options.rsaPadding === 'pss' && spec.rsa) throw new KeyholdError('KH_KEY_OPTION_UNSUPPORTED', 'prehashed RSA input needs signatureAlgorithm pkcs1v15');
  return options;
}

function checkPrehash(input: Uint8Array, o: SignOptions): void {
  if (o.prehashed && input.length !== DIGEST_BYTES[o.hash]) throw new KeyholdError('KH_INPUT_INVALID', `prehashed input must be a ${DIGEST_BYTES[o.hash]}-byte ${o.hash} digest`);
}

export function signMessage(key: ManagedKey, input: Uint8Array, o: SignRequestOptions & { version?: number | undefined }): { signature: string; version: number } {
  key.checkUsable();
  const options = resolveOptions(key, o);
  checkPrehash(input, options);
  const version = key.encryptionVersion(o.version);
  const { privateKey } = key.handles(version);
  if (privateKey === undefined) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', 'a public-only key cannot sign');
  const scheme = (key.spec as { scheme: { sign(p: unknown, m: Uint8Array, o: SignOptions): Uint8Array } }).scheme;
  return { signature: encodeVersioned(version, scheme.sign(privateKey, input, options)), version };
}

export function verifyMessage(key: ManagedKey, input: Uint8Array, signature: string, o: SignRequestOptions): { valid: boolean; version: number } {
  key.checkUsable();
  const options = resolveOptions(key, o);
  checkPrehash(input, options);
  const { version, bytes } = decodeVersioned(signature, 'KH_SIGNATURE_MALFORMED');
  key.checkDecryptionVersion(version);
  const { publicKey } = key.handles(version);
  const scheme = (key.spec as { scheme: { verify(p: unknown, m: Uint8Array, s: Uint8Array, o: SignOptions): boolean } }).scheme;
  return { valid: publicKey !== undefined && scheme.verify(publicKey, input, bytes, options), version };
}
