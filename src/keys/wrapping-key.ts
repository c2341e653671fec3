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
 * AWS KMS's import (api/compat/kms) uses the same key: RSA_AES_KEY_WRAP_SHA_256
 * is exactly the format above, RSAES_OAEP_SHA_256 is the RSA step alone.
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

  /** The public half, SPKI DER (AWS KMS GetParametersForImport answers it so). */
  async publicKeyDer(): Promise<Uint8Array> {
    return new Uint8Array(createPublicKey(await this.#load()).export({ format: 'der', type: 'spki' }));
  }

  /**
   * RSAES-OAEP-SHA-256 alone, without the AES key wrap (AWS KMS's
   * RSAES_OAEP_SHA_256 wrapping algorithm): material of up to 446 bytes,
   * enough for symmetric and HMAC keys.
   * @throws KeyholdError KH_DECRYPT_FAILED for anything that does not unwrap (one outcome, no padding oracle).
   */
  async unwrapOaep(ciphertext: Uint8Array): Promise<Uint8Array> {
    const priv = await this.#load();
    const material = ciphertext.length === RSA_BYTES ? rsaOaepDecrypt(priv, ciphertext, 'sha256') : undefined;
    if (material === undefined || material.length === 0) throw new KeyholdError('KH_DECRYPT_FAILED');
    return material;
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
