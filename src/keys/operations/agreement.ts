/**
 * Key agreement (as KMS DeriveSharedSecret): X25519 keys, and NIST curve
 * keys created with usage key-agreement (ECDH, SP 800-56A). The result is the
 * raw shared secret, or an AES-256 key derived from it with HKDF-SHA-256
 * (RFC 5869) over caller-supplied salt and info, so callers need not run a
 * KDF themselves.
 */
import type { KeyObject } from 'node:crypto';
import { KeyholdError } from '../../errors.js';
import { x25519Peer, x25519Shared } from '../../crypto/agreement/x25519.js';
import { ecdhPeer, ecdhShared, type EcdhCurve } from '../../crypto/agreement/ecdh.js';
import type { EcPrivate } from '../../crypto/signature/ecdsa.js';
import { hkdf } from '../../crypto/hkdf.js';
import { checkUsage } from '../key-usage.js';
import type { ManagedKey } from '../managed-key.js';

export interface DeriveInput {
  peerPublicKey: Uint8Array | string;
  output: 'shared-secret' | 'aes256-key';
  salt?: Uint8Array | undefined;
  info?: Uint8Array | undefined;
  version?: number | undefined;
}

const EC_CURVES: Readonly<Record<string, EcdhCurve>> = { 'ecdsa-p256': 'P-256', 'ecdsa-p384': 'P-384', 'ecdsa-p521': 'P-521' };

export function deriveSharedSecret(key: ManagedKey, input: DeriveInput): { secret: Uint8Array; version: number } {
  key.checkUsable();
  const curve = EC_CURVES[key.record.type];
  if (key.spec.kind !== 'agreement' && curve === undefined) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot do key agreement`);
  // A signing key is never reused for ECDH: NIST curve keys agree only when created for it.
  if (curve !== undefined && key.record.usage !== 'key-agreement') throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', 'only NIST curve keys created with usage key-agreement can do ECDH');
  checkUsage(key.record, 'key-agreement');
  const version = key.encryptionVersion(input.version);
  const { privateKey } = key.handles(version);
  if (privateKey === undefined) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', 'a public-only key cannot do key agreement');
  const shared =
    curve === undefined
      ? x25519Shared(privateKey as KeyObject, x25519Peer(input.peerPublicKey))
      : ecdhShared((privateKey as EcPrivate).key, ecdhPeer(input.peerPublicKey, curve));
  if (input.output === 'shared-secret') return { secret: shared, version };
  try {
    return { secret: hkdf('sha256', shared, input.salt ?? new Uint8Array(), input.info ?? new Uint8Array(), 32), version };
  } finally {
    shared.fill(0);
  }
}
