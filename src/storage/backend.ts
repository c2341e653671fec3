/**
 * Physical storage: an ordered map from string keys to opaque byte values.
 *
 * Backends see only what the barrier hands them (ciphertext under `logical/`
 * and a few seal records under `core/`); they never interpret values. Every
 * backend must pass test/storage/backend-suite.ts unchanged.
 */

export type StorageOp =
  | { readonly type: 'put'; readonly key: string; readonly value: Uint8Array }
  | { readonly type: 'delete'; readonly key: string };

export interface PhysicalBackend {
  /** Backend name for status output ("sqlite", "postgresql"). */
  readonly name: string;
  /** Returns the value, or undefined when the key is absent. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Durably stores the value (committed before the promise resolves). */
  put(key: string, value: Uint8Array): Promise<void>;
  /** Removes the key; absent keys are not an error. */
  delete(key: string): Promise<void>;
  /** All keys starting with `prefix`, in ascending byte order. */
  list(prefix: string): Promise<string[]>;
  /** Applies all ops atomically and durably, in order: all or nothing. */
  transaction(ops: readonly StorageOp[]): Promise<void>;
  /** Releases the handle; later calls fail with KH_STORAGE_UNAVAILABLE. */
  close(): Promise<void>;
}

/** The upper bound for a prefix range scan: every key with the prefix sorts below it. */
export function prefixUpperBound(prefix: string): string {
  return `${prefix}\u{10FFFF}`;
}
