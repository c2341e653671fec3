/**
 * BYOK: the per-vault RSA-4096 wrapping key and the unwrapping of imported
 * key material in the format Vault transit's import uses, so existing tooling
 * (e.g. `vault transit import`) works unchanged:
 *
 *   ciphertext = RSA-OAEP-SHA256(wrapping key, ephemeral AES-256 key)   (512 bytes)
 *             || AES-KWP(ephemeral key, target key material)           (RFC 5649)
 *
 * Target material is raw bytes for symmetric keys and PKCS#8 DER (or the
 * forms of key-import.ts) for asymmetric ones. Every unwrap failure is the
 * same KH_DECRYPT_FAILED, so the endpoint is not an OAEP padding oracle.
 * The wrapping key is generated on first use and stored through the barrier.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { aeskwp } from '@noble/ciphers/aes.js';
import { KeyholdError } from '../errors.js';
import type { Barrier } from '../barrier/barrier.js';
import { sealScoped } from '../barrier/seal-scoped.js';
import { rsaOaepDecrypt } from '../crypto/signature/rsa.js';
import { loadPkcs8OfType } from '../crypto/signature/ed25519.js';
import { wipe } from '../crypto/bytes.js';

const RSA_BYTES = 512;
const PATH = 'wrapping-key';

export class WrappingKey {
  readonly #key: { get(): Promise<KeyObject> };

  constructor(barrier: Barrier) {
    const view = barrier.view('key-import/', { sealWrap: true });
    this.#key = sealScoped(barrier, async () => {
      const stored = await view.get(PATH);
      if (stored !== undefined) return loadPkcs8OfType(stored, 'rsa');
      // RSA generation uses OpenSSL's DRBG (see crypto/signature/rsa.ts).
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 4096, publicExponent: 0x10001 });
      await view.put(PATH, new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' })));
      return privateKey;
    });
  }

  #load(): Promise<KeyObject> {
    return this.#key.get();
  }

  /** The public half, PEM SPKI, for wrapping material to import. */
  async publicKeyPem(): Promise<string> {
    return createPublicKey(await this.#load()).export({ format: 'pem', type: 'spki' }).toString();
  }

  /** @throws KeyholdError KH_DECRYPT_FAILED for anything that does not unwrap. */
  async unwrap(ciphertext: Uint8Array): Promise<Uint8Array> {
    const priv = await this.#load();
    const fail = () => new KeyholdError('KH_DECRYPT_FAILED');
    if (ciphertext.length <= RSA_BYTES + 8) throw fail();
    const ephemeral = rsaOaepDecrypt(priv, ciphertext.subarray(0, RSA_BYTES), 'sha256');
    if (ephemeral === undefined || ephemeral.length !== 32) throw fail();
    try {
      return aeskwp(ephemeral).decrypt(ciphertext.subarray(RSA_BYTES));
    } catch {
      throw fail();
    } finally {
      wipe(ephemeral);
    }
  }
}
