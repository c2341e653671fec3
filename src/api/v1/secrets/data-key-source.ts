/**
 * The keys layer's data key operation for generated secrets
 * (`generate: { kind: "datakey" }`), wired by the composition root: the same
 * code as POST /v1/keys/:name/datakey, software or HSM-backed. A key with a
 * release policy hands data keys out only to attested recipients, so it
 * cannot feed a secret (which any reader allowed by Cedar may read).
 */
import { KeyholdError } from '../../../errors.js';
import type { KeyManager } from '../../../keys/key-manager.js';
import { dataKey } from '../../../keys/operations/datakey.js';
import { hsmDataKey } from '../../../keys/hsm/datakey.js';
import type { DataKeySource } from '../../../secrets/secret-manager.js';

export function dataKeySource(keys: KeyManager): DataKeySource {
  return async (name, bits) => {
    const key = await keys.get(name);
    key.checkUsable();
    if (key.record.releasePolicy !== undefined) throw new KeyholdError('KH_RELEASE_RECIPIENT_REQUIRED', `the key ${name} has a release policy: its data keys are released only to attested recipients`);
    const input = { bits, includePlaintext: true };
    const r = key.spec.kind === 'hsm' ? await hsmDataKey(keys.hsm, key, input) : dataKey(key, input);
    if (r.plaintext === undefined) throw new KeyholdError('KH_INTERNAL');
    return { plaintext: r.plaintext, ciphertext: r.ciphertext, keyVersion: r.version };
  };
}
