/**
 * ML-DSA-44/65/87 (FIPS 204) from @noble/post-quantum. Secret form: the
 * 32-byte seed ξ (FIPS 204 §6.1), from Keyhold's entropy source; the
 * expanded key is rebuilt from it on load. Public form: the raw encoded key.
 */
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { entropy } from '../random.js';
import { KeyholdError } from '../../errors.js';
import type { SignatureScheme } from './signature-scheme.js';

type Dsa = typeof ml_dsa44;

function mlDsa(name: string, dsa: Dsa): SignatureScheme<Uint8Array, Uint8Array> {
  return {
    name,
    supports: { hash: false, prehashed: false, rsaPadding: false, ecdsaFormat: false },
    generate() {
      const secret = entropy(32);
      return { secret, publicKey: dsa.keygen(secret).publicKey };
    },
    importSecret(seed) {
      if (seed.length !== 32) throw new KeyholdError('KH_INPUT_INVALID', `${name} keys are imported as their 32-byte seed`);
      return { secret: seed.slice(), publicKey: dsa.keygen(seed).publicKey };
    },
    importPublic(bytes) {
      if (bytes.length !== dsa.lengths.publicKey) throw new KeyholdError('KH_INPUT_INVALID', `${name} public keys are ${dsa.lengths.publicKey} bytes`);
      return bytes.slice();
    },
    loadPrivate: (seed) => dsa.keygen(seed).secretKey,
    loadPublic: (publicKey) => publicKey,
    sign: (secretKey, message) => dsa.sign(message, secretKey),
    verify(publicKey, message, signature) {
      try {
        return dsa.verify(signature, message, publicKey);
      } catch {
        return false;
      }
    },
  };
}

export const mlDsa44 = mlDsa('ML-DSA-44', ml_dsa44);
export const mlDsa65 = mlDsa('ML-DSA-65', ml_dsa65 as unknown as Dsa);
export const mlDsa87 = mlDsa('ML-DSA-87', ml_dsa87 as unknown as Dsa);
