/**
 * One KMS operation: its input schema, the /v1 catalogue action the policy
 * engine is asked about (src/policy/actions.ts), the resources that question
 * names (the keys its KeyId members resolve to, or a System area), and the
 * translation onto the keys layer. kms-plugin.ts runs them all the same way:
 * authenticate (SigV4) -> validate -> resolve keys -> authorize each -> run.
 */
import type { Static, TObject } from '@sinclair/typebox';
import type { KeyManager } from '../../../keys/key-manager.js';
import type { KeyAliases } from '../../../keys/key-aliases.js';
import type { WrappingKey } from '../../../keys/wrapping-key.js';
import type { ImportTokens } from '../../../keys/import-token.js';
import type { RecipientVerifier } from '../../../keys/release/recipient.js';
import type { KeyIds, Resolved } from './key-ids.js';

export interface KmsDeps {
  readonly keys: KeyManager;
  readonly aliases: KeyAliases;
  readonly ids: KeyIds;
  readonly wrapping: WrappingKey;
  readonly importTokens: ImportTokens;
  readonly recipients: RecipientVerifier;
}

/** What the policy engine is asked about: keys (resolved from the input), or a System area. */
// Method syntax keeps operations of different inputs assignable to one registry type.
export type KmsTarget<I> = { readonly system: 'keys' | 'tools' } | { keys(input: I, deps: KmsDeps): Promise<readonly (Resolved & { readonly action?: string })[]> };

export interface KmsOperation<S extends TObject = TObject> {
  readonly input: S;
  /** A catalogue action id (src/policy/actions.ts); a resolved key may name its own (ReEncrypt: decrypt on the source, encrypt on the destination). */
  readonly action: string;
  readonly target: KmsTarget<Static<S>>;
  /**
   * Runs the operation. `names` are the resolved key names, in the order
   * `target.keys` returned them (every one exists as a name; the key itself may not).
   */
  run(deps: KmsDeps, input: Static<S>, names: readonly string[], caller: KmsCaller): Promise<Record<string, unknown>>;
}

/** What a listing needs to know about its caller: the keys it may read (a listing shows no others; issue 15 L3). */
export interface KmsCaller {
  /** The subset of `names` the caller may readKey, in order. */
  readable(names: readonly string[]): Promise<string[]>;
  /**
   * One page of `sorted` (every candidate after the marker) holding up to
   * `limit` items whose key (`keyOf`) the caller may readKey; `next` is a
   * visible item's name or a sealed marker, never the name of an item the
   * caller cannot read (policy-ask.ts permittedPage, list-marker.ts).
   */
  page<T>(scope: string, sorted: readonly T[], limit: number, nameOf: (item: T) => string, keyOf: (item: T) => string): Promise<{ items: T[]; next?: string }>;
  /** The name a caller's Marker resumes after (a name, or a sealed marker of `scope`). @throws KmsError InvalidMarkerException */
  resumeAfter(scope: string, marker: string): string;
}

/** Types an operation's definition against its own schema. */
export function operation<S extends TObject>(def: KmsOperation<S>): KmsOperation<S> {
  return def;
}

/** The usual target: the key named by one (required) KeyId member. */
export function keyTarget<K extends string>(member: K): KmsTarget<{ readonly [P in K]: string }> {
  return {
    async keys(input, deps) {
      return [await deps.ids.resolve(input[member])];
    },
  };
}
