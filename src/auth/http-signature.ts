/**
 * Signed requests for cnf-bound access tokens (docs/protocols.md §5): RFC 9421
 * HTTP Message Signatures with a fixed profile, and RFC 9530 Content-Digest.
 *
 * Profile: one signature, label `sig1`, covering exactly `"@method"`,
 * `"@target-uri"`, `"authorization"` and, when the request has a (non-empty)
 * body, `"content-digest"` (any order); parameters exactly `created`,
 * `expires` (at most 60 s after created), `nonce`, `keyid` (RFC 7638
 * thumbprint of the client key) and `alg` (`ed25519` or `ecdsa-p256-sha256`).
 * Anything else is refused rather than interpreted, so there is no
 * negotiation for an attacker to steer.
 *
 * Structured fields (RFC 8941) are parsed by the small parser below instead
 * of a dependency (`structured-headers` would do, but this module may not
 * change package.json and needs only Dictionary / Inner List / Parameters).
 * It follows RFC 8941 §4.2 with three deliberate restrictions: a duplicate
 * dictionary key or parameter is an error (RFC 8941 keeps the last one; two
 * parsers disagreeing on which `sig1` counts is how signature bypasses
 * happen), byte sequences must be canonical padded base64, and RFC 9651's
 * Date and Display String types are not accepted.
 */
import { createHash, createPublicKey, randomBytes, sign as cryptoSign, verify as cryptoVerify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { KeyholdError, type ErrorCode } from '../errors.js';
import { constantTimeEqual, fromBase64Strict, toBase64 } from '../crypto/bytes.js';
import { jwkThumbprint } from './jwk-thumbprint.js';
import type { NonceCache } from './nonce-cache.js';

export { NonceCache } from './nonce-cache.js';

export type SignatureAlgorithm = 'ed25519' | 'ecdsa-p256-sha256';

export const SIGNATURE_LABEL = 'sig1';
/** Longest accepted validity window, expires - created (docs/protocols.md §5). */
export const MAX_SIGNATURE_LIFETIME_SECONDS = 60;
/** How far `created` may lie in the future (client clocks run ahead). */
export const CLOCK_SKEW_SECONDS = 5;
/** Nonces: enough entropy to be unique, short enough to bound the replay cache. */
const NONCE = /^[A-Za-z0-9_-]{16,128}$/;
/** Upper bound on Signature / Signature-Input / Content-Digest before parsing. */
const MAX_FIELD_LENGTH = 8192;

const COVERED_WITH_BODY = ['@method', '@target-uri', 'content-digest', 'authorization'] as const;
const COVERED_WITHOUT_BODY = ['@method', '@target-uri', 'authorization'] as const;
const PARAMS = ['created', 'expires', 'nonce', 'keyid', 'alg'] as const;

// ---------------------------------------------------------------------------
// RFC 8941 structured fields: just enough of §4.2 for Signature-Input,
// Signature and Content-Digest.

type BareItem =
  | { type: 'integer' | 'decimal'; value: number }
  | { type: 'string' | 'token'; value: string }
  | { type: 'bytes'; value: Uint8Array }
  | { type: 'boolean'; value: boolean };
type Params = Map<string, BareItem>;
interface Item { item: BareItem; params: Params }
interface InnerList { list: Item[]; params: Params }
type Member = Item | InnerList;

class ParseError extends Error {}

class Parser {
  #pos = 0;
  constructor(readonly input: string) {}

  /** RFC 8941 §4.2.2, with duplicate keys refused. */
  dictionary(): Map<string, Member> {
    const out = new Map<string, Member>();
    this.#skip(' ');
    while (this.#pos < this.input.length) {
      const key = this.#key();
      if (out.has(key)) throw new ParseError('duplicate dictionary key');
      if (this.input[this.#pos] === '=') {
        this.#pos++;
        out.set(key, this.input[this.#pos] === '(' ? this.#innerList() : this.#item());
      } else {
        out.set(key, { item: { type: 'boolean', value: true }, params: this.#params() });
      }
      this.#skip(' \t');
      if (this.#pos >= this.input.length) return out;
      if (this.input[this.#pos] !== ',') throw new ParseError('expected ","');
      this.#pos++;
      this.#skip(' \t');
      if (this.#pos >= this.input.length) throw new ParseError('trailing ","');
    }
    return out;
  }

  #skip(chars: string): void {
    while (this.#pos < this.input.length && chars.includes(this.input[this.#pos]!)) this.#pos++;
  }

  #innerList(): InnerList {
    this.#pos++; // '('
    const list: Item[] = [];
    for (;;) {
      this.#skip(' ');
      if (this.#pos >= this.input.length) throw new ParseError('unterminated inner list');
      if (this.input[this.#pos] === ')') {
        this.#pos++;
        return { list, params: this.#params() };
      }
      list.push(this.#item());
      const c = this.input[this.#pos];
      if (c !== ' ' && c !== ')') throw new ParseError('expected " " or ")"');
    }
  }

  #item(): Item {
    return { item: this.#bareItem(), params: this.#params() };
  }

  #params(): Params {
    const out: Params = new Map();
    while (this.input[this.#pos] === ';') {
      this.#pos++;
      this.#skip(' ');
      const key = this.#key();
      if (out.has(key)) throw new ParseError('duplicate parameter');
      if (this.input[this.#pos] === '=') {
        this.#pos++;
        out.set(key, this.#bareItem());
      } else {
        out.set(key, { type: 'boolean', value: true });
      }
    }
    return out;
  }

  #key(): string {
    const m = /^[a-z*][a-z0-9_\-.*]*/.exec(this.input.slice(this.#pos, this.#pos + 256));
    if (m === null) throw new ParseError('bad key');
    this.#pos += m[0].length;
    return m[0];
  }

  #bareItem(): BareItem {
    const c = this.input[this.#pos] ?? '';
    if (c === '-' || (c >= '0' && c <= '9')) return this.#number();
    if (c === '"') return this.#string();
    if (c === ':') return this.#bytes();
    if (c === '?') return this.#boolean();
    if (c === '*' || /[A-Za-z]/.test(c)) return this.#token();
    throw new ParseError('bad bare item');
  }

  #match(re: RegExp, what: string): string {
    re.lastIndex = this.#pos;
    const m = re.exec(this.input);
    if (m === null) throw new ParseError(`bad ${what}`);
    this.#pos = re.lastIndex;
    return m[0];
  }

  // §4.2.4: integers have at most 15 digits; decimals at most 12 + 3.
  #number(): BareItem {
    const s = this.#match(/-?(?:\d{1,12}\.\d{1,3}(?![\d.])|\d{1,15}(?![\d.]))/y, 'number');
    return { type: s.includes('.') ? 'decimal' : 'integer', value: Number(s) };
  }

  // §4.2.5: printable ASCII; backslash escapes only '"' and '\'.
  #string(): BareItem {
    const s = this.#match(/"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"/y, 'string');
    return { type: 'string', value: s.slice(1, -1).replace(/\\(["\\])/g, '$1') };
  }

  #token(): BareItem {
    return { type: 'token', value: this.#match(/[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/y, 'token') };
  }

  #bytes(): BareItem {
    const s = this.#match(/:[A-Za-z0-9+/=]*:/y, 'byte sequence');
    const value = fromBase64Strict(s.slice(1, -1));
    if (value === undefined) throw new ParseError('bad base64');
    return { type: 'bytes', value };
  }

  #boolean(): BareItem {
    return { type: 'boolean', value: this.#match(/\?[01]/y, 'boolean') === '?1' };
  }
}

/** Parses a Dictionary field; undefined when it is not one (RFC 8941: the whole field fails). */
function parseDictionary(field: string): Map<string, Member> | undefined {
  if (field.length > MAX_FIELD_LENGTH) return undefined;
  try {
    return new Parser(field).dictionary();
  } catch (e) {
    if (e instanceof ParseError) return undefined;
    throw e;
  }
}

function isInnerList(m: Member): m is InnerList {
  return 'list' in m;
}

/** RFC 8941 §4.1 serialisation of the only bare items our parameters use. */
function serializeBare(b: BareItem): string {
  if (b.type === 'integer') return String(b.value);
  if (b.type === 'string') return `"${b.value.replace(/["\\]/g, '\\$&')}"`;
  throw new TypeError(`cannot serialise a ${b.type} here`);
}

/** The `@signature-params` value: the inner list as RFC 8941 serialises it (RFC 9421 §2.3). */
function serializeSignatureParams(covered: readonly string[], params: ReadonlyArray<readonly [string, BareItem]>): string {
  const list = covered.map((c) => serializeBare({ type: 'string', value: c })).join(' ');
  return `(${list})${params.map(([k, v]) => `;${k}=${serializeBare(v)}`).join('')}`;
}

// ---------------------------------------------------------------------------
// Signature base (RFC 9421 §2.5)

/**
 * The signature base: one `"name": value` line per covered component, in
 * order, then the `"@signature-params"` line, joined by LF with no trailing
 * LF. Component names are serialised as sf-strings, as the RFC requires.
 * @throws KH_SIG_INVALID when a value contains a character that could forge a line (RFC 9421 §2.5 step 2.3).
 */
export function signatureBase(components: ReadonlyArray<readonly [name: string, value: string]>, signatureParams: string): string {
  const lines = components.map(([name, value]) => {
    if (!/^[\x20-\x7e]*$/.test(value)) throw sigError('KH_SIG_INVALID', `component ${name} has a non-printable character`);
    return `"${name}": ${value}`;
  });
  lines.push(`"@signature-params": ${signatureParams}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Content-Digest (RFC 9530)

function sha256(body: Uint8Array): Uint8Array {
  return createHash('sha256').update(body).digest();
}

/** The Content-Digest field value for `body`: `sha-256=:<base64>:` (RFC 9530 §2). */
export function contentDigest(body: Uint8Array): string {
  return `sha-256=:${toBase64(sha256(body))}:`;
}

/**
 * Whether a Content-Digest field carries a `sha-256` member equal to the
 * SHA-256 of `body`. Other algorithms may be listed and are ignored; a field
 * without sha-256, or not a valid Dictionary, does not match.
 */
export function checkContentDigest(field: string | readonly string[] | undefined, body: Uint8Array): boolean {
  const value = fieldValue(field);
  if (value === undefined) return false;
  const member = parseDictionary(value)?.get('sha-256');
  if (member === undefined || isInnerList(member) || member.item.type !== 'bytes') return false;
  return constantTimeEqual(member.item.value, sha256(body));
}

// ---------------------------------------------------------------------------
// Keys

/** Which profile algorithm a JWK is for, or undefined for any other key. */
function algorithmOfJwk(jwk: JsonWebKey): SignatureAlgorithm | undefined {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'ed25519';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ecdsa-p256-sha256';
  return undefined;
}

/**
 * Parsed public keys by thumbprint. The key is built from the thumbprint's
 * own members only, so an entry can never disagree with its name. Bounded:
 * the oldest entry goes when full (a hit moves an entry to the back).
 */
const KEY_CACHE_SIZE = 1024;
const keyCache = new Map<string, KeyObject>();

function publicKeyFor(thumbprint: string, jwk: JsonWebKey): KeyObject {
  const cached = keyCache.get(thumbprint);
  if (cached !== undefined) {
    keyCache.delete(thumbprint);
    keyCache.set(thumbprint, cached);
    return cached;
  }
  // jwkThumbprint has checked these members are strings.
  const members: JsonWebKey = jwk.kty === 'EC' ? { kty: 'EC', crv: jwk.crv!, x: jwk.x!, y: jwk.y! } : { kty: 'OKP', crv: jwk.crv!, x: jwk.x! };
  const key = createPublicKey({ key: members, format: 'jwk' });
  if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(thumbprint, key);
  return key;
}

function algorithmOfKey(key: KeyObject): SignatureAlgorithm | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256-sha256';
  return undefined;
}

// RFC 9421 §3.3.6: Ed25519 over the base, no prehash. §3.3.4: ECDSA P-256
// with SHA-256; the signature is r||s, 32 bytes each (IEEE P1363), not DER.
function signBase(alg: SignatureAlgorithm, base: string, key: KeyObject): Uint8Array {
  return alg === 'ed25519' ? cryptoSign(null, Buffer.from(base), key) : cryptoSign('sha256', Buffer.from(base), { key, dsaEncoding: 'ieee-p1363' });
}

function verifyBase(alg: SignatureAlgorithm, base: string, key: KeyObject, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  return alg === 'ed25519'
    ? cryptoVerify(null, Buffer.from(base), key, signature)
    : cryptoVerify('sha256', Buffer.from(base), { key, dsaEncoding: 'ieee-p1363' }, signature);
}

// ---------------------------------------------------------------------------
// Signing (client side)

export interface SignRequestInput {
  method: string;
  /** The absolute URI the request is sent to, exactly as the server will rebuild it. */
  targetUri: string;
  /** The Authorization field value (e.g. `Bearer <token>`). */
  authorization: string;
  /** The request body; a non-empty body gets a Content-Digest that the signature covers. */
  body?: Uint8Array;
  /** Ed25519 or P-256 private key. */
  privateKey: KeyObject;
  /** Checked against the key when given; otherwise taken from the key. */
  alg?: SignatureAlgorithm;
  /** Milliseconds since the epoch; default Date.now(). */
  now?: number;
  /** Default: 16 random bytes, base64url. */
  nonce?: string;
  /** Validity window in seconds, 1-60; default 60. */
  lifetimeSeconds?: number;
}

export interface SignatureHeaders {
  'signature-input': string;
  signature: string;
  'content-digest'?: string;
}

/**
 * Signs a request per the profile above and returns the fields to add.
 * @throws TypeError for a key other than Ed25519/P-256, an `alg` that does not match it, a bad nonce or lifetime.
 */
export function signRequest(input: SignRequestInput): SignatureHeaders {
  const keyAlg = algorithmOfKey(input.privateKey);
  if (input.privateKey.type !== 'private' || keyAlg === undefined) throw new TypeError('the signing key must be an Ed25519 or P-256 private key');
  const alg = input.alg ?? keyAlg;
  if (alg !== keyAlg) throw new TypeError(`alg ${alg} does not match the key`);
  const nonce = input.nonce ?? randomBytes(16).toString('base64url');
  if (!NONCE.test(nonce)) throw new TypeError('nonce must be 16-128 characters of A-Z a-z 0-9 _ -');
  const lifetime = input.lifetimeSeconds ?? MAX_SIGNATURE_LIFETIME_SECONDS;
  if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > MAX_SIGNATURE_LIFETIME_SECONDS) throw new TypeError('lifetimeSeconds must be 1-60');
  const keyid = jwkThumbprint(createPublicKey(input.privateKey).export({ format: 'jwk' }));
  const created = Math.floor((input.now ?? Date.now()) / 1000);

  const digest = input.body !== undefined && input.body.length > 0 ? contentDigest(input.body) : undefined;
  const covered = digest !== undefined ? COVERED_WITH_BODY : COVERED_WITHOUT_BODY;
  const params: [string, BareItem][] = [
    ['created', { type: 'integer', value: created }],
    ['expires', { type: 'integer', value: created + lifetime }],
    ['nonce', { type: 'string', value: nonce }],
    ['keyid', { type: 'string', value: keyid }],
    ['alg', { type: 'string', value: alg }],
  ];
  const values: Record<(typeof COVERED_WITH_BODY)[number], string> = {
    // RFC 9421 §2.2.1 takes the method as sent; the profile uppercases it on
    // both sides so a client's "post" and node's "POST" agree.
    '@method': input.method.toUpperCase(),
    '@target-uri': input.targetUri,
    'content-digest': digest ?? '',
    authorization: input.authorization.trim(),
  };
  const signatureParams = serializeSignatureParams(covered, params);
  let base: string;
  try {
    base = signatureBase(covered.map((c) => [c, values[c]] as const), signatureParams);
  } catch {
    throw new TypeError('method, targetUri and authorization must be printable ASCII');
  }
  const signature = signBase(alg, base, input.privateKey);
  const out: SignatureHeaders = {
    'signature-input': `${SIGNATURE_LABEL}=${signatureParams}`,
    signature: `${SIGNATURE_LABEL}=:${toBase64(signature)}:`,
  };
  if (digest !== undefined) out['content-digest'] = digest;
  return out;
}

// ---------------------------------------------------------------------------
// Verification (server side)

export interface VerifyRequestInput {
  method: string;
  /** The absolute URI of the request as the server knows it (its public origin + path and query). */
  targetUri: string;
  /** Request header fields with lowercase names, as node's IncomingMessage.headers has them. */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The token's cnf.jkt. */
  expectedKeyId: string;
  /** The public key bound to the token; its thumbprint must be expectedKeyId. */
  publicJwk: JsonWebKey;
  /** Milliseconds since the epoch; default Date.now(). */
  now?: number;
  nonces: NonceCache;
  /**
   * Whether the request has a non-empty body (then content-digest must be
   * covered). Decide it from the request framing (Content-Length other than
   * 0, or Transfer-Encoding), never from whether Content-Digest is present.
   * The digest is checked against the body separately, with checkContentDigest.
   */
  hasBody: boolean;
}

export interface VerifiedSignature {
  keyid: string;
  alg: SignatureAlgorithm;
  nonce: string;
  created: number;
  expires: number;
}

function sigError(code: ErrorCode, why: string): KeyholdError {
  // Callers see only the fixed summary of the code; the reason is for logs.
  return new KeyholdError(code, undefined, { cause: new Error(why) });
}

/** RFC 9421 §2.1: each field line trimmed, several lines joined by ", ". */
function fieldValue(v: string | readonly string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v.trim() : v.map((s) => s.trim()).join(', ');
}

/**
 * Verifies the `sig1` request signature of a cnf-bound request and records
 * its nonce. Cheap checks run first (presence, shape, key id, time window);
 * the public-key operation next; the nonce is recorded only once the
 * signature has verified, so unsigned garbage cannot fill the replay cache.
 *
 * @throws KeyholdError KH_SIG_MISSING: no Signature / Signature-Input field, or no `sig1` in them.
 * @throws KeyholdError KH_SIG_INVALID: malformed fields, covered components or parameters other than the profile's, an alg that does not fit the key, or a signature that does not verify.
 * @throws KeyholdError KH_SIG_EXPIRED: created/expires missing, created more than 5 s ahead, expires passed, or a window over 60 s.
 * @throws KeyholdError KH_SIG_KEY_MISMATCH: keyid (or the given key) is not the token's cnf.jkt.
 * @throws KeyholdError KH_SIG_DIGEST_MISMATCH: the request has a body but no Content-Digest field.
 * @throws KeyholdError KH_SIG_REPLAYED: the nonce was used before within its validity (or the replay cache is full).
 */
export function verifyRequestSignature(input: VerifyRequestInput): VerifiedSignature {
  const inputField = fieldValue(input.headers['signature-input']);
  const sigField = fieldValue(input.headers['signature']);
  if (inputField === undefined || sigField === undefined) throw sigError('KH_SIG_MISSING', 'no Signature or Signature-Input field');

  const inputs = parseDictionary(inputField);
  const sigs = parseDictionary(sigField);
  if (inputs === undefined || sigs === undefined) throw sigError('KH_SIG_INVALID', 'Signature or Signature-Input is not a structured-field dictionary');
  const declared = inputs.get(SIGNATURE_LABEL);
  const sigMember = sigs.get(SIGNATURE_LABEL);
  if (declared === undefined || sigMember === undefined) throw sigError('KH_SIG_MISSING', `no ${SIGNATURE_LABEL} signature`);
  if (!isInnerList(declared)) throw sigError('KH_SIG_INVALID', 'Signature-Input member is not an inner list');
  if (isInnerList(sigMember) || sigMember.item.type !== 'bytes' || sigMember.params.size > 0) throw sigError('KH_SIG_INVALID', 'Signature member is not a byte sequence');

  // Covered components: exactly the profile's set, each once, no parameters.
  const required: readonly string[] = input.hasBody ? COVERED_WITH_BODY : COVERED_WITHOUT_BODY;
  const covered: string[] = [];
  for (const { item, params } of declared.list) {
    if (item.type !== 'string' || params.size > 0 || !required.includes(item.value) || covered.includes(item.value)) {
      throw sigError('KH_SIG_INVALID', 'covered components differ from the profile');
    }
    covered.push(item.value);
  }
  if (covered.length !== required.length) throw sigError('KH_SIG_INVALID', 'covered components differ from the profile');

  // Parameters: exactly the profile's, typed. Their order is kept: it is signed.
  const p = declared.params;
  for (const name of p.keys()) {
    if (!(PARAMS as readonly string[]).includes(name)) throw sigError('KH_SIG_INVALID', `unexpected parameter ${name}`);
  }
  const created = p.get('created');
  const expires = p.get('expires');
  if (created === undefined || expires === undefined) throw sigError('KH_SIG_EXPIRED', 'created or expires is missing');
  if (created.type !== 'integer' || expires.type !== 'integer' || created.value < 0) throw sigError('KH_SIG_INVALID', 'created/expires are not integers');
  const nonce = p.get('nonce');
  const keyid = p.get('keyid');
  const alg = p.get('alg');
  if (nonce?.type !== 'string' || !NONCE.test(nonce.value)) throw sigError('KH_SIG_INVALID', 'nonce missing or not 16-128 characters of [A-Za-z0-9_-]');
  if (keyid?.type !== 'string') throw sigError('KH_SIG_INVALID', 'keyid missing');
  if (alg?.type !== 'string' || (alg.value !== 'ed25519' && alg.value !== 'ecdsa-p256-sha256')) throw sigError('KH_SIG_INVALID', 'alg missing or not supported');

  if (keyid.value !== input.expectedKeyId) throw sigError('KH_SIG_KEY_MISMATCH', 'keyid is not the token cnf.jkt');

  const nowMs = input.now ?? Date.now();
  const nowSec = nowMs / 1000;
  if (created.value > nowSec + CLOCK_SKEW_SECONDS) throw sigError('KH_SIG_EXPIRED', 'created is in the future');
  if (expires.value < created.value || expires.value - created.value > MAX_SIGNATURE_LIFETIME_SECONDS) throw sigError('KH_SIG_EXPIRED', 'validity window is negative or over 60 s');
  if (nowSec > expires.value) throw sigError('KH_SIG_EXPIRED', 'expires has passed');

  // The key: it must be the one the token is bound to, and fit alg.
  const keyAlg = algorithmOfJwk(input.publicJwk);
  if (keyAlg === undefined || keyAlg !== alg.value) throw sigError('KH_SIG_INVALID', 'alg does not fit the bound key');
  let thumbprint: string;
  try {
    thumbprint = jwkThumbprint(input.publicJwk);
  } catch (e) {
    throw new KeyholdError('KH_SIG_INVALID', undefined, { cause: e });
  }
  if (thumbprint !== input.expectedKeyId) throw sigError('KH_SIG_KEY_MISMATCH', 'the given key is not the one the token is bound to');

  const authorization = fieldValue(input.headers['authorization']);
  if (authorization === undefined) throw sigError('KH_SIG_INVALID', 'covered authorization field is absent');
  const digest = fieldValue(input.headers['content-digest']);
  if (input.hasBody && digest === undefined) throw sigError('KH_SIG_DIGEST_MISMATCH', 'a request with a body needs Content-Digest');
  const values: Record<string, string> = {
    '@method': input.method.toUpperCase(),
    '@target-uri': input.targetUri,
    'content-digest': digest ?? '',
    authorization,
  };
  const base = signatureBase(
    covered.map((c) => [c, values[c]!] as const),
    serializeSignatureParams(covered, [...p]),
  );

  let ok: boolean;
  try {
    ok = verifyBase(alg.value, base, publicKeyFor(thumbprint, input.publicJwk), sigMember.item.value);
  } catch (e) {
    // An unparsable key (point not on the curve, ...) lands here too.
    throw new KeyholdError('KH_SIG_INVALID', undefined, { cause: e });
  }
  if (!ok) throw sigError('KH_SIG_INVALID', 'signature does not verify');

  // Remember the nonce until the signature expires; after that `expires` refuses it.
  if (input.nonces.seen(`${keyid.value}:${nonce.value}`, expires.value * 1000, nowMs)) {
    throw sigError('KH_SIG_REPLAYED', 'nonce already used (or replay cache full)');
  }
  return { keyid: keyid.value, alg: alg.value, nonce: nonce.value, created: created.value, expires: expires.value };
}
