/**
 * Seal wrapping with the HSM seal: critical records get a second encryption
 * by the HSM key (the same key and mechanism that wrap the root key), with the
 * record's path as associated data, so a wrapped record cannot be moved to
 * another path and cannot be read without the HSM, keyring or not.
 */
import { KeyholdError } from '../errors.js';
import { utf8 } from '../crypto/bytes.js';
import type { SealWrapper } from '../barrier/barrier.js';
import type { RootKeyWrapper } from './root-key-wrapper.js';

const aad = (path: string) => utf8(`keyhold-seal-wrap-v1\0${path}`);

export function hsmSealWrapper(wrapper: RootKeyWrapper): SealWrapper {
  return {
    wrap: (path, value) => wrapper.wrap(value, aad(path)),
    async unwrap(path, value) {
      try {
        return await wrapper.unwrap(value, aad(path));
      } catch (e) {
        // A record that does not authenticate is damaged or moved, not an unseal failure.
        if (e instanceof KeyholdError && e.code === 'KH_UNSEAL_FAILED') throw new KeyholdError('KH_STORAGE_INTEGRITY', undefined, { cause: e });
        throw e;
      }
    },
  };
}
