/**
 * The API port's TLS in VSSM mode (compat.vssm.rpcCertificate set), as VSSM
 * boots (VSSM's "Manual Bootstrapping"; docs/compat.md#vssm, "Boot sequence"):
 * - until the node holds the private key of rpcCertificate it serves a
 *   throwaway self-signed certificate (clients use curl -k for the one call
 *   that makes sense then: bootstrap, which proves itself by carrying that key);
 * - from the moment the key is known (bootstrap, or loaded from the barrier
 *   after any unseal) new connections get rpcCertificate.
 * Client certificates are requested from the start and verified against
 * clientTrustStore; connections without one are still accepted (so /v1
 * token clients and health probes work), and the VSSM routes refuse them.
 */
import type { KeyObject } from 'node:crypto';
import type { Server as NetServer } from 'node:net';
import type { Server as HttpsServer } from 'node:https';
import { selfSignedTls } from '../../../crypto/self-signed-tls.js';
import { pemCertificate, type VssmSection } from '../../../config/vssm-config.js';
import type { TransportKey } from '../../../cluster/transport-key.js';

const TLS_BASE = { minVersion: 'TLSv1.2' } as const;

function clientCas(vssm: VssmSection): string[] {
  return vssm.clientTrustStore.map(pemCertificate);
}

/** Fastify's `https` options for a VSSM node before bootstrap. */
export async function vssmHttpsOptions(vssm: VssmSection): Promise<Record<string, unknown>> {
  const { cert, key } = await selfSignedTls('keyhold-bootstrap');
  return { ...TLS_BASE, cert, key, ca: clientCas(vssm), requestCert: true, rejectUnauthorized: false };
}

/** Serves rpcCertificate with its private key on new connections (`server` is the HTTPS server Fastify made from vssmHttpsOptions). */
export function installTransportTls(server: NetServer, vssm: VssmSection, key: KeyObject): void {
  const https = server as Partial<HttpsServer>;
  if (typeof https.setSecureContext !== 'function') throw new TypeError('the API server is not an HTTPS server');
  https.setSecureContext({
    ...TLS_BASE,
    cert: pemCertificate(vssm.rpcCertificate!),
    key: key.export({ format: 'pem', type: 'pkcs8' }),
    ca: clientCas(vssm),
  });
}

/**
 * Loads the transport key from the barrier whenever the vault is unsealed and
 * the key is not known yet (an automatic seal's restart, or an operator's
 * /v1/sys/unseal). Polls: the seal has no unseal event, and this costs a flag
 * check per second. @returns stop
 */
export function watchTransportKey(transport: TransportKey, sealed: () => boolean, onError: (e: unknown) => void, everyMs = 1000): () => void {
  const timer = setInterval(() => {
    if (sealed() || transport.privateKey !== undefined) return;
    transport.load().catch(onError);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
