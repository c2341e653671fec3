/**
 * Typed client for Keyhold's /v1 API. Requests go straight over HTTPS, or
 * with `e2e` through the end-to-end channel after the server's attestation
 * has been verified against pinned measurements. With `signingKey` every
 * request is signed (RFC 9421, docs/protocols.md §5) for tokens bound to that key.
 *
 * No static Node imports: request signing and the default Nitro verifier are
 * loaded only when used, so the rest runs in browsers (pass your own
 * `e2e.verify` there).
 */
import type { KeyObject } from 'node:crypto';
import { E2eChannel, type AttestationVerifier, type ChannelRequest } from './channel.js';
import { KeyholdClientError } from './client-error.js';
import { asBytes, fromBase64, toBase64, utf8 } from './encoding.js';
import type { PinnedMeasurements } from './nitro-verifier.js';

export interface KeyholdClientOptions {
  /** The server's origin as the server sees it, e.g. https://vault.example:8080 (also the @target-uri authority of signatures). */
  readonly baseUrl: string;
  /** Root token or access token; a function is called for every request (for renewal). */
  readonly token?: string | (() => string | Promise<string>);
  /** Ed25519 or P-256 key a bound token is bound to; every request is then signed. */
  readonly signingKey?: KeyObject;
  /** Send every request through the end-to-end channel, after verifying the server's attestation. */
  readonly e2e?: PinnedMeasurements | { readonly verify: AttestationVerifier };
  readonly fetch?: typeof fetch;
}

export interface KeyInfo {
  readonly name: string;
  readonly type: string;
  readonly latestVersion: number;
  readonly exportable: boolean;
  readonly [field: string]: unknown;
}

export interface EncryptOptions {
  readonly associatedData?: Uint8Array | string;
  readonly context?: Readonly<Record<string, string>>;
  readonly version?: number;
}

type Json = Record<string, unknown>;

export class KeyholdClient {
  readonly #options: KeyholdClientOptions;
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;
  #channel: Promise<E2eChannel> | undefined;

  constructor(options: KeyholdClientOptions) {
    this.#options = options;
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    // Refuse a channel that would trust any enclave, at construction rather than on first use.
    const e2e = options.e2e;
    if (e2e !== undefined && !('verify' in e2e) && Object.keys(e2e.expectedPcrs).length === 0) throw new TypeError('e2e.expectedPcrs must pin at least one PCR');
  }

  #makeChannel(): Promise<E2eChannel> {
    const e2e = this.#options.e2e;
    if (e2e === undefined) throw new TypeError('e2e is not configured');
    this.#channel ??= (async () => {
      const verify = 'verify' in e2e ? e2e.verify : (await import('./nitro-verifier.js')).nitroAttestationVerifier(e2e);
      return new E2eChannel({ baseUrl: this.#baseUrl, verify, fetch: this.#fetch });
    })();
    return this.#channel;
  }

  /** Verifies the server's attestation now (otherwise done before the first e2e request). */
  async connect(): Promise<void> {
    await (await this.#makeChannel()).connect();
  }

  /** Any /v1 call: `request('POST', '/v1/keys', {...})`. Throws KeyholdClientError for non-2xx answers. */
  async request<T = unknown>(method: string, path: string, body?: Json): Promise<T> {
    const headers: Record<string, string> = {};
    const token = typeof this.#options.token === 'function' ? await this.#options.token() : this.#options.token;
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (this.#options.signingKey !== undefined) {
      if (token === undefined) throw new TypeError('signingKey needs a token to sign');
      const { signRequest } = await import('../auth/http-signature.js');
      Object.assign(
        headers,
        signRequest({
          method,
          targetUri: `${this.#baseUrl}${path}`,
          authorization: `Bearer ${token}`,
          privateKey: this.#options.signingKey,
          ...(payload !== undefined && { body: utf8(payload) }),
        }),
      );
    }
    const answer = this.#options.e2e !== undefined ? await this.#viaChannel({ method, path, headers, ...(body !== undefined && { body }) }) : await this.#direct(method, path, headers, payload);
    if (answer.status < 200 || answer.status > 299) {
      const error = (answer.body as { error?: { code?: unknown; message?: unknown; requestId?: unknown } } | null)?.error;
      throw new KeyholdClientError(typeof error?.code === 'string' ? error.code : 'KH_CLIENT_RESPONSE_INVALID', typeof error?.message === 'string' ? error.message : `HTTP ${answer.status}`, {
        status: answer.status,
        ...(typeof error?.requestId === 'string' && { requestId: error.requestId }),
      });
    }
    return answer.body as T;
  }

  async #viaChannel(request: ChannelRequest): Promise<{ status: number; body: unknown }> {
    return (await this.#makeChannel()).send(request);
  }

  async #direct(method: string, path: string, headers: Record<string, string>, payload: string | undefined): Promise<{ status: number; body: unknown }> {
    const res = await this.#fetch(`${this.#baseUrl}${path}`, {
      method,
      headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(payload !== undefined && { body: payload }),
    });
    const text = await res.text();
    let body: unknown = null;
    if (text.length > 0) {
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        body = text;
      }
    }
    return { status: res.status, body };
  }

  // --- keys -----------------------------------------------------------------

  createKey(name: string, type: string, options: { exportable?: boolean; description?: string; tags?: Record<string, string> } = {}): Promise<KeyInfo> {
    return this.request('POST', '/v1/keys', { name, type, ...options });
  }

  getKey(name: string): Promise<KeyInfo> {
    return this.request('GET', `/v1/keys/${encodeURIComponent(name)}`);
  }

  async listKeys(): Promise<string[]> {
    const answer = await this.request<{ keys: Array<string | { name: string }> }>('GET', '/v1/keys');
    return answer.keys.map((k) => (typeof k === 'string' ? k : k.name));
  }

  rotateKey(name: string): Promise<KeyInfo> {
    return this.request('POST', `/v1/keys/${encodeURIComponent(name)}/rotate`, {});
  }

  #op<T>(name: string, op: string, body: Json): Promise<T> {
    return this.request<T>('POST', `/v1/keys/${encodeURIComponent(name)}/${op}`, body);
  }

  async encrypt(name: string, plaintext: Uint8Array | string, options: EncryptOptions = {}): Promise<string> {
    const answer = await this.#op<{ ciphertext: string }>(name, 'encrypt', { plaintext: toBase64(asBytes(plaintext)), ...aad(options), ...(options.version !== undefined && { version: options.version }) });
    return answer.ciphertext;
  }

  async decrypt(name: string, ciphertext: string, options: Omit<EncryptOptions, 'version'> = {}): Promise<Uint8Array> {
    const answer = await this.#op<{ plaintext: string }>(name, 'decrypt', { ciphertext, ...aad(options) });
    return fromBase64(answer.plaintext);
  }

  async rewrap(name: string, ciphertext: string, options: EncryptOptions = {}): Promise<string> {
    return (await this.#op<{ ciphertext: string }>(name, 'rewrap', { ciphertext, ...aad(options) })).ciphertext;
  }

  async generateDataKey(name: string, options: { bits?: 128 | 256 | 512; plaintext?: boolean } = {}): Promise<{ ciphertext: string; plaintext?: Uint8Array }> {
    const answer = await this.#op<{ ciphertext: string; plaintext?: string }>(name, 'datakey', { ...options });
    return { ciphertext: answer.ciphertext, ...(answer.plaintext !== undefined && { plaintext: fromBase64(answer.plaintext) }) };
  }

  async sign(name: string, message: Uint8Array | string, options: Json = {}): Promise<string> {
    return (await this.#op<{ signature: string }>(name, 'sign', { input: toBase64(asBytes(message)), ...options })).signature;
  }

  async verify(name: string, message: Uint8Array | string, signature: string, options: Json = {}): Promise<boolean> {
    return (await this.#op<{ valid: boolean }>(name, 'verify', { input: toBase64(asBytes(message)), signature, ...options })).valid;
  }

  async hmac(name: string, message: Uint8Array | string): Promise<string> {
    return (await this.#op<{ hmac: string }>(name, 'hmac', { input: toBase64(asBytes(message)) })).hmac;
  }

  async verifyHmac(name: string, message: Uint8Array | string, hmac: string): Promise<boolean> {
    return (await this.#op<{ valid: boolean }>(name, 'verify-hmac', { input: toBase64(asBytes(message)), hmac })).valid;
  }

  publicKey(name: string): Promise<Json> {
    return this.request('GET', `/v1/keys/${encodeURIComponent(name)}/public-key`);
  }

  async random(bytes: number): Promise<Uint8Array> {
    return fromBase64((await this.request<{ random: string }>('POST', '/v1/sys/tools/random', { bytes })).random);
  }
}

function aad(options: Omit<EncryptOptions, 'version'>): Json {
  return {
    ...(options.associatedData !== undefined && { associatedData: toBase64(asBytes(options.associatedData)) }),
    ...(options.context !== undefined && { context: options.context }),
  };
}
