/**
 * The client half of the end-to-end channel (docs/protocols.md §1). Before the
 * first request it fetches a fresh attestation document with its own nonce
 * and hands it to `verify` — which checks the signature chain and pinned
 * PCRs — and it sends nothing unless that succeeds and the document binds the
 * very channel key it will encrypt to. Uses fetch and @noble/* only: no Node
 * APIs, so it runs in browsers and workers.
 */
import { nobleChannelSuite } from '../crypto/e2e/noble-suite.js';
import { ChannelEnvelopeError, openResponse, sealRequest, type InnerResponse, type ResponseEnvelope } from '../crypto/e2e/protocol.js';
import { KeyholdClientError } from './client-error.js';
import { fromBase64 } from './encoding.js';

export interface AttestationToVerify {
  /** The COSE_Sign1 document. */
  readonly document: Uint8Array;
  /** The nonce the client sent; the document must carry it. */
  readonly nonce: Uint8Array;
  /** The channel key the server announced; the document's public_key must equal it. */
  readonly publicKey: Uint8Array;
}

/** Throws to refuse the server. */
export type AttestationVerifier = (attestation: AttestationToVerify) => void | Promise<void>;

export interface ChannelRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

export interface E2eChannelOptions {
  readonly baseUrl: string;
  readonly verify: AttestationVerifier;
  readonly fetch?: typeof fetch;
}

interface ServerKey {
  readonly publicKey: Uint8Array;
  readonly keyId: string;
}

const NONCE_BYTES = 16;

export class E2eChannel {
  readonly #baseUrl: string;
  readonly #verify: AttestationVerifier;
  readonly #fetch: typeof fetch;
  #key: Promise<ServerKey> | undefined;

  constructor(options: E2eChannelOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#verify = options.verify;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Fetches and verifies the server's attestation; the channel key is pinned until it is rotated away. */
  connect(): Promise<ServerKey> {
    this.#key ??= this.#attest().catch((e: unknown) => {
      this.#key = undefined;
      throw e;
    });
    return this.#key;
  }

  async #attest(): Promise<ServerKey> {
    const nonce = nobleChannelSuite.randomBytes(NONCE_BYTES);
    const res = await this.#fetch(`${this.#baseUrl}/v1/enclave/attestation?nonce=${nobleChannelSuite.toHex(nonce)}`);
    const body = (await res.json().catch(() => undefined)) as { attestation?: unknown; publicKey?: unknown; keyId?: unknown } | undefined;
    if (!res.ok || typeof body?.attestation !== 'string' || typeof body.publicKey !== 'string' || typeof body.keyId !== 'string') {
      throw new KeyholdClientError('KH_CLIENT_ATTESTATION_REFUSED', `the server gave no attestation document (HTTP ${res.status})`, { status: res.status });
    }
    const publicKey = nobleChannelSuite.fromHex(body.publicKey);
    let document: Uint8Array;
    try {
      document = fromBase64(body.attestation);
    } catch (e) {
      throw new KeyholdClientError('KH_CLIENT_ATTESTATION_REFUSED', 'the attestation answer is not well-formed', { cause: e });
    }
    if (publicKey?.length !== 32) throw new KeyholdClientError('KH_CLIENT_ATTESTATION_REFUSED', 'the channel key is not 32 bytes of hex');
    try {
      await this.#verify({ document, nonce, publicKey });
    } catch (e) {
      throw new KeyholdClientError('KH_CLIENT_ATTESTATION_REFUSED', `the server's attestation was refused: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    return { publicKey, keyId: body.keyId };
  }

  /** Sends one request through the channel; re-attests once when the server has rotated its key. */
  async send(request: ChannelRequest): Promise<InnerResponse> {
    try {
      return await this.#sendOnce(request);
    } catch (e) {
      if (!(e instanceof KeyholdClientError) || e.code !== 'KH_E2E_KEY_UNKNOWN') throw e;
      this.#key = undefined;
      return this.#sendOnce(request);
    }
  }

  async #sendOnce(request: ChannelRequest): Promise<InnerResponse> {
    const key = await this.connect();
    const { envelope, ephemeral } = sealRequest(nobleChannelSuite, key, {
      method: request.method,
      path: request.path,
      headers: request.headers ?? {},
      ...(request.body !== undefined && { body: request.body }),
      ts: Date.now(),
    });
    let res: Response;
    try {
      res = await this.#fetch(`${this.#baseUrl}/v1/enclave/post`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
    } catch (e) {
      ephemeral.wipe();
      throw new KeyholdClientError('KH_CLIENT_CHANNEL_FAILED', 'the channel request could not be sent', { cause: e });
    }
    const body = (await res.json().catch(() => undefined)) as unknown;
    if (res.status !== 200) {
      ephemeral.wipe();
      const error = (body as { error?: { code?: unknown; message?: unknown; requestId?: unknown } } | undefined)?.error;
      const code = typeof error?.code === 'string' ? error.code : 'KH_CLIENT_CHANNEL_FAILED';
      throw new KeyholdClientError(code, typeof error?.message === 'string' ? error.message : `channel answered HTTP ${res.status}`, {
        status: res.status,
        ...(typeof error?.requestId === 'string' && { requestId: error.requestId }),
      });
    }
    try {
      return openResponse(nobleChannelSuite, ephemeral, body as ResponseEnvelope);
    } catch (e) {
      const detail = e instanceof ChannelEnvelopeError ? e.message : 'unreadable';
      throw new KeyholdClientError('KH_CLIENT_RESPONSE_INVALID', `the channel answer could not be opened (${detail})`, { cause: e });
    }
  }
}
