/**
 * Key aliases (AWS KMS's aliases): a second name that points at exactly one
 * key and can be moved to another, so applications name "alias/orders" and
 * operators swap the key behind it. Rules are KMS's: `alias/` followed by
 * letters, digits, "/", "_" and "-", at most 256 characters in all, and the
 * `alias/aws/` prefix is reserved (for AWS managed keys, which Keyhold has not).
 *
 * Each alias is one barrier record at key-aliases/<HMAC(index key, alias)>,
 * so alias names, like key names, exist only inside encrypted records. An
 * alias whose key has been deleted answers as absent and is removed on sight.
 */
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Barrier, BarrierView } from '../barrier/barrier.js';
import { KeyholdError } from '../errors.js';

export const ALIAS_PREFIX = 'alias/';
const RESERVED_PREFIX = 'alias/aws/';
const ALIAS_NAME = /^alias\/[A-Za-z0-9/_-]{1,250}$/;
const INDEX_NAMESPACE = 'key-alias';

const AliasRecordSchema = Type.Object(
  { format: Type.Literal(1), alias: Type.String(), target: Type.String(), createdAt: Type.String(), updatedAt: Type.String() },
  { additionalProperties: false },
);
export type AliasRecord = Static<typeof AliasRecordSchema>;
const checkRecord = TypeCompiler.Compile(AliasRecordSchema);

/**
 * @throws KeyholdError KH_KEY_ALIAS_INVALID for a name outside the rules, or a reserved one
 */
export function checkAliasName(alias: string): string {
  if (!ALIAS_NAME.test(alias)) throw new KeyholdError('KH_KEY_ALIAS_INVALID');
  if (alias.startsWith(RESERVED_PREFIX)) throw new KeyholdError('KH_KEY_ALIAS_INVALID', 'alias names beginning with alias/aws/ are reserved');
  return alias;
}

function decode(bytes: Uint8Array): AliasRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new KeyholdError('KH_STORAGE_INTEGRITY', 'an alias record is malformed', { cause: e });
  }
  if (!checkRecord.Check(parsed)) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'an alias record is malformed');
  return parsed;
}

export class KeyAliases {
  readonly #view: BarrierView;
  readonly #now: () => Date;
  /** Serialises changes per alias, so two creations of one name cannot both succeed on this node. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(barrier: Barrier, options: { now?: () => Date } = {}) {
    this.#view = barrier.view('key-aliases/');
    this.#now = options.now ?? (() => new Date());
  }

  #path(alias: string): string {
    return this.#view.indexPath(INDEX_NAMESPACE, alias);
  }

  /** Alias changes are rare: one queue for all of them is simpler than per-name locks and just as correct. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async get(alias: string): Promise<AliasRecord | undefined> {
    checkAliasName(alias);
    const bytes = await this.#view.get(this.#path(alias));
    return bytes === undefined ? undefined : decode(bytes);
  }

  /** @throws KeyholdError KH_KEY_ALIAS_EXISTS, KH_KEY_ALIAS_INVALID */
  create(alias: string, target: string): Promise<AliasRecord> {
    checkAliasName(alias);
    return this.#serial(async () => {
      if ((await this.get(alias)) !== undefined) throw new KeyholdError('KH_KEY_ALIAS_EXISTS', `an alias named ${alias} already exists`);
      const now = this.#now().toISOString();
      const record: AliasRecord = { format: 1, alias, target, createdAt: now, updatedAt: now };
      await this.#view.put(this.#path(alias), new TextEncoder().encode(JSON.stringify(record)));
      return record;
    });
  }

  /** Points an existing alias at another key. @throws KeyholdError KH_KEY_ALIAS_NOT_FOUND */
  update(alias: string, target: string): Promise<AliasRecord> {
    checkAliasName(alias);
    return this.#serial(async () => {
      const current = await this.get(alias);
      if (current === undefined) throw new KeyholdError('KH_KEY_ALIAS_NOT_FOUND', `no alias named ${alias}`);
      const record: AliasRecord = { ...current, target, updatedAt: this.#now().toISOString() };
      await this.#view.put(this.#path(alias), new TextEncoder().encode(JSON.stringify(record)));
      return record;
    });
  }

  /** @throws KeyholdError KH_KEY_ALIAS_NOT_FOUND */
  delete(alias: string): Promise<void> {
    checkAliasName(alias);
    return this.#serial(async () => {
      if ((await this.get(alias)) === undefined) throw new KeyholdError('KH_KEY_ALIAS_NOT_FOUND', `no alias named ${alias}`);
      await this.#view.delete(this.#path(alias));
    });
  }

  /**
   * Every alias, by name. `exists` says whether a target key still exists;
   * aliases of deleted keys are removed here rather than listed.
   */
  async list(exists: (target: string) => Promise<boolean>): Promise<AliasRecord[]> {
    const out: AliasRecord[] = [];
    for (const path of await this.#view.list()) {
      const bytes = await this.#view.get(path);
      if (bytes === undefined) continue;
      const record = decode(bytes);
      if (await exists(record.target)) out.push(record);
      else await this.#removeIfStale(path, exists).catch(() => undefined);
    }
    return out.sort((a, b) => (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0));
  }

  /** Re-checked in the queue: the alias may have been pointed at a live key meanwhile. */
  #removeIfStale(path: string, exists: (target: string) => Promise<boolean>): Promise<void> {
    return this.#serial(async () => {
      const bytes = await this.#view.get(path);
      if (bytes !== undefined && !(await exists(decode(bytes).target))) await this.#view.delete(path);
    });
  }
}
