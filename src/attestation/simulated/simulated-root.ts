/**
 * The simulated enclave's PKI: a P-384 root CA created on first start (or
 * supplied by the operator) and a short-lived leaf certificate per process,
 * as the Nitro hypervisor issues one per enclave. Certificates are made with
 * @peculiar/x509 over WebCrypto; node:crypto signs the documents.
 *
 * The root key is a development trust anchor: it lives in a file (mode 0600,
 * as its certificate; looser existing files are tightened with a warning)
 * and anyone holding it can forge documents. That is why verifiers trust it
 * only when configured to (docs/protocols.md §2).
 */
import { KeyObject, X509Certificate, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

const ALG = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' } as const;
const ROOT_YEARS = 10;
/** Nitro leaf certificates live about three hours; ours live a day and are re-issued before they expire. */
export const LEAF_LIFETIME_MS = 24 * 3600 * 1000;

export const ROOT_CERT_FILE = 'root-cert.pem';
export const ROOT_KEY_FILE = 'root-key.pem';

// @peculiar/x509 is typed against the DOM's WebCrypto; node's is the same API under other names.
type X509Crypto = Parameters<typeof x509.cryptoProvider.set>[0];
type X509KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
type X509Key = X509KeyPair['privateKey'];
x509.cryptoProvider.set(webcrypto as unknown as X509Crypto);

export interface SimulatedRoot {
  readonly certificate: X509Certificate;
  readonly certificatePem: string;
  readonly privateKey: webcrypto.CryptoKey;
}

export interface SimulatedLeaf {
  readonly certificate: X509Certificate;
  readonly privateKey: KeyObject;
  readonly notAfter: number;
}

function serial(): string {
  // Positive 16-byte serial (RFC 5280 §4.1.2.2: up to 20 octets, non-negative).
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] as number) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

async function createRoot(dir: string): Promise<void> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=keyhold-sim-root, O=Keyhold simulated enclave',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + ROOT_YEARS * 365 * 86400 * 1000),
    signingAlgorithm: ALG,
    keys: keys as unknown as X509KeyPair,
    extensions: [
      new x509.BasicConstraintsExtension(true, 2, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, ROOT_KEY_FILE);
  writeFileSync(keyPath, `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PRIVATE KEY-----\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(keyPath, 0o600);
  // The certificate is public, but 0600 like everything in the folder: whoever may replace it chooses what this node's documents chain to.
  const certPath = join(dir, ROOT_CERT_FILE);
  writeFileSync(certPath, cert.toString('pem') + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(certPath, 0o600);
}

/** Tightens a root file others can read or write to 0600 (issue 15 L7), with a process warning. */
function tighten(path: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  chmodSync(path, 0o600);
  process.emitWarning(`${path} was mode ${mode.toString(8)}, readable or writable by others than the vault's user; it is now 600`, { type: 'KeyholdWarning' });
}

/** Loads the root from `dir`, creating it on first use. */
export async function loadOrCreateRoot(dir: string): Promise<SimulatedRoot> {
  const certPath = join(dir, ROOT_CERT_FILE);
  const keyPath = join(dir, ROOT_KEY_FILE);
  if (!existsSync(certPath) && !existsSync(keyPath)) await createRoot(dir);
  tighten(certPath);
  tighten(keyPath);
  const certificatePem = readFileSync(certPath, 'utf8');
  const keyPem = readFileSync(keyPath, 'utf8');
  const der = Buffer.from(keyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
  const certificate = new X509Certificate(certificatePem);
  if (!certificate.ca) throw new Error(`${certPath} is not a CA certificate`);
  return { certificate, certificatePem, privateKey };
}

/** Issues a leaf certificate for this enclave instance (the key that signs documents). */
export async function issueLeaf(root: SimulatedRoot, moduleId: string): Promise<SimulatedLeaf> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const notAfter = Math.min(now + LEAF_LIFETIME_MS, new Date(root.certificate.validTo).getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${moduleId}, O=Keyhold simulated enclave`,
    issuer: new x509.X509Certificate(root.certificate.raw).subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(notAfter),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey as unknown as X509Key,
    signingKey: root.privateKey as unknown as X509Key,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  return { certificate: new X509Certificate(Buffer.from(cert.rawData)), privateKey: KeyObject.from(keys.privateKey), notAfter };
}
