// Independent client for the end-to-end encrypted channel (v1), written from
// docs/protocols.md §1 alone, to prove that the server in src/
// interoperates with a second implementation. It deliberately shares no code
// and no libraries with the server: libsodium for X25519 and
// XChaCha20-Poly1305, node:crypto for HKDF-SHA-256 (the server uses @noble/*).
//
// Nothing here imports from src/.
import { hkdfSync } from 'node:crypto';
import sodium from 'libsodium-wrappers';

// libsodium is WebAssembly and must be initialised once; top-level await lets
// every function below stay synchronous.
await sodium.ready;

const REQUEST_INFO = 'keyhold e2e v1 request'; // §1 Request step 3
const RESPONSE_INFO = 'keyhold e2e v1 response'; // §1 Response
const X25519_BYTES = 32;
const KEY_BYTES = 32; // HKDF length = 32
const NONCE_BYTES = 24; // XChaCha20 nonce
const TAG_BYTES = 16; // Poly1305 tag appended to the ciphertext
const EMPTY_AAD = new Uint8Array(0); // §1 Primitives: empty AAD

export type IndependentE2eErrorCode =
  | 'bad_server_key' // GET /v1/enclave answered something unusable
  | 'weak_shared_secret' // X25519 produced all zeros (§1 Request step 2)
  | 'outer_error' // POST /v1/enclave/post answered other than 200
  | 'bad_envelope' // response envelope malformed (hex, lengths, fields)
  | 'decryption_failed' // Poly1305 tag did not verify
  | 'bad_inner_response'; // decrypted plaintext is not {status, headers, body}

export class IndependentE2eError extends Error {
  readonly code: IndependentE2eErrorCode;
  /** For 'outer_error': the HTTP status and parsed body of the outer response. */
  readonly outerStatus: number | undefined;
  readonly outerBody: unknown;
  constructor(code: IndependentE2eErrorCode, message: string, outer?: { status: number; body: unknown }) {
    super(message);
    this.name = 'IndependentE2eError';
    this.code = code;
    this.outerStatus = outer?.status;
    this.outerBody = outer?.body;
  }
}

export interface InnerRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface InnerResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** §1 Request step 6: body of POST /v1/enclave/post. */
export interface RequestEnvelope {
  ciphertext: string;
  nonce: string;
  ephemeralPublicKey: string;
  keyId?: string;
}

/** §1 Response: body of the HTTP 200 answer to POST /v1/enclave/post. */
export interface ResponseEnvelope {
  ciphertext: string;
  nonce: string;
  ephemeralPublicKey: string;
}

export interface ServerKey {
  publicKey: string;
  keyId: string;
}

export interface E2eRequestOptions {
  serverKey?: ServerKey;
  ts?: number;
  fetchImpl?: typeof fetch;
}

// ---------------------------------------------------------------------------
// Primitives, exported so the vector tests exercise exactly what the client
// calls.

/** X25519 public key for a secret scalar (RFC 7748 §6.1: X25519(a, 9)). */
export function x25519Public(secret: Uint8Array): Uint8Array {
  return sodium.crypto_scalarmult_base(secret);
}

/** X25519(secret, peerPublic); refuses an all-zero result (§1 Request step 2). */
export function x25519Shared(secret: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  let shared: Uint8Array;
  try {
    // libsodium itself rejects an all-zero output ("weak public key").
    shared = sodium.crypto_scalarmult(secret, peerPublic);
  } catch {
    throw new IndependentE2eError('weak_shared_secret', 'X25519 shared secret is all zeros');
  }
  // Checked again here so the rule does not depend on the library's choice.
  if (shared.every((b) => b === 0)) {
    throw new IndependentE2eError('weak_shared_secret', 'X25519 shared secret is all zeros');
  }
  return shared;
}

/** HKDF-SHA-256 (RFC 5869) via node:crypto. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}

/** XChaCha20-Poly1305 seal; returns ciphertext || 16-byte tag. */
export function xchachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, key);
}

/** XChaCha20-Poly1305 open of ciphertext || tag; throws 'decryption_failed'. */
export function xchachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed, aad, nonce, key);
  } catch {
    throw new IndependentE2eError('decryption_failed', 'decryption failed');
  }
}

// ---------------------------------------------------------------------------
// Channel

/**
 * §1 Request step 5: UTF-8 JSON of { method, path, headers, body, ts }.
 * Header names are lower-cased as in the spec's example; `headers` is always
 * present (possibly {}); `body` is omitted when undefined (e.g. GET).
 */
export function innerRequestJson(inner: InnerRequest, ts: number): string {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(inner.headers ?? {})) headers[name.toLowerCase()] = value;
  const payload: Record<string, unknown> = { method: inner.method, path: inner.path, headers };
  if (inner.body !== undefined) payload.body = inner.body;
  payload.ts = ts;
  return JSON.stringify(payload);
}

/**
 * Seals an inner request (§1 Request steps 1-6, minus the POST).
 * `innerJson` is the exact plaintext (see innerRequestJson). The caller owns
 * `ephemeralSecret` and must hand it to openResponse, which wipes it.
 */
export function sealRequest(
  serverPublicKeyHex: string,
  keyId: string | undefined,
  innerJson: string,
): { envelope: RequestEnvelope; ephemeralSecret: Uint8Array } {
  const serverPublic = fromHex(serverPublicKeyHex, X25519_BYTES, 'server publicKey', 'bad_server_key');
  // Step 1: ephemeral pair (esk, epk).
  const esk = sodium.randombytes_buf(X25519_BYTES);
  const epk = x25519Public(esk);
  let shared: Uint8Array | undefined;
  let key: Uint8Array | undefined;
  const plaintext = new TextEncoder().encode(innerJson); // step 5
  try {
    // Step 2: shared = X25519(esk, serverPublicKey), all-zero refused.
    shared = x25519Shared(esk, serverPublic);
    // Step 3: key = HKDF(ikm = shared, salt = epk || serverPublicKey, info, 32).
    key = hkdfSha256(shared, concat(epk, serverPublic), utf8(REQUEST_INFO), KEY_BYTES);
    // Step 4: 24 random bytes.
    const nonce = sodium.randombytes_buf(NONCE_BYTES);
    const ciphertext = xchachaSeal(key, nonce, plaintext, EMPTY_AAD);
    // Step 6: the envelope; keyId is optional and left out when unknown.
    const envelope: RequestEnvelope = {
      ciphertext: toHex(ciphertext),
      nonce: toHex(nonce),
      ephemeralPublicKey: toHex(epk),
    };
    if (keyId !== undefined) envelope.keyId = keyId;
    return { envelope, ephemeralSecret: esk };
  } catch (err) {
    sodium.memzero(esk);
    throw err;
  } finally {
    if (shared) sodium.memzero(shared);
    if (key) sodium.memzero(key);
    sodium.memzero(plaintext); // may hold a bearer token
  }
}

/**
 * Opens a response envelope (§1 Response): shared = X25519(esk, spk),
 * key = HKDF(ikm = shared, salt = spk || epk, info, 32). Always wipes
 * `ephemeralSecret`, success or failure; copy it first to open twice.
 */
export function openResponse(
  ephemeralSecret: Uint8Array,
  ephemeralPublicKey: string | Uint8Array,
  responseEnvelope: unknown,
): InnerResponse {
  let shared: Uint8Array | undefined;
  let key: Uint8Array | undefined;
  try {
    const epk =
      typeof ephemeralPublicKey === 'string'
        ? fromHex(ephemeralPublicKey, X25519_BYTES, 'ephemeralPublicKey', 'bad_envelope')
        : ephemeralPublicKey;
    const env = parseResponseEnvelope(responseEnvelope);
    shared = x25519Shared(ephemeralSecret, env.spk);
    key = hkdfSha256(shared, concat(env.spk, epk), utf8(RESPONSE_INFO), KEY_BYTES);
    const plaintext = xchachaOpen(key, env.nonce, env.sealed, EMPTY_AAD);
    return parseInnerResponse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(plaintext));
  } finally {
    sodium.memzero(ephemeralSecret); // "then wipes esk"
    if (shared) sodium.memzero(shared);
    if (key) sodium.memzero(key);
  }
}

/** GET /v1/enclave and check the fields the channel needs. */
export async function fetchServerKey(baseUrl: string, fetchImpl: typeof fetch = fetch): Promise<ServerKey> {
  const res = await fetchImpl(`${trimBase(baseUrl)}/v1/enclave`, { method: 'GET', headers: { accept: 'application/json' } });
  const body = await readJson(res);
  if (res.status !== 200 || !isObject(body)) {
    throw new IndependentE2eError('bad_server_key', `GET /v1/enclave answered ${res.status}`, { status: res.status, body });
  }
  const { publicKey, keyId } = body;
  if (typeof publicKey !== 'string' || typeof keyId !== 'string') {
    throw new IndependentE2eError('bad_server_key', 'GET /v1/enclave: publicKey and keyId must be strings');
  }
  fromHex(publicKey, X25519_BYTES, 'server publicKey', 'bad_server_key');
  return { publicKey, keyId };
}

/** Sends one inner request through the channel and returns the inner response. */
export async function e2eRequest(
  baseUrl: string,
  inner: InnerRequest,
  options: E2eRequestOptions = {},
): Promise<InnerResponse> {
  const fetchImpl = options.fetchImpl ?? fetch;
  const serverKey = options.serverKey ?? (await fetchServerKey(baseUrl, fetchImpl));
  const json = innerRequestJson(inner, options.ts ?? Date.now());
  const { envelope, ephemeralSecret } = sealRequest(serverKey.publicKey, serverKey.keyId, json);
  try {
    const res = await fetchImpl(`${trimBase(baseUrl)}/v1/enclave/post`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(envelope),
    });
    const body = await readJson(res);
    if (res.status !== 200) {
      throw new IndependentE2eError('outer_error', `POST /v1/enclave/post answered ${res.status}`, {
        status: res.status,
        body,
      });
    }
    return openResponse(ephemeralSecret, envelope.ephemeralPublicKey, body);
  } finally {
    sodium.memzero(ephemeralSecret); // also on network or outer errors
  }
}

// ---------------------------------------------------------------------------
// Helpers

function parseResponseEnvelope(value: unknown): { sealed: Uint8Array; nonce: Uint8Array; spk: Uint8Array } {
  if (!isObject(value)) throw new IndependentE2eError('bad_envelope', 'response envelope is not an object');
  const { ciphertext, nonce, ephemeralPublicKey } = value;
  if (typeof ciphertext !== 'string' || typeof nonce !== 'string' || typeof ephemeralPublicKey !== 'string') {
    throw new IndependentE2eError('bad_envelope', 'response envelope needs ciphertext, nonce, ephemeralPublicKey');
  }
  const sealed = fromHex(ciphertext, undefined, 'ciphertext', 'bad_envelope');
  if (sealed.length < TAG_BYTES) throw new IndependentE2eError('bad_envelope', 'ciphertext shorter than the tag');
  return {
    sealed,
    nonce: fromHex(nonce, NONCE_BYTES, 'nonce', 'bad_envelope'),
    spk: fromHex(ephemeralPublicKey, X25519_BYTES, 'ephemeralPublicKey', 'bad_envelope'),
  };
}

/** §1 Response plaintext: { "status": 200, "headers": { ... }, "body": <JSON value> }. */
function parseInnerResponse(text: string): InnerResponse {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new IndependentE2eError('bad_inner_response', 'inner response is not JSON');
  }
  if (!isObject(value)) throw new IndependentE2eError('bad_inner_response', 'inner response is not an object');
  const { status, headers } = value;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
    throw new IndependentE2eError('bad_inner_response', 'inner response status is not an HTTP status');
  }
  if (!isObject(headers)) throw new IndependentE2eError('bad_inner_response', 'inner response headers is not an object');
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(headers)) {
    if (typeof v !== 'string') {
      throw new IndependentE2eError('bad_inner_response', `inner response header ${name} is not a string`);
    }
    out[name] = v;
  }
  if (!('body' in value)) throw new IndependentE2eError('bad_inner_response', 'inner response has no body');
  return { status, headers: out, body: value.body };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Lowercase hex only (docs/protocols.md), optionally of an exact byte length. */
function fromHex(hex: string, bytes: number | undefined, what: string, code: IndependentE2eErrorCode): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/.test(hex)) throw new IndependentE2eError(code, `${what} is not lowercase hex`);
  if (bytes !== undefined && hex.length !== bytes * 2) {
    throw new IndependentE2eError(code, `${what} must be ${bytes} bytes`);
  }
  return sodium.from_hex(hex);
}

function toHex(bytes: Uint8Array): string {
  return sodium.to_hex(bytes); // lowercase
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function trimBase(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '');
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
