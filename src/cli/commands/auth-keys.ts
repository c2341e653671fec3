/**
 * Client key pairs for key-bound sessions (docs/protocols.md §4-5): the public
 * JWK a login binds to, the machine-login signature, and how a login answer
 * is printed together with what its token is bound to.
 */
import { createPublicKey, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CliError } from '../http-client.js';
import { print, type OutputFormat } from '../output.js';
import type { CliIo } from '../cli-io.js';

/** The login answer (TokenBody in src/api/v1/auth/auth-schemas.ts). */
export interface LoginAnswer {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  sessionId: string;
  boundTo?: { jkt?: string; 'x5t#S256'?: string };
}

/** The public half of an Ed25519 / P-256 key as a JWK with only its defining members (RFC 7638 §3.2). */
export function publicJwk(key: KeyObject): JsonWebKey {
  const full = createPublicKey(key).export({ format: 'jwk' });
  return full.kty === 'EC' ? { kty: 'EC', crv: full.crv!, x: full.x!, y: full.y! } : { kty: 'OKP', crv: full.crv!, x: full.x! };
}

/**
 * Signs bytes the way the server's verifyClientSignature checks them:
 * Ed25519 over the message, or ECDSA P-256/SHA-256 as 64-byte r||s.
 * Returns base64url.
 */
export function signWithClientKey(key: KeyObject, message: Uint8Array): string {
  const signature = key.asymmetricKeyType === 'ed25519' ? sign(null, message, key) : sign('sha256', message, { key, dsaEncoding: 'ieee-p1363' });
  return signature.toString('base64url');
}

/**
 * The SPKI PEM of the key in `path` (a public key, or a private key whose
 * public half is taken); the private part never leaves this process.
 * @throws CliError KH_CLI_USAGE when the file is unreadable or holds no key.
 */
export function readPublicKeyPem(path: string, flag: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CliError('KH_CLI_USAGE', `${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 2);
  }
  try {
    return createPublicKey({ key: bytes, format: 'pem' }).export({ type: 'spki', format: 'pem' }) as string;
  } catch {
    throw new CliError('KH_CLI_USAGE', `${flag}: ${path} is not a PEM public key`, 2);
  } finally {
    bytes.fill(0);
  }
}

/**
 * Prints a login answer: the bare token in human mode (so it can go straight
 * into KEYHOLD_TOKEN), the whole answer with --format json. What the token
 * needs besides itself goes to stderr, so stdout stays the token.
 */
export function printLogin(io: CliIo, format: OutputFormat, answer: LoginAnswer, hint?: string): void {
  if (format === 'json') print(io.stdout, 'json', answer);
  else io.stdout.write(`${answer.accessToken}\n`);
  if (hint !== undefined) io.stderr.write(`${hint}\n`);
}

/** The stderr hint for a token bound to a key held in `file`. */
export function signingKeyHint(answer: LoginAnswer, file: string): string | undefined {
  const jkt = answer.boundTo?.jkt;
  if (jkt === undefined) return undefined;
  return `The token is bound to key ${jkt}: every request must be signed with it, --signing-key ${file} (or KEYHOLD_SIGNING_KEY=${file}).`;
}
