/**
 * KMS key identifiers over Keyhold key names. A KeyId may be:
 *   - a key id: the UUID of a key created by CreateKey, or the name of any
 *     Keyhold key (keys created through /v1 or transit are reachable too);
 *   - a key ARN:   arn:aws:kms:<region>:<account>:key/<key id>
 *   - an alias:    alias/<name>
 *   - an alias ARN: arn:aws:kms:<region>:<account>:alias/<name>
 * Region and account are this node's (compat.kms); an ARN naming others
 * names a key that is not here (NotFoundException).
 */
import { KeyholdError } from '../../../errors.js';
import { KEY_NAME_PATTERN } from '../../../keys/key-name.js';
import { ALIAS_PREFIX, type KeyAliases } from '../../../keys/key-aliases.js';
import { KmsError } from './kms-errors.js';

const KEY_NAME = new RegExp(KEY_NAME_PATTERN);
const ARN = /^arn:[a-z-]{1,32}:kms:([a-z0-9-]*):([0-9]*):(key\/.+|alias\/.+)$/;

export type KeyRef = { readonly kind: 'key'; readonly name: string } | { readonly kind: 'alias'; readonly alias: string };

/** The outcome of resolving a KeyId: the key's name, or an alias that does not exist (named for authorization). */
export type Resolved = { readonly name: string; readonly missing?: undefined } | { readonly name?: undefined; readonly missing: string };

const notFound = (what: string) => new KmsError('NotFoundException', `${what} is not found.`, 'KH_KEY_NOT_FOUND');

export class KeyIds {
  readonly accountId: string;
  readonly #prefix: string;
  readonly #aliases: KeyAliases;

  constructor(options: { region: string; accountId: string; aliases: KeyAliases }) {
    this.accountId = options.accountId;
    this.#prefix = `arn:aws:kms:${options.region}:${options.accountId}:`;
    this.#aliases = options.aliases;
  }

  keyArn(name: string): string {
    return `${this.#prefix}key/${name}`;
  }

  aliasArn(alias: string): string {
    return `${this.#prefix}${alias}`;
  }

  /** @throws KmsError NotFoundException for anything that cannot name a key here */
  parse(keyId: string): KeyRef {
    let ref = keyId;
    if (keyId.startsWith('arn:')) {
      const m = ARN.exec(keyId);
      if (m === null || `arn:aws:kms:${m[1]}:${m[2]}:` !== this.#prefix) throw notFound(`Invalid arn ${keyId.slice(0, 200)}`);
      ref = m[3]!;
      if (ref.startsWith('key/')) ref = ref.slice(4);
    }
    if (ref.startsWith(ALIAS_PREFIX)) return { kind: 'alias', alias: ref };
    if (!KEY_NAME.test(ref)) throw notFound(`Key '${keyId.slice(0, 200)}'`);
    return { kind: 'key', name: ref };
  }

  /**
   * The key a KeyId names. A missing alias is returned (not thrown) so the
   * caller can ask the policy engine about it first: who may not use a key
   * learns nothing about which aliases exist.
   * @throws KmsError NotFoundException for a malformed id or ARN
   */
  async resolve(keyId: string): Promise<Resolved> {
    const ref = this.parse(keyId);
    if (ref.kind === 'key') return { name: ref.name };
    let record;
    try {
      record = await this.#aliases.get(ref.alias);
    } catch (e) {
      if (e instanceof KeyholdError && e.code === 'KH_KEY_ALIAS_INVALID') return { missing: ref.alias };
      throw e;
    }
    return record === undefined ? { missing: ref.alias } : { name: record.target };
  }

  /** A key id or key ARN only (TargetKeyId, ListAliases' KeyId): aliases are refused. */
  parseKeyOnly(keyId: string, field: string): string {
    const ref = this.parse(keyId);
    if (ref.kind === 'alias') throw new KmsError('ValidationException', `${field} must be a key id or key ARN, not an alias`, 'KH_BAD_REQUEST');
    return ref.name;
  }
}

export { notFound };
