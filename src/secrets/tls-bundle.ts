/**
 * TLS material as a secret: a certificate chain (leaf first) and the leaf's
 * private key, optionally a CA bundle. Checked before it is stored: every
 * PEM block parses, each certificate is signed by the next one in the
 * chain, and the private key is the leaf's (X509Certificate.checkPrivateKey).
 * Served as the files a web server expects: tls.crt, tls.key, ca.crt.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { KeyholdError } from '../errors.js';
import { utf8 } from '../crypto/bytes.js';

export const TLS_CERT_FILE = 'tls.crt';
export const TLS_KEY_FILE = 'tls.key';
export const TLS_CA_FILE = 'ca.crt';
const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const MAX_CHAIN = 10;

export interface TlsInput {
  /** PEM certificate chain, leaf first. */
  readonly certificate: string;
  /** PEM private key of the leaf (PKCS#8, PKCS#1 or SEC1). */
  readonly privateKey: string;
  /** PEM CA certificate(s) the workload should trust, optional. */
  readonly ca?: string | undefined;
}

const invalid = (why: string, cause?: unknown) => new KeyholdError('KH_SECRET_TLS_INVALID', `TLS material: ${why}`, cause === undefined ? undefined : { cause });

function certificates(pem: string, what: string): X509Certificate[] {
  const blocks = pem.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw invalid(`${what} holds no PEM certificate`);
  if (blocks.length > MAX_CHAIN) throw invalid(`${what} holds more than ${MAX_CHAIN} certificates`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw invalid(`certificate ${i + 1} of ${what} does not parse`, e);
    }
  });
}

/**
 * @returns the files to store and facts about the leaf (not secret)
 * @throws KeyholdError KH_SECRET_TLS_INVALID
 */
export function checkTlsBundle(input: TlsInput): { files: Record<string, Uint8Array>; notAfter: string; subject: string } {
  const chain = certificates(input.certificate, 'certificate');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: input.privateKey, format: 'pem' });
  } catch (e) {
    // The key's bytes may be in the parser's message: keep it out of the answer.
    throw invalid('the private key is not an unencrypted PEM private key', e);
  }
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) throw invalid('the private key does not belong to the leaf (first) certificate');
  for (let i = 0; i + 1 < chain.length; i++) {
    const cert = chain[i]!;
    const issuer = chain[i + 1]!;
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) throw invalid(`certificate ${i + 1} is not signed by certificate ${i + 2}: order the chain leaf first`);
  }
  const files: Record<string, Uint8Array> = {
    [TLS_CERT_FILE]: utf8(`${chain.map((c) => c.toString().trim()).join('\n')}\n`),
    // PKCS#8, whatever form came in: one format for every workload.
    [TLS_KEY_FILE]: utf8(key.export({ format: 'pem', type: 'pkcs8' }).toString()),
  };
  if (input.ca !== undefined && input.ca.trim() !== '') files[TLS_CA_FILE] = utf8(`${certificates(input.ca, 'ca').map((c) => c.toString().trim()).join('\n')}\n`);
  return { files, notAfter: new Date(leaf.validTo).toISOString(), subject: leaf.subject };
}
