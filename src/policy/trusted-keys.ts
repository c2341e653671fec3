/**
 * The keys trusted to sign policy bundles, from `policy.trustedKeys` in the
 * configuration (never from a bundle). Each `publicKey` is PEM text when it
 * starts with "-----BEGIN", otherwise the path of a PEM file. Only Ed25519
 * public keys are accepted: a private key pasted by mistake is refused rather
 * than silently reduced to its public half.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KeyholdError } from '../errors.js';

export interface TrustedKeyConfig {
  readonly kid: string;
  readonly publicKey: string;
}

/** kid -> Ed25519 public key. */
export type TrustedKeys = ReadonlyMap<string, KeyObject>;

/**
 * @throws KeyholdError KH_CONFIG_INVALID for an unreadable file, a key that is not an Ed25519 public key, or a repeated kid.
 */
export function loadTrustedKeys(entries: readonly TrustedKeyConfig[], readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): TrustedKeys {
  const keys = new Map<string, KeyObject>();
  entries.forEach((entry, i) => {
    const where = `policy.trustedKeys[${i}] (kid ${entry.kid})`;
    if (keys.has(entry.kid)) throw new KeyholdError('KH_CONFIG_INVALID', `${where}: the kid is configured twice`);
    let pem = entry.publicKey.trimStart();
    if (!pem.startsWith('-----BEGIN')) {
      try {
        pem = readFile(entry.publicKey);
      } catch (e) {
        throw new KeyholdError('KH_CONFIG_INVALID', `${where}: cannot read ${entry.publicKey}`, { cause: e });
      }
    }
    if (/PRIVATE KEY-----/.test(pem)) throw new KeyholdError('KH_CONFIG_INVALID', `${where}: this is a private key; configure only the public key`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: pem, format: 'pem' });
    } catch (e) {
      throw new KeyholdError('KH_CONFIG_INVALID', `${where}: not a PEM public key`, { cause: e });
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new KeyholdError('KH_CONFIG_INVALID', `${where}: must be an Ed25519 key, not ${key.asymmetricKeyType ?? 'unknown'}`);
    keys.set(entry.kid, key);
  });
  return keys;
}
