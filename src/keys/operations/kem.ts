/**
 * ML-KEM encapsulation (anyone with the public key) and decapsulation (only
 * inside Keyhold). The KEM ciphertext is self-describing like every other:
 * keyhold:v<n>:<base64>.
 */
import { KeyholdError } from '../../errors.js';
import { decodeVersioned, encodeVersioned } from '../ciphertext.js';
import type { ManagedKey } from '../managed-key.js';

function kemOf(key: ManagedKey) {
  if (key.spec.kind !== 'kem') throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot encapsulate`);
  return key.spec.kem;
}

export function encapsulate(key: ManagedKey, version?: number): { ciphertext: string; sharedSecret: Uint8Array; version: number } {
  key.checkUsable();
  const kem = kemOf(key);
  const v = key.encryptionVersion(version);
  const { ciphertext, sharedSecret } = kem.encapsulate(key.handles(v).publicKeyBytes!);
  return { ciphertext: encodeVersioned(v, ciphertext), sharedSecret, version: v };
}

export function decapsulate(key: ManagedKey, ciphertext: string): { sharedSecret: Uint8Array; version: number } {
  key.checkUsable();
  const kem = kemOf(key);
  const { version, bytes } = decodeVersioned(ciphertext, 'KH_CIPHERTEXT_MALFORMED');
  key.checkDecryptionVersion(version);
  if (bytes.length !== kem.ciphertextBytes) throw new KeyholdError('KH_CIPHERTEXT_MALFORMED', `${kem.name} ciphertexts are ${kem.ciphertextBytes} bytes`);
  const { privateKey } = key.handles(version);
  if (privateKey === undefined) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', 'a public-only key cannot decapsulate');
  return { sharedSecret: kem.decapsulate(privateKey as Uint8Array, bytes), version };
}
