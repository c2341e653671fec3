/**
 * The end-to-end channel, v1 (docs/protocols.md §1): X25519 + HKDF-SHA-256 +
 * XChaCha20-Poly1305 with empty AAD. Both directions use a fresh ephemeral
 * key on the sender's side, so a response cannot be read with the server's
 * long-lived channel key (forward secrecy for answers) and a request cannot
 * be read with anything the client keeps.
 *
 * Pure and platform-neutral: the suite supplies the primitives, and nothing
 * here touches Node APIs, so the client SDK runs it in a browser.
 */
import type { ChannelKeyPair, ChannelSuite } from './suite.js';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
/** docs/protocols.md §1: requests more than this far from the server's clock are refused. */
export const FRESHNESS_WINDOW_MS = 60_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const REQUEST_INFO = encoder.encode('keyhold e2e v1 request');
const RESPONSE_INFO = encoder.encode('keyhold e2e v1 response');

/** Body of POST /v1/enclave/post. */
export interface RequestEnvelope {
  readonly ciphertext: string;
  readonly nonce: string;
  readonly ephemeralPublicKey: string;
  readonly keyId?: string;
}

/** Body of the 200 answer to POST /v1/enclave/post. */
export interface ResponseEnvelope {
  readonly ciphertext: string;
  readonly nonce: string;
  readonly ephemeralPublicKey: string;
}

export interface InnerRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  /** Unix milliseconds. */
  readonly ts: number;
}

export interface InnerResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

/** Why an envelope could not be opened; the server maps each to one error code. */
export type EnvelopeFailure = 'malformed' | 'decrypt';

export class ChannelEnvelopeError extends Error {
  constructor(readonly failure: EnvelopeFailure, detail: string) {
    super(detail);
    this.name = 'ChannelEnvelopeError';
  }
}

/** Decodes hex (either case, as a lenient reader of a lowercase-writing spec) of an exact or minimum length. */
export function decodeHexField(suite: ChannelSuite, value: unknown, name: string, length: { exact?: number; min?: number }): Uint8Array {
  const bytes = typeof value === 'string' ? suite.fromHex(value) : undefined;
  if (bytes === undefined) throw new ChannelEnvelopeError('malformed', `${name} is not hex`);
  if (length.exact !== undefined && bytes.length !== length.exact) throw new ChannelEnvelopeError('malformed', `${name} is not ${length.exact} bytes`);
  if (length.min !== undefined && bytes.length < length.min) throw new ChannelEnvelopeError('malformed', `${name} is shorter than ${length.min} bytes`);
  return bytes;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Step 3 (request) / response: key = HKDF-SHA-256(shared, salt = senderEphemeral || recipientKey, info). */
function deriveKey(suite: ChannelSuite, shared: Uint8Array, salt: Uint8Array, info: Uint8Array): Uint8Array {
  try {
    return suite.hkdfSha256(shared, salt, info, KEY_BYTES);
  } finally {
    shared.fill(0);
  }
}

function sealJson(suite: ChannelSuite, key: Uint8Array, value: unknown): { ciphertext: string; nonce: string } {
  const nonce = suite.randomBytes(NONCE_BYTES);
  try {
    return { ciphertext: suite.toHex(suite.seal(key, nonce, encoder.encode(JSON.stringify(value)))), nonce: suite.toHex(nonce) };
  } finally {
    key.fill(0);
  }
}

function openBytes(suite: ChannelSuite, key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  try {
    const plaintext = suite.open(key, nonce, ciphertext);
    if (plaintext === undefined) throw new ChannelEnvelopeError('decrypt', 'authentication failed');
    return plaintext;
  } finally {
    key.fill(0);
  }
}

export interface ParsedRequestEnvelope {
  readonly ciphertext: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ephemeralPublicKey: Uint8Array;
  readonly keyId?: string;
}

/** Checks the outer fields' types and lengths. @throws ChannelEnvelopeError 'malformed' */
export function parseRequestEnvelope(suite: ChannelSuite, envelope: RequestEnvelope): ParsedRequestEnvelope {
  const ciphertext = decodeHexField(suite, envelope.ciphertext, 'ciphertext', { min: TAG_BYTES });
  const nonce = decodeHexField(suite, envelope.nonce, 'nonce', { exact: NONCE_BYTES });
  const ephemeralPublicKey = decodeHexField(suite, envelope.ephemeralPublicKey, 'ephemeralPublicKey', { exact: KEY_BYTES });
  if (envelope.keyId !== undefined && (typeof envelope.keyId !== 'string' || envelope.keyId.length > 128)) throw new ChannelEnvelopeError('malformed', 'keyId is not a string of at most 128 characters');
  return { ciphertext, nonce, ephemeralPublicKey, ...(envelope.keyId !== undefined && { keyId: envelope.keyId }) };
}

/**
 * Client, steps 1-6: encrypts an inner request to the server's channel key.
 * The returned ephemeral pair is needed once more to open the response.
 */
export function sealRequest(
  suite: ChannelSuite,
  server: { publicKey: Uint8Array; keyId?: string },
  inner: InnerRequest,
): { envelope: RequestEnvelope; ephemeral: ChannelKeyPair } {
  if (server.publicKey.length !== KEY_BYTES) throw new TypeError('the server channel key is 32 bytes');
  const ephemeral = suite.generateKeyPair();
  const shared = ephemeral.agree(server.publicKey);
  const key = deriveKey(suite, shared, concat(ephemeral.publicKey, server.publicKey), REQUEST_INFO);
  const { ciphertext, nonce } = sealJson(suite, key, inner);
  return {
    envelope: { ciphertext, nonce, ephemeralPublicKey: suite.toHex(ephemeral.publicKey), ...(server.keyId !== undefined && { keyId: server.keyId }) },
    ephemeral,
  };
}

/**
 * Server: decrypts a parsed request with the channel key pair it names.
 * Returns the plaintext bytes; the caller parses and checks them.
 * @throws ChannelEnvelopeError 'decrypt' (also for a low-order ephemeral key)
 */
export function openRequest(suite: ChannelSuite, server: ChannelKeyPair, request: ParsedRequestEnvelope): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = server.agree(request.ephemeralPublicKey);
  } catch {
    throw new ChannelEnvelopeError('decrypt', 'key agreement failed');
  }
  const key = deriveKey(suite, shared, concat(request.ephemeralPublicKey, server.publicKey), REQUEST_INFO);
  return openBytes(suite, key, request.nonce, request.ciphertext);
}

/** Server: encrypts a response to the request's ephemeral key with a fresh key pair of its own. */
export function sealResponse(suite: ChannelSuite, clientEphemeralPublicKey: Uint8Array, response: InnerResponse): ResponseEnvelope {
  const own = suite.generateKeyPair();
  try {
    const shared = own.agree(clientEphemeralPublicKey);
    const key = deriveKey(suite, shared, concat(own.publicKey, clientEphemeralPublicKey), RESPONSE_INFO);
    return { ...sealJson(suite, key, response), ephemeralPublicKey: suite.toHex(own.publicKey) };
  } finally {
    own.wipe();
  }
}

/**
 * Client: opens the response with the request's ephemeral pair, then wipes it.
 * @throws ChannelEnvelopeError
 */
export function openResponse(suite: ChannelSuite, ephemeral: ChannelKeyPair, envelope: ResponseEnvelope): InnerResponse {
  try {
    const ciphertext = decodeHexField(suite, envelope.ciphertext, 'ciphertext', { min: TAG_BYTES });
    const nonce = decodeHexField(suite, envelope.nonce, 'nonce', { exact: NONCE_BYTES });
    const serverEphemeral = decodeHexField(suite, envelope.ephemeralPublicKey, 'ephemeralPublicKey', { exact: KEY_BYTES });
    let shared: Uint8Array;
    try {
      shared = ephemeral.agree(serverEphemeral);
    } catch {
      throw new ChannelEnvelopeError('decrypt', 'key agreement failed');
    }
    const key = deriveKey(suite, shared, concat(serverEphemeral, ephemeral.publicKey), RESPONSE_INFO);
    const value = parseJson(openBytes(suite, key, nonce, ciphertext));
    if (!isRecord(value) || typeof value.status !== 'number' || !isRecord(value.headers)) {
      throw new ChannelEnvelopeError('malformed', 'the response is not {status, headers, body}');
    }
    return { status: value.status, headers: value.headers as Record<string, string>, body: value.body };
  } finally {
    ephemeral.wipe();
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Strict UTF-8 then JSON. @throws ChannelEnvelopeError 'malformed' */
export function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes)) as unknown;
  } catch {
    throw new ChannelEnvelopeError('malformed', 'the plaintext is not UTF-8 JSON');
  }
}
