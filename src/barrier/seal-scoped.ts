/**
 * A value loaded (or created) through the barrier once per unsealed period:
 * the first call runs `load`, later calls share its promise, a failed load is
 * retried on the next call, and sealing forgets the value (calling `forget`
 * so secrets can be wiped).
 */
import type { Barrier } from './barrier.js';

export function sealScoped<T>(barrier: Barrier, load: () => Promise<T>, forget?: (value: T) => void): { get(): Promise<T>; set(value: T): void } {
  let current: Promise<T> | undefined;
  let settled: T | undefined;
  barrier.onSeal(() => {
    if (settled !== undefined) forget?.(settled);
    current = undefined;
    settled = undefined;
  });
  return {
    get() {
      current ??= load().then(
        (v) => (settled = v),
        (e: unknown) => {
          current = undefined;
          throw e;
        },
      );
      return current;
    },
    set(value: T) {
      settled = value;
      current = Promise.resolve(value);
    },
  };
}
