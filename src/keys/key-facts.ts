/**
 * Facts about key material that compatible APIs report or need before an
 * import, without handing out the material: the Keyhold type of a PKCS#8
 * private key (VSSM's injectkey names none), and the length of a raw key
 * (VSSM's listkeys shows it).
 */
import { createPrivateKey } from 'node:crypto';
import { KeyholdError } from '../errors.js';
import type { KeyType } from './key-type-names.js';
import type { ManagedKey } from './managed-key.js';

const RSA_BITS = new Set([2048, 3072, 4096]);
const CURVES: Readonly<Record<string, KeyType>> = { prime256v1: 'ecdsa-p256', secp384r1: 'ecdsa-p384', secp521r1: 'ecdsa-p521', secp256k1: 'ecdsa-secp256k1' };

/**
 * The signature key type a PKCS#8 (DER) private key imports as.
 * @throws KeyholdError KH_INPUT_INVALID for anything that is not PKCS#8; KH_KEY_TYPE_INVALID for a key Keyhold has no type for (RSA sizes other than 2048/3072/4096, P-224, DSA, ...)
 */
export function typeOfPkcs8(der: Uint8Array): KeyType {
  let key;
  try {
    key = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  } catch (e) {
    throw new KeyholdError('KH_INPUT_INVALID', 'the key is not a PKCS#8 (DER) private key', { cause: e });
  }
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details?.modulusLength ?? 0;
    if (!RSA_BITS.has(bits)) throw new KeyholdError('KH_KEY_TYPE_INVALID', `RSA keys of ${bits} bits are not supported (2048, 3072 or 4096)`);
    return `rsa-${bits}` as KeyType;
  }
  if (key.asymmetricKeyType === 'ec') {
    const type = CURVES[details?.namedCurve ?? ''];
    if (type === undefined) throw new KeyholdError('KH_KEY_TYPE_INVALID', `EC keys on ${details?.namedCurve ?? 'this curve'} are not supported (P-256, P-384, P-521, secp256k1)`);
    return type;
  }
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  throw new KeyholdError('KH_KEY_TYPE_INVALID', `${key.asymmetricKeyType ?? 'this'} private keys are not supported (RSA, EC, Ed25519)`);
}

/** Length in bytes of the current version's raw key (AEAD, HMAC and block cipher keys); undefined for other keys. */
export function secretLength(key: ManagedKey): number | undefined {
  const kind = key.spec.kind;
  if (kind !== 'aead' && kind !== 'hmac' && kind !== 'block') return undefined;
  const latest = key.record.versions.find((v) => v.version === key.record.latestVersion);
  return latest?.secret === undefined ? undefined : Buffer.from(latest.secret, 'base64').length;
}
