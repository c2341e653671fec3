/**
 * The CLI's HTTP client: node:http/https with optional CA and client
 * certificate (mTLS), JSON in and out, and Keyhold's error body turned into
 * a CliError carrying the server's code.
 *
 * With a signing key (--signing-key / KEYHOLD_SIGNING_KEY) every request that
 * carries a token is signed per PROTOCOLS.md §5 (RFC 9421 + RFC 9530
 * Content-Digest, src/auth/http-signature.ts): key-bound access tokens
 * (`boundTo.jkt`) are refused without it.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { createPrivateKey, type KeyObject } from 'node:crypto';

export interface ClientOptions {
  address: string;
  token?: string | undefined;
  caCert?: string | undefined;
  clientCert?: string | undefined;
  clientKey?: string | undefined;
  /** PEM private key file (Ed25519 or P-256) that signs every request carrying a token. */
  signingKey?: string | undefined;
}

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const keyCache = new Map<string, KeyObject>();

/**
 * Loads an Ed25519 or P-256 private key from a PEM file (PKCS#8, or SEC1 for
 * P-256), for request signing, machine login and --bind-key. The file bytes
 * are wiped once the key object holds them.
 * @throws CliError KH_CLI_USAGE (exit 2) when the file cannot be read or is not such a key.
 */
export function loadPrivateKey(path: string, flag: string): KeyObject {
  const cached = keyCache.get(path);
  if (cached !== undefined) return cached;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CliError('KH_CLI_USAGE', `${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 2);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: bytes, format: 'pem' });
  } catch {
    throw new CliError('KH_CLI_USAGE', `${flag}: ${path} is not an unencrypted PEM private key`, 2);
  } finally {
    bytes.fill(0);
  }
  const ok = key.asymmetricKeyType === 'ed25519' || (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1');
  if (!ok) throw new CliError('KH_CLI_USAGE', `${flag}: ${path} must be an Ed25519 or P-256 private key`, 2);
  keyCache.set(path, key);
  return key;
}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export async function request(options: ClientOptions, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  let url: URL;
  try {
    url = new URL(path, options.address);
  } catch {
    throw new CliError('KH_CLI_USAGE', `invalid address ${options.address}`, 2);
  }
  const tls = url.protocol === 'https:';
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  // Host is set explicitly so the signed @target-uri and what the server
  // rebuilds from Host (hooks.ts) are the same string.
  const headers: Record<string, string> = { accept: 'application/json', host: url.host };
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  if (options.token !== undefined && options.token !== '') {
    headers.authorization = `Bearer ${options.token}`;
    if (options.signingKey !== undefined) {
      const privateKey = loadPrivateKey(options.signingKey, '--signing-key');
      // Loaded only when needed: most commands never sign.
      const { signRequest } = await import('../auth/http-signature.js');
      // A fresh nonce per request (signRequest's default); the signature covers the exact body bytes.
      const signed = signRequest({
        method,
        targetUri: `${url.protocol}//${url.host}${url.pathname}${url.search}`,
        authorization: headers.authorization,
        ...(payload !== undefined ? { body: payload } : {}),
        privateKey,
      });
      Object.assign(headers, signed);
    }
  }
  const file = (f: string | undefined) => (f === undefined ? undefined : readFileSync(f));
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(
      url,
      {
        method,
        headers,
        timeout: 30_000,
        ...(tls ? { ca: file(options.caCert), cert: file(options.clientCert), key: file(options.clientKey) } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            /* keep text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new CliError('KH_CLI_UNREACHABLE', `cannot reach Keyhold at ${options.address}: ${e.message}`)));
    req.end(payload);
  });
}

/** Returns the body of a 2xx answer, or throws the server's error as a CliError. */
export async function call(options: ClientOptions, method: string, path: string, body?: unknown): Promise<unknown> {
  const answer = await request(options, method, path, body);
  if (answer.status >= 200 && answer.status < 300) return answer.body;
  const err = (answer.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (typeof err?.code === 'string') throw new CliError(err.code, typeof err.message === 'string' ? err.message : 'request failed');
  throw new CliError('KH_CLI_HTTP', `unexpected HTTP ${answer.status} from ${options.address}`);
}
