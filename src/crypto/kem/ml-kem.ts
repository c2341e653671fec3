/**
 * ML-KEM-768/1024 (FIPS 203) from @noble/post-quantum. Secret form: the
 * 64-byte seed (d || z, FIPS 203 §7.1) from Keyhold's entropy source; the
 * decapsulation key is rebuilt from it. Encapsulation randomness also comes
 * from the entropy source.
 */
import { ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { entropy } from '../random.js';

type Kem = typeof ml_kem768;

export interface KemAlgorithm {
  readonly name: string;
  readonly publicKeyBytes: number;
  readonly ciphertextBytes: number;
  generate(): { secret: Uint8Array; publicKey: Uint8Array };
  /** @returns the decapsulation key and public key for a stored seed. */
  expand(seed: Uint8Array): { secretKey: Uint8Array; publicKey: Uint8Array };
  encapsulate(publicKey: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array };
  /** ML-KEM decapsulation never fails: a wrong ciphertext yields an unrelated secret (implicit rejection, FIPS 203 §6.3). */
  decapsulate(secretKey: Uint8Array, ciphertext: Uint8Array): Uint8Array;
}

function mlKem(name: string, kem: Kem): KemAlgorithm {
  return {
    name,
    publicKeyBytes: kem.lengths.publicKey!,
    ciphertextBytes: kem.lengths.cipherText!,
    generate() {
      const secret = entropy(64);
      return { secret, publicKey: kem.keygen(secret).publicKey };
    },
    expand: (seed) => kem.keygen(seed),
    encapsulate(publicKey) {
      const { cipherText, sharedSecret } = kem.encapsulate(publicKey, entropy(32));
      return { ciphertext: cipherText, sharedSecret };
    },
    // noble wipes the secret key it is given; pass a copy so the cached key survives.
    decapsulate: (secretKey, ciphertext) => kem.decapsulate(ciphertext, secretKey.slice()),
  };
}

export const mlKem768 = mlKem('ML-KEM-768', ml_kem768);
export const mlKem1024 = mlKem('ML-KEM-1024', ml_kem1024 as unknown as Kem);
