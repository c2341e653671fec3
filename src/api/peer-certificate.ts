/**
 * The client certificate of an mTLS connection, as Keyhold uses it: the
 * identity (first SAN URI, else DNS name, else e-mail, else subject CN) and the
 * RFC 8705 thumbprint `x5t#S256` that certificate-bound tokens carry.
 * Computed once per connection: keep-alive connections make many requests.
 */
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface PeerCertificate {
  readonly identity: string;
  readonly thumbprint: string;
}

const cache = new WeakMap<Socket, PeerCertificate | null>();

function identityOf(subjectaltname: string | undefined, cn: string | undefined): string | undefined {
  const sans = (subjectaltname ?? '').split(/,\s*/).filter((s) => s.length > 0);
  for (const kind of ['URI:', 'DNS:', 'email:']) {
    const hit = sans.find((s) => s.startsWith(kind));
    if (hit !== undefined) return hit.slice(kind.length);
  }
  return cn;
}

/** The verified client certificate of this connection, or undefined (no TLS, none sent, or not trusted). */
export function peerCertificate(socket: Socket): PeerCertificate | undefined {
  const known = cache.get(socket);
  if (known !== undefined) return known ?? undefined;
  const tls = socket as Partial<TLSSocket>;
  let result: PeerCertificate | null = null;
  // Only a certificate that chained to the configured client CA counts (authorized).
  if (tls.encrypted === true && tls.authorized === true && typeof tls.getPeerCertificate === 'function') {
    const cert = tls.getPeerCertificate(false);
    const cn = Array.isArray(cert.subject?.CN) ? cert.subject.CN[0] : cert.subject?.CN;
    const identity = cert.raw === undefined ? undefined : identityOf(cert.subjectaltname, cn);
    if (identity !== undefined && identity.length > 0 && identity.length <= 256)
      result = { identity, thumbprint: createHash('sha256').update(cert.raw).digest('base64url') };
  }
  cache.set(socket, result);
  return result ?? undefined;
}
