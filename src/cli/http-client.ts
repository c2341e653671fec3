/**
 * The CLI's HTTP client: node:http/https with optional CA and client
 * certificate (mTLS), JSON in and out, and Keyhold's error body turned into
 * a CliError carrying the server's code.
 *
 * With a signing key (--signing-key / KEYHOLD_SIGNING_KEY) every request that
 * carries a token is signed per docs/protocols.md §5 (RFC 9421 + RFC 9530
 * Content-Digest, src/auth/http-signature.ts): key-bound access tokens
 * (`boundTo.jkt`) are refused without it.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { E2eChannel } from '../client/channel.js';

export interface ClientOptions {
  address: string;
  token?: string | undefined;
  caCert?: string | undefined;
  clientCert?: string | undefined;
  clientKey?: string | undefined;
  /** PEM private key file (Ed25519 or P-256), or the key itself (keyhold agent's in-memory key), that signs every request carrying a token. */
  signingKey?: string | KeyObject | undefined;
  /**
   * SHA-256 (hex) of the only TLS certificate the server may present (keyhold
   * agent pins the certificate the vault's attestation document bound).
   */
  pinnedCertSha256?: string | undefined;
  /** Send requests through the end-to-end channel after verifying the node's attestation against these pins. */
  e2e?: { expectedPcrs: Record<number, string>; rootFiles: string[] } | undefined;
  /** Where loaded keys and verified channels are kept; one per CLI run (default: one for the process). */
  session?: ClientSession | undefined;
}

/**
 * What the client keeps between requests: signing keys loaded from files and
 * verified end-to-end channels. One CLI run holds one session, so a run never
 * sees a key file or an attestation another run (in the same process) loaded.
 */
export interface ClientSession {
  readonly keys: Map<string, KeyObject>;
  readonly channels: Map<string, Promise<E2eChannel>>;
}

export function newClientSession(): ClientSession {
  return { keys: new Map(), channels: new Map() };
}

/** For callers that give no session (keyhold agent, one per process). */
const processSession = newClientSession();

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/**
 * Loads an Ed25519 or P-256 private key from a PEM file (PKCS#8, or SEC1 for
 * P-256), for request signing, machine login and --bind-key. The file bytes
 * are wiped once the key object holds them.
 * @throws CliError KH_CLI_USAGE (exit 2) when the file cannot be read or is not such a key.
 */
export function loadPrivateKey(path: string, flag: string, session: ClientSession = processSession): KeyObject {
  const cached = session.keys.get(path);
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
  session.keys.set(path, key);
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
      const privateKey = typeof options.signingKey === 'string' ? loadPrivateKey(options.signingKey, '--signing-key', options.session) : options.signingKey;
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
  if (options.e2e !== undefined) {
    const channel = await e2eChannel(options);
    const { host: _host, 'content-length': _length, 'content-type': _type, ...inner } = headers;
    try {
      const answer = await channel.send({ method, path: `${url.pathname}${url.search}`, headers: inner, ...(body !== undefined && { body }) });
      return { status: answer.status, body: answer.body ?? undefined };
    } catch (e) {
      if (e instanceof CliError) throw e;
      const code = (e as { code?: unknown }).code;
      throw new CliError(typeof code === 'string' ? code : 'KH_CLI_UNREACHABLE', e instanceof Error ? e.message : String(e));
    }
  }
  const raw = await send(options, method, url, headers, payload);
  let parsed: unknown = raw.text;
  try {
    parsed = raw.text === '' ? undefined : JSON.parse(raw.text);
  } catch {
    /* keep text */
  }
  return { status: raw.status, body: parsed };
}

/** One verified channel per address for the session (one CLI run); its fetch is this file's transport, so --ca-cert applies. */
function e2eChannel(options: ClientOptions): Promise<E2eChannel> {
  const pin = options.e2e!;
  if (Object.keys(pin.expectedPcrs).length === 0) throw new CliError('KH_CLI_USAGE', '--e2e needs at least one --expect-pcr', 2);
  const channels = (options.session ?? processSession).channels;
  let channel = channels.get(options.address);
  if (channel === undefined) {
    channel = (async () => {
      const { E2eChannel: Channel } = await import('../client/channel.js');
      const { nitroAttestationVerifier } = await import('../client/nitro-verifier.js');
      const roots = pin.rootFiles.map((f) => {
        try {
          return readFileSync(f, 'utf8');
        } catch (e) {
          throw new CliError('KH_CLI_USAGE', `--attestation-root: cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 2);
        }
      });
      const adapter: typeof fetch = async (input, init) => {
        const target = new URL(String(input));
        const raw = await send(options, init?.method ?? 'GET', target, { host: target.host, accept: 'application/json', ...((init?.headers as Record<string, string> | undefined) ?? {}) }, typeof init?.body === 'string' ? Buffer.from(init.body) : undefined);
        return new Response(raw.text, { status: raw.status, headers: { 'content-type': 'application/json' } });
      };
      let verify;
      try {
        verify = nitroAttestationVerifier({ expectedPcrs: pin.expectedPcrs, trustedRoots: roots });
      } catch (e) {
        throw new CliError('KH_CLI_USAGE', `--attestation-root: not a PEM certificate (${e instanceof Error ? e.message : String(e)})`, 2);
      }
      return new Channel({ baseUrl: options.address, verify, fetch: adapter });
    })();
    channels.set(options.address, channel);
  }
  return channel;
}

/** A PEM file named by a TLS option. @throws CliError KH_CLI_USAGE (exit 2) when it cannot be read. */
function tlsFile(path: string | undefined, flag: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CliError('KH_CLI_USAGE', `${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 2);
  }
}

/**
 * Certificate verification results (OpenSSL's X509_V_ERR_* names, as Node
 * gives them in `code`) that mean "this client does not trust the chain":
 * fixed by giving the issuing CA, not by checking the network.
 */
const UNTRUSTED_CHAIN: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
]);

/** A failed request said in the operator's terms: a TLS trust problem names the TLS code and the option that fixes it. */
function connectionError(options: ClientOptions, url: URL, e: NodeJS.ErrnoException): CliError {
  const code = typeof e.code === 'string' ? e.code : '';
  const what = `${code}: ${e.message}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return new CliError('KH_CLI_TLS_UNTRUSTED', `the server's TLS certificate is not valid for ${url.hostname} (${what}): connect by a name or address the certificate lists (--address or KEYHOLD_ADDR)`);
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return new CliError('KH_CLI_TLS_UNTRUSTED', `the server's TLS certificate is not valid at this time (${what}): renew it on the server, or check this machine's clock`);
  if (UNTRUSTED_CHAIN.has(code)) {
    const fix =
      options.caCert === undefined
        ? 'pass the CA certificate that issued it with --ca-cert <file> or KEYHOLD_CACERT'
        : `it is not issued by a CA in ${options.caCert} (--ca-cert or KEYHOLD_CACERT): give the CA that issued it`;
    return new CliError('KH_CLI_TLS_UNTRUSTED', `the server at ${options.address} presented a TLS certificate this client does not trust (${what}): ${fix}`);
  }
  return new CliError('KH_CLI_UNREACHABLE', `cannot reach Keyhold at ${options.address}: ${e.message}`);
}

function send(options: ClientOptions, method: string, url: URL, headers: Record<string, string>, payload: Buffer | undefined): Promise<{ status: number; text: string }> {
  const tls = url.protocol === 'https:';
  // Read before the request, so an unreadable file is a usage error rather than a failed connection.
  const material = tls ? { ca: tlsFile(options.caCert, '--ca-cert'), cert: tlsFile(options.clientCert, '--client-cert'), key: tlsFile(options.clientKey, '--client-key') } : {};
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(
      url,
      {
        method,
        headers,
        timeout: 30_000,
        ...material,
        // A pinned connection is never a pooled one that was opened without the pin.
        ...(tls && options.pinnedCertSha256 !== undefined && { agent: false, checkServerIdentity: pinnedIdentity(options.pinnedCertSha256) }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(connectionError(options, url, e)));
    req.end(payload);
  });
}

/** Node's host name check, then the certificate must be exactly the pinned one. */
function pinnedIdentity(pin: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const usual = checkServerIdentity(host, cert);
    if (usual !== undefined) return usual;
    return createHash('sha256').update(cert.raw).digest('hex') === pin ? undefined : new Error('the server presented another TLS certificate than the one its attestation bound');
  };
}

/** Returns the body of a 2xx answer, or throws the server's error as a CliError. */
export async function call(options: ClientOptions, method: string, path: string, body?: unknown): Promise<unknown> {
  const answer = await request(options, method, path, body);
  if (answer.status >= 200 && answer.status < 300) return answer.body;
  const err = (answer.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (typeof err?.code === 'string') throw new CliError(err.code, typeof err.message === 'string' ? err.message : 'request failed');
  throw new CliError('KH_CLI_HTTP', `unexpected HTTP ${answer.status} from ${options.address}`);
}
