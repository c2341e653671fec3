/**
 * Raw RSA encryption with a chosen padding, as VSSM's asymmetric/encrypt and
 * asymmetric/decrypt do (outputs carry no key version; the key's current
 * version is used): RSA-OAEP (RFC 8017 §7.1) with SHA-1, -256, -384 or -512
 * for both the label hash and MGF1, empty label; and RSAES-PKCS1-v1_5
 * (RFC 8017 §7.2), on keys created with legacy: true only.
 *
 * PKCS#1 v1.5 decryption is the Bleichenbacher / Marvin oracle. It is done
 * only where OpenSSL answers a bad padding with a synthetic plaintext instead
 * of an error (implicit rejection, OpenSSL >= 3.2), which Node.js then allows;
 * Node 20's OpenSSL 3.0 has none, so there it is refused (Node.js itself
 * refuses it since CVE-2023-46809). Keyhold never unpads in JavaScript.
 */
import { constants, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import { KeyholdError } from '../../errors.js';
import { rsaOaepDecrypt, rsaOaepEncrypt, rsaOaepMaxPlaintext } from '../../crypto/signature/rsa.js';
import type { HashName } from '../../crypto/signature/signature-scheme.js';
import type { ManagedKey } from '../managed-key.js';
import { checkUsage } from '../key-usage.js';

export type RsaEncryption = { readonly padding: 'oaep'; readonly hash: HashName } | { readonly padding: 'pkcs1v15' };

/** Whether this process's OpenSSL rejects bad PKCS#1 v1.5 padding implicitly (3.2 and later). */
export function pkcs1DecryptionAvailable(opensslVersion = process.versions.openssl ?? '0.0.0'): boolean {
  const [major, minor] = opensslVersion.split('.').map((n) => Number.parseInt(n, 10));
  return (major ?? 0) > 3 || ((major ?? 0) === 3 && (minor ?? 0) >= 2);
}

function rsaKey(key: ManagedKey, scheme: RsaEncryption): number {
  key.checkUsable();
  const spec = key.spec;
  if (spec.kind !== 'signature' || !spec.rsa) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot encrypt or decrypt with RSA`);
  checkUsage(key.record, 'encrypt-decrypt');
  if (scheme.padding === 'pkcs1v15' && !key.record.legacy) throw new KeyholdError('KH_KEY_LEGACY_REQUIRED', 'RSA PKCS#1 v1.5 encryption is allowed only on keys created with legacy: true (use RSA-OAEP)');
  const version = key.encryptionVersion();
  key.checkDecryptionVersion(version);
  return version;
}

/** PKCS#1 v1.5 takes at most k - 11 bytes (RFC 8017 §7.2.1). */
function maxPlaintext(pub: KeyObject, scheme: RsaEncryption): number {
  if (scheme.padding === 'oaep') return rsaOaepMaxPlaintext(pub, scheme.hash);
  return (pub.asymmetricKeyDetails?.modulusLength ?? 2048) / 8 - 11;
}

/** @throws KeyholdError KH_INPUT_TOO_LARGE when the plaintext does not fit the modulus and padding */
export function rsaEncryptRaw(key: ManagedKey, scheme: RsaEncryption, plaintext: Uint8Array): { output: Uint8Array; version: number } {
  const version = rsaKey(key, scheme);
  const pub = key.handles(version).publicKey as KeyObject;
  const max = maxPlaintext(pub, scheme);
  if (plaintext.length > max) throw new KeyholdError('KH_INPUT_TOO_LARGE', `this key and padding encrypt at most ${max} bytes`);
  const output = scheme.padding === 'oaep' ? rsaOaepEncrypt(pub, plaintext, scheme.hash) : new Uint8Array(publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, plaintext));
  return { output, version };
}

/**
 * @throws KeyholdError KH_DECRYPT_FAILED for any failure; KH_KEY_OPTION_UNSUPPORTED for PKCS#1 v1.5 where OpenSSL has no implicit rejection
 */
export function rsaDecryptRaw(key: ManagedKey, scheme: RsaEncryption, ciphertext: Uint8Array): { plaintext: Uint8Array; version: number } {
  key.checkNoReleasePolicy();
  const version = rsaKey(key, scheme);
  const priv = key.handles(version).privateKey as KeyObject | undefined;
  if (priv === undefined) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', 'a public-only key cannot decrypt');
  if (scheme.padding === 'oaep') {
    const plaintext = rsaOaepDecrypt(priv, ciphertext, scheme.hash);
    if (plaintext === undefined) throw new KeyholdError('KH_DECRYPT_FAILED');
    return { plaintext, version };
  }
  if (!pkcs1DecryptionAvailable())
    throw new KeyholdError(
      'KH_KEY_OPTION_UNSUPPORTED',
      `RSA PKCS#1 v1.5 decryption is not available: OpenSSL ${process.versions.openssl ?? '?'} has no implicit rejection, so it would be a padding oracle (Marvin attack; Node.js refuses it since CVE-2023-46809). Re-encrypt such data with RSA-OAEP`,
    );
  try {
    // With implicit rejection a bad padding yields a synthetic plaintext, never an error: no oracle.
    return { plaintext: new Uint8Array(privateDecrypt({ key: priv, padding: constants.RSA_PKCS1_PADDING }, ciphertext)), version };
  } catch (e) {
    throw new KeyholdError('KH_DECRYPT_FAILED', undefined, { cause: e });
  }
}
