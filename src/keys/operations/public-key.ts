/** Public key export (PEM SPKI, JWK, or raw base64: SPKI DER, or the raw key for ML-DSA/ML-KEM). Never a private part. */
import { createPublicKey } from 'node:crypto';
import { KeyholdError } from '../../errors.js';
import { toBase64 } from '../../crypto/bytes.js';
import type { ManagedKey } from '../managed-key.js';

export type PublicKeyFormat = 'pem' | 'jwk' | 'raw';

export function publicKey(key: ManagedKey, version: number | undefined, format: PublicKeyFormat): { version: number; publicKey: string | Record<string, unknown> } {
  const spec = key.spec;
  const asymmetric = spec.kind === 'signature' || spec.kind === 'agreement' || spec.kind === 'kem' || (spec.kind === 'hsm' && spec.hsm.algorithm !== 'aes-gcm');
  if (!asymmetric) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys have no public key`);
  const v = version ?? key.record.latestVersion;
  key.checkDecryptionVersion(v);
  const bytes = key.handles(v).publicKeyBytes;
  if (bytes === undefined) throw new KeyholdError('KH_KEY_VERSION_INVALID');
  // Post-quantum keys have no SPKI encoding in OpenSSL 3.0 yet: raw only.
  const pq = key.record.type.startsWith('ml-');
  if (format === 'raw' || pq) {
    if (format !== 'raw') throw new KeyholdError('KH_KEY_OPTION_UNSUPPORTED', 'ML-DSA and ML-KEM public keys are exported as raw');
    return { version: v, publicKey: toBase64(bytes) };
  }
  const obj = createPublicKey({ key: Buffer.from(bytes), format: 'der', type: 'spki' });
  if (format === 'jwk') return { version: v, publicKey: obj.export({ format: 'jwk' }) as Record<string, unknown> };
  return { version: v, publicKey: obj.export({ format: 'pem', type: 'spki' }).toString() };
}
