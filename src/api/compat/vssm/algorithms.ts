/**
 * VSSM's algorithm strings (docs/compat.md#vssm, the algorithm table) in the keys
 * layer's terms. Unknown strings are refused with VSSM's own messages.
 * Checks of the key against the algorithm (legacy flag, key type) happen in
 * the keys layer; this file only reads names.
 */
import type { ManagedKey } from '../../../keys/managed-key.js';
import type { RawCipherSpec } from '../../../keys/operations/block-cipher.js';
import type { RsaEncryption } from '../../../keys/operations/rsa-encrypt.js';
import type { SignRequestOptions } from '../../../keys/operations/sign.js';
import type { HashName } from '../../../crypto/signature/signature-scheme.js';
import { vssmBadRequest, VssmError } from './vssm-shape.js';

const CIPHERS: Readonly<Record<string, RawCipherSpec['cipher']>> = { AES: 'aes', DES: 'des', '3DES': 'des-ede3' };
const MODES: Readonly<Record<string, RawCipherSpec['mode']>> = { ECB: 'ecb', CBC: 'cbc', CTR: 'ctr', GCM: 'gcm' };
const PADDINGS: Readonly<Record<string, RawCipherSpec['padding']>> = { NoPadding: 'none', PKCS5Padding: 'pkcs7', PKCS7Padding: 'pkcs7' };
const HASHES: Readonly<Record<string, HashName>> = { SHA1: 'sha1', SHA256: 'sha256', SHA384: 'sha384', SHA512: 'sha512' };

const unsupported = (message: string) => vssmBadRequest(message, 'KH_KEY_OPTION_UNSUPPORTED');

/** "CIPHER/MODE/PADDING", e.g. AES/GCM/NoPadding. */
export function symmetricAlgorithm(text: string): RawCipherSpec {
  const parts = text.split('/');
  if (parts.length !== 3) throw unsupported(`Invalid algorithm specification: ${text}`);
  const [c, m, p] = parts as [string, string, string];
  const cipher = CIPHERS[c];
  if (cipher === undefined) throw unsupported(`Invalid cipher: ${c}`);
  const mode = MODES[m];
  if (mode === undefined) throw unsupported(`Unsupported block mode: ${m}`);
  const padding = PADDINGS[p];
  if (padding === undefined) throw unsupported(`Unsupported padding mode: ${p}`);
  return { cipher, mode, padding };
}

/** RSA (PKCS#1 v1.5) or RSA-OAEP/SHA1|SHA256|SHA384|SHA512. */
export function asymmetricEncryption(text: string): RsaEncryption {
  if (text === 'RSA') return { padding: 'pkcs1v15' };
  const m = /^RSA-OAEP\/(SHA1|SHA256|SHA384|SHA512)$/.exec(text);
  if (m === null) throw unsupported(`Invalid algorithm: ${text}`);
  return { padding: 'oaep', hash: HASHES[m[1]!]! };
}

type Family = 'rsa' | 'ecdsa' | 'ed25519';

interface SignatureAlgorithm {
  readonly family: Family;
  readonly options: SignRequestOptions;
}

const SIGNATURES: Readonly<Record<string, SignatureAlgorithm>> = {
  SHA1withRSA: { family: 'rsa', options: { hash: 'sha1', signatureAlgorithm: 'pkcs1v15' } },
  SHA256withRSA: { family: 'rsa', options: { hash: 'sha256', signatureAlgorithm: 'pkcs1v15' } },
  SHA384withRSA: { family: 'rsa', options: { hash: 'sha384', signatureAlgorithm: 'pkcs1v15' } },
  SHA512withRSA: { family: 'rsa', options: { hash: 'sha512', signatureAlgorithm: 'pkcs1v15' } },
  // RSASSA-PSS with MGF1-SHA-256 and a 32-byte salt (the digest length): a Keyhold addition.
  'SHA256withRSA/PSS': { family: 'rsa', options: { hash: 'sha256', signatureAlgorithm: 'pss' } },
  SHA1withECDSA: { family: 'ecdsa', options: { hash: 'sha1', signatureFormat: 'der' } },
  SHA256withECDSA: { family: 'ecdsa', options: { hash: 'sha256', signatureFormat: 'der' } },
  SHA384withECDSA: { family: 'ecdsa', options: { hash: 'sha384', signatureFormat: 'der' } },
  SHA512withECDSA: { family: 'ecdsa', options: { hash: 'sha512', signatureFormat: 'der' } },
  Ed25519: { family: 'ed25519', options: {} },
};

function familyOf(key: ManagedKey): Family | undefined {
  const type = key.record.type;
  if (type.startsWith('rsa-')) return 'rsa';
  if (type.startsWith('ecdsa-')) return 'ecdsa';
  if (type === 'ed25519') return 'ed25519';
  return undefined;
}

const FAMILY_NAME: Readonly<Record<Family, string>> = { rsa: 'an RSA', ecdsa: 'an EC', ed25519: 'an Ed25519' };

/**
 * The sign options of a VSSM signature algorithm for this key; `prehashed`
 * when the caller sent `hashed` instead of `input` (not for PSS and Ed25519, which the keys layer refuses).
 * @throws VssmError 400 for an unknown algorithm or one that does not fit the key
 */
export function signatureAlgorithm(text: string, key: ManagedKey, prehashed: boolean): SignRequestOptions {
  const alg = SIGNATURES[text];
  if (alg === undefined) throw unsupported(`Invalid algorithm: ${text}`);
  if (familyOf(key) !== alg.family) throw new VssmError('KH_KEY_OPERATION_UNSUPPORTED', 400, `${text} needs ${FAMILY_NAME[alg.family]} key; ${key.name} is ${key.record.type}`);
  return { ...alg.options, ...(prehashed && { prehashed: true }) };
}

/** SHA1 | SHA256 | SHA384 | SHA512. */
export function hmacAlgorithm(text: string): HashName {
  const hash = HASHES[text];
  if (hash === undefined) throw unsupported(`Invalid algorithm: ${text}`);
  return hash;
}
