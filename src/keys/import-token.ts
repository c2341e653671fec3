/**
 * Import tokens (AWS KMS GetParametersForImport / ImportKeyMaterial): an
 * opaque value that lets material wrapped under the vault's wrapping key
 * (wrapping-key.ts) be imported into ONE key, with ONE wrapping algorithm,
 * until it expires. It is authenticated, not secret:
 *
 *   "KHIT" | 0x01 | expires (u64 BE, Unix seconds) | alg length (u8) | alg (ASCII)
 *          | nonce (16) | HMAC-SHA-256(token key, "keyhold import token v1" 0x00 || all of the above || key name)
 *
 * The key name is bound by the MAC only, so the token does not reveal it.
 * The token key (32 bytes) is generated on first use and kept through the
 * barrier, seal-wrapped, next to the wrapping key.
 */
import { createHmac } from 'node:crypto';
import type { Barrier } from '../barrier/barrier.js';
import { sealScoped } from '../barrier/seal-scoped.js';
import { concatBytes, constantTimeEqual, utf8, wipe } from '../crypto/bytes.js';
import { entropy } from '../crypto/random.js';
import { KeyholdError } from '../errors.js';

const MAGIC = utf8('KHIT');
const VERSION = 1;
const NONCE_BYTES = 16;
const MAC_BYTES = 32;
const LABEL = utf8('keyhold import token v1\0');
const PATH = 'import-token-key';
/** As AWS KMS: the parameters of an import are valid for 24 hours. */
export const IMPORT_TOKEN_TTL_SECONDS = 24 * 3600;
const ALGORITHM = /^[A-Za-z0-9_-]{1,64}$/;

export class ImportTokens {
  readonly #key: { get(): Promise<Uint8Array> };
  readonly #now: () => Date;

  constructor(barrier: Barrier, options: { now?: () => Date } = {}) {
    const view = barrier.view('key-import/', { sealWrap: true });
    this.#now = options.now ?? (() => new Date());
    this.#key = sealScoped(
      barrier,
      async () => {
        const stored = await view.get(PATH);
        if (stored !== undefined) return stored;
        const key = entropy(32, 'import-token-key');
        await view.put(PATH, key);
        return key;
      },
      (key) => wipe(key),
    );
  }

  #mac(key: Uint8Array, body: Uint8Array, keyName: string): Uint8Array {
    return new Uint8Array(createHmac('sha256', key).update(concatBytes(LABEL, body, utf8(keyName))).digest());
  }

  /** A token for importing into `keyName` material wrapped with `algorithm`, and when it expires. */
  async issue(keyName: string, algorithm: string): Promise<{ token: Uint8Array; expiresAt: Date }> {
    if (!ALGORITHM.test(algorithm)) throw new TypeError('import token algorithm names are 1-64 ASCII letters, digits, "_" or "-"');
    const expires = Math.floor(this.#now().getTime() / 1000) + IMPORT_TOKEN_TTL_SECONDS;
    const head = new Uint8Array(5 + 8 + 1);
    head.set(MAGIC, 0);
    head[4] = VERSION;
    new DataView(head.buffer).setBigUint64(5, BigInt(expires));
    head[13] = algorithm.length;
    const body = concatBytes(head, utf8(algorithm), entropy(NONCE_BYTES, 'import-token-nonce'));
    return { token: concatBytes(body, this.#mac(await this.#key.get(), body, keyName)), expiresAt: new Date(expires * 1000) };
  }

  /**
   * The wrapping algorithm a token was issued for, if it is authentic, for
   * this key, and not expired.
   * @throws KeyholdError KH_IMPORT_TOKEN_INVALID otherwise (one outcome whatever the reason)
   */
  async verify(token: Uint8Array, keyName: string): Promise<string> {
    const invalid = new KeyholdError('KH_IMPORT_TOKEN_INVALID');
    if (token.length < 14 + 1 + NONCE_BYTES + MAC_BYTES || !constantTimeEqual(token.subarray(0, 4), MAGIC) || token[4] !== VERSION) throw invalid;
    const algLength = token[13]!;
    const bodyLength = 14 + algLength + NONCE_BYTES;
    if (token.length !== bodyLength + MAC_BYTES) throw invalid;
    const body = token.subarray(0, bodyLength);
    if (!constantTimeEqual(this.#mac(await this.#key.get(), body, keyName), token.subarray(bodyLength))) throw invalid;
    const expires = Number(new DataView(token.buffer, token.byteOffset, token.length).getBigUint64(5));
    if (expires * 1000 <= this.#now().getTime()) throw invalid;
    return new TextDecoder().decode(token.subarray(14, 14 + algLength));
  }
}
