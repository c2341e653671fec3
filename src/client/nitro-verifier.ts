/**
 * The SDK's default attestation check (Node: it uses node:crypto's X.509):
 * the document must chain to a trusted root (the AWS Nitro root unless other
 * roots are given, e.g. a dev server's simulated root), carry the client's
 * nonce, be younger than maxAgeMs, match every pinned PCR, and bind the
 * channel key in public_key. Pinning is mandatory: without expected PCRs any
 * enclave built by anyone would pass.
 */
import { timingSafeEqual, X509Certificate } from 'node:crypto';
import { verifyNitroDocument } from '../attestation/nitro/verify.js';
import { AWS_NITRO_ROOT_G1 } from '../attestation/nitro/aws-root.js';
import type { AttestationVerifier } from './channel.js';

export interface PinnedMeasurements {
  /** PCR index -> hex value the server must report; at least one. */
  readonly expectedPcrs: Readonly<Record<number, string>>;
  /** PEM text of extra roots to trust (the AWS Nitro root is always trusted unless replaceRoots). */
  readonly trustedRoots?: readonly string[];
  /** Trust only `trustedRoots`, not the AWS root (tests against a simulated enclave). */
  readonly replaceRoots?: boolean;
  /** Refuse documents older than this (default 5 minutes). */
  readonly maxAgeMs?: number;
  /** The document's module_id must start with this. */
  readonly moduleIdPrefix?: string;
}

export function nitroAttestationVerifier(pin: PinnedMeasurements): AttestationVerifier {
  if (Object.keys(pin.expectedPcrs).length === 0) throw new TypeError('expectedPcrs must pin at least one PCR');
  const extra = (pin.trustedRoots ?? []).map((pem) => new X509Certificate(pem));
  const trustedRoots = pin.replaceRoots === true ? extra : [AWS_NITRO_ROOT_G1, ...extra];
  if (trustedRoots.length === 0) throw new TypeError('replaceRoots needs at least one trusted root');
  return ({ document, nonce, publicKey }) => {
    const doc = verifyNitroDocument(document, { expectedPcrs: pin.expectedPcrs, nonce, trustedRoots, now: new Date(), maxAgeMs: pin.maxAgeMs ?? 5 * 60 * 1000 });
    if (doc.publicKey === undefined || doc.publicKey.length !== publicKey.length || !timingSafeEqual(doc.publicKey, publicKey)) {
      throw new Error('the document does not bind the announced channel key');
    }
    if (pin.moduleIdPrefix !== undefined && !doc.moduleId.startsWith(pin.moduleIdPrefix)) throw new Error('module_id does not match');
  };
}
