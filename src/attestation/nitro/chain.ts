/**
 * Certificate chain of a Nitro attestation document: leaf `certificate`, then
 * `cabundle` in reverse (it is ordered root first), ending at a certificate that
 * is byte-for-byte one of the trusted roots. Every link is checked with
 * node:crypto (issuer name and signature), every issuer must be a CA, and every
 * certificate must be valid at each of the given instants.
 */
import { createHash, type X509Certificate } from 'node:crypto';
import { fail } from '../errors.js';

/**
 * Chains whose links (issuer names, CA flags, signatures) already verified,
 * by SHA-256 of the exact DER of every certificate on the path. Nitro
 * documents from one enclave share their chain for hours, and the four ECDSA
 * P-384 link checks are most of a verification. Only the link checks are
 * skipped: the anchor and every validity window are checked on every call.
 */
const verifiedLinks = new Set<string>();
const MAX_CACHED_CHAINS = 1024;

function pathKey(path: readonly X509Certificate[]): string {
  const h = createHash('sha256');
  for (const cert of path) h.update(createHash('sha256').update(cert.raw).digest());
  return h.digest('hex');
}

/** Forgets every cached chain (tests, and a bench that measures without the cache). */
export function clearChainCache(): void {
  verifiedLinks.clear();
}

function validityWindow(cert: X509Certificate, what: string): [number, number] {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (Number.isNaN(from) || Number.isNaN(to)) fail('KH_ATTESTATION_CHAIN_INVALID', `${what}: unreadable validity dates`);
  return [from, to];
}

/**
 * @param leaf the document's `certificate`
 * @param cabundle the document's `cabundle`, root first
 * @param trustedRoots the anchors; the top of cabundle must equal one of them
 * @param instants times (ms) at which every certificate must be valid
 * @throws AttestationError KH_ATTESTATION_CHAIN_INVALID, KH_ATTESTATION_CERT_EXPIRED
 */
export function verifyChain(
  leaf: X509Certificate,
  cabundle: readonly X509Certificate[],
  trustedRoots: readonly X509Certificate[],
  instants: readonly number[],
): void {
  const path = [leaf, ...[...cabundle].reverse()];
  const key = pathKey(path);
  for (let i = 0; !verifiedLinks.has(key) && i + 1 < path.length; i++) {
    const child = path[i] as X509Certificate;
    const parent = path[i + 1] as X509Certificate;
    const what = i === 0 ? 'leaf' : `cabundle[${cabundle.length - i}]`;
    let ok = false;
    try {
      ok = parent.ca && child.checkIssued(parent) && child.verify(parent.publicKey);
    } catch (e) {
      fail('KH_ATTESTATION_CHAIN_INVALID', `${what}: link check failed`, e);
    }
    if (!ok) fail('KH_ATTESTATION_CHAIN_INVALID', `${what} is not issued by the next certificate of cabundle`);
    if (i + 2 === path.length) {
      if (verifiedLinks.size >= MAX_CACHED_CHAINS) verifiedLinks.clear();
      verifiedLinks.add(key);
    }
  }

  const top = path[path.length - 1] as X509Certificate;
  const anchor = trustedRoots.find((r) => Buffer.compare(r.raw, top.raw) === 0);
  if (anchor === undefined) fail('KH_ATTESTATION_CHAIN_INVALID', 'cabundle does not start with a trusted root');

  path.forEach((cert, i) => {
    const what = i === 0 ? 'leaf' : `cabundle[${cabundle.length - i}]`;
    const [from, to] = validityWindow(cert, what);
    for (const t of instants) {
      if (t < from || t > to) fail('KH_ATTESTATION_CERT_EXPIRED', `${what} is not valid at ${new Date(t).toISOString()}`);
    }
  });
}
