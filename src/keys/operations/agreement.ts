/**
 * Key agreement with X25519 keys (as KMS DeriveSharedSecret): the raw shared
 * secret, or an AES-256 key derived from it with HKDF-SHA-256 (RFC 5869)
 * over caller-supplied salt and info, so callers need not run a KDF themselves.
 */
import type { KeyObject } from 'node:crypto';
import { KeyholdError } from '../../errors.js';
import { x25519Peer, x25519Shared } from '../../crypto/agreement/x25519.js';
import { hkdf } from '../../crypto/hkdf.js';
import type { ManagedKey } from '../managed-key.js';

export interface DeriveInput {
  peerPublicKey: Uint8Array | string;
  output: 'shared-secret' | 'aes256-key';
  salt?: Uint8Array | undefined;
  info?: Uint8Array | undefined;
  version?: number | undefined;
}

export function deriveSharedSecret(key: ManagedKey, input: DeriveInput): { secret: Uint8Array; version: number } {
  key.checkUsable();
  if (key.spec.kind !== 'agreement') throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot do key agreement`);
  const version = key.encryptionVersion(input.version);
  const { privateKey } = key.handles(version);
  if (privateKey === undefined) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', 'a public-only key cannot do key agreement');
  const shared = x25519Shared(privateKey as KeyObject, x25519Peer(input.peerPublicKey));
  if (input.output === 'shared-secret') return { secret: shared, version };
  try {
    return { secret: hkdf('sha256', shared, input.salt ?? new Uint8Array(), input.info ?? new Uint8Array(), 32), version };
  } finally {
    shared.fill(0);
  }
}
