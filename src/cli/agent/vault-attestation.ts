/**
 * The agent's check of the vault before anything is sent to it: a fresh
 * attestation document for a nonce of the agent's choosing, verified to the
 * AWS Nitro root (or a configured root), with the pinned PCRs; over HTTPS the
 * document must also bind the TLS certificate this very connection presented
 * (`user_data` = SHA-256 of its DER, as src/api/enclave/enclave-identity.ts
 * binds it), so a TLS-terminating impostor in front of a genuine enclave is
 * caught too.
 */
import { createHash, randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { AWS_NITRO_ROOT_G1 } from '../../attestation/nitro/aws-root.js';
import { verifyNitroDocument } from '../../attestation/nitro/verify.js';
import { AttestationError } from '../../attestation/errors.js';
import { CliError } from '../http-client.js';

export interface VaultPins {
  address: string;
  caFile?: string | undefined;
  expectPcrs: Record<string, string>;
  roots: readonly string[];
  maxAgeSeconds: number;
}

/** GET with the peer certificate of the connection that answered. */
function fetchWithPeer(url: URL, caFile: string | undefined): Promise<{ status: number; text: string; peerDer?: Buffer }> {
  const tls = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(url, { method: 'GET', timeout: 15_000, agent: false, ...(tls && caFile !== undefined && { ca: readFileSync(caFile) }) }, (res) => {
      const peer = tls ? (res.socket as TLSSocket).getPeerCertificate() : undefined;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ...(peer?.raw !== undefined && { peerDer: peer.raw }) }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new CliError('KH_CLI_UNREACHABLE', `cannot reach the vault at ${url.origin}: ${e.message}`)));
    req.end();
  });
}

function refused(why: string): CliError {
  return new CliError('KH_AGENT_VAULT_ATTESTATION_REFUSED', `the vault's attestation does not match the pin: ${why}`);
}

/**
 * Verifies the vault at `pins.address`; resolves to its PCR0 (hex) and, over
 * HTTPS, the SHA-256 (hex) of the TLS certificate the document binds, which
 * every later connection must present (pinned by the caller).
 * @throws CliError KH_AGENT_VAULT_ATTESTATION_REFUSED
 */
export async function verifyVault(pins: VaultPins): Promise<{ pcr0: string; certSha256?: string }> {
  const nonce = randomBytes(32);
  const url = new URL(`/v1/enclave/attestation?nonce=${nonce.toString('hex')}`, pins.address);
  const answer = await fetchWithPeer(url, pins.caFile);
  if (answer.status !== 200) throw refused(`GET /v1/enclave/attestation answered HTTP ${answer.status} (is enclave.provider set on the vault?)`);
  let document: Buffer;
  try {
    document = Buffer.from((JSON.parse(answer.text) as { attestation: string }).attestation, 'base64');
  } catch {
    throw refused('the attestation answer is not JSON with an attestation field');
  }
  const roots = [AWS_NITRO_ROOT_G1];
  for (const file of pins.roots) {
    try {
      roots.push(new X509Certificate(readFileSync(file)));
    } catch (e) {
      throw new CliError('KH_AGENT_CONFIG_INVALID', `vault.attestation.roots: ${file} is not a PEM certificate (${e instanceof Error ? e.message : String(e)})`, 2);
    }
  }
  let doc;
  try {
    doc = verifyNitroDocument(document, { trustedRoots: roots, expectedPcrs: Object.fromEntries(Object.entries(pins.expectPcrs).map(([i, h]) => [Number(i), h])), nonce, maxAgeMs: pins.maxAgeSeconds * 1000 });
  } catch (e) {
    // The detail (which PCR, which certificate) is the agent operator's to see: it stays on this machine.
    if (e instanceof AttestationError) throw refused(`${e.code}: ${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}`);
    throw e;
  }
  const pcr0 = Buffer.from(doc.pcrs.get(0) ?? new Uint8Array()).toString('hex');
  if (answer.peerDer === undefined) return { pcr0 };
  const bound = doc.userData;
  const presented = createHash('sha256').update(answer.peerDer).digest();
  if (bound === undefined || bound.length !== 32 || !timingSafeEqual(Buffer.from(bound), presented))
    throw refused('the TLS certificate this connection presented is not the one bound in the document (user_data)');
  return { pcr0, certSha256: presented.toString('hex') };
}
