/**
 * AWS Signature Version 4 verification for header-signed requests
 * (`Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
 * Signature=…` plus `X-Amz-Date`), as AWS services verify them.
 *
 * Spec: "Create a signed AWS API request" and "Elements of an AWS API request
 * signature" (IAM User Guide, docs.aws.amazon.com/IAM/latest/UserGuide/
 * create-signed-request.html). The canonical request follows the signer that
 * every AWS SDK for JavaScript v3 client uses (@smithy/signature-v4), which
 * is what the published test suite and our cross-check exercise:
 * - canonical URI: the path as received, normalised (empty, "." and ".."
 *   segments removed) and URI-encoded once more byte by byte, "/" kept. A
 *   path arrives already percent-encoded, so this is the "encode twice" rule
 *   of every service except S3 (S3 is not served, so its single-encoding
 *   variant is not implemented).
 * - canonical query: each name and value percent-decoded, re-encoded with
 *   only A-Z a-z 0-9 - _ . ~ left bare, sorted by name then value.
 * - canonical headers: the signed header names (lower-case, sorted) with
 *   their values trimmed, runs of spaces/tabs folded into one space, and
 *   repeated headers joined with ",".
 * - payload hash: hex SHA-256 of the exact body bytes. An
 *   `x-amz-content-sha256` header must equal it (UNSIGNED-PAYLOAD and the
 *   streaming forms are refused: a KMS request body is always signed).
 *
 * Deliberately not supported, and refused with a clear error rather than
 * half-handled: presigned URLs (X-Amz-Signature in the query), temporary
 * credentials (X-Amz-Security-Token), SigV4a, and the `Date` header in place
 * of `X-Amz-Date`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { KeyholdError } from '../errors.js';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
const SCOPE_TERMINATOR = 'aws4_request';

/**
 * How far X-Amz-Date may be from the server clock, either way. AWS documents
 * five minutes ("In most cases, a request must reach AWS within five minutes
 * of the time stamp in the request", IAM User Guide, "AWS Signature Version 4
 * for API requests", reference_sigv.html); some services allow 15. The
 * shorter window is chosen because SigV4 has no nonce: the window is exactly
 * how long a captured request can be replayed.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** Upper bound on the Authorization header before parsing (real ones are ~250-600 bytes). */
const MAX_AUTHORIZATION_LENGTH = 4096;
const MAX_SIGNED_HEADERS = 64;

/** A request as the verifier needs it; the API layer copies it from Fastify's request. */
export interface SigV4Request {
  method: string;
  /** The raw path as received, without the query. */
  path: string;
  /** The raw query string without "?" ("" when there is none). */
  query: string;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
}

/** The parsed Authorization header and request time. */
export interface SigV4Credentials {
  readonly accessKeyId: string;
  /** yyyymmdd of the credential scope. */
  readonly scopeDate: string;
  readonly region: string;
  readonly service: string;
  /** Lower-case, strictly ascending. */
  readonly signedHeaders: readonly string[];
  /** 64 lower-case hex digits. */
  readonly signature: string;
  /** X-Amz-Date as sent (yyyymmddThhmmssZ). */
  readonly amzDate: string;
  readonly requestTime: Date;
}

const malformed = (why: string) => new KeyholdError('KH_SIGV4_MALFORMED', `malformed AWS SigV4 request: ${why}`);

/**
 * A header the client sent: own properties only, strings only. Node's header
 * object has a prototype, so a "signed header" named constructor or __proto__
 * must not find Object's members.
 */
function sentHeader(headers: IncomingHttpHeaders, name: string): string | string[] | undefined {
  if (!Object.hasOwn(headers, name)) return undefined;
  const v = headers[name];
  return typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')) ? v : undefined;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = sentHeader(headers, name);
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

const TOKEN = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const ACCESS_KEY_ID = /^[A-Za-z0-9]{1,128}$/;
const SCOPE_PART = /^[a-z0-9-]{1,64}$/;
const HEX_SIGNATURE = /^[0-9a-f]{64}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** Query parameter names that belong to presigned (query-string) authentication. */
const PRESIGN_PARAMS = new Set(['x-amz-signature', 'x-amz-credential', 'x-amz-algorithm', 'x-amz-signedheaders']);

function parseAmzDate(value: string): Date | undefined {
  const m = AMZ_DATE.exec(value);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Date.UTC rolls 20150230 over into March: a real calendar date round-trips.
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && t.getUTCHours() === h && t.getUTCMinutes() === mi && t.getUTCSeconds() === s
    ? t
    : undefined;
}

/** Names of the query parameters, percent-decoded and lower-cased (for the presign/token checks only). */
function queryParamNames(query: string): string[] {
  if (query === '') return [];
  return query.split('&').map((p) => {
    const name = p.split('=', 1)[0]!;
    return new TextDecoder().decode(percentDecode(name)).toLowerCase();
  });
}

/**
 * Parses and checks the form of a header-signed SigV4 request: the
 * Authorization header, X-Amz-Date, the credential scope's shape and the
 * signed header list. Says nothing yet about whether the signature verifies.
 * @throws KeyholdError KH_SIGV4_MISSING without an AWS4-HMAC-SHA256 Authorization header,
 *   KH_SIGV4_MALFORMED for anything ill-formed or unsupported (presigned URL, security token).
 */
export function parseSigV4Request(request: SigV4Request): SigV4Credentials {
  const params = queryParamNames(request.query);
  if (params.some((p) => PRESIGN_PARAMS.has(p)))
    throw malformed('presigned URLs (X-Amz-Signature in the query) are not supported; sign the Authorization header instead');
  if (request.headers['x-amz-security-token'] !== undefined || params.includes('x-amz-security-token'))
    throw malformed('temporary credentials (X-Amz-Security-Token) are not supported; use a Keyhold access key (keyhold auth access-key create)');

  const authorization = request.headers.authorization;
  if (authorization === undefined || authorization === '') throw new KeyholdError('KH_SIGV4_MISSING');
  const space = authorization.indexOf(' ');
  const scheme = space < 0 ? authorization : authorization.slice(0, space);
  if (scheme !== SIGV4_ALGORITHM)
    throw new KeyholdError('KH_SIGV4_MISSING', `unsupported Authorization scheme: this endpoint accepts only AWS Signature Version 4 (${SIGV4_ALGORITHM})`);
  if (authorization.length > MAX_AUTHORIZATION_LENGTH) throw malformed('the Authorization header is too long');

  // "Credential=…, SignedHeaders=…, Signature=…": exactly these three, once each, in any order.
  const fields = new Map<string, string>();
  for (const part of authorization.slice(space + 1).split(',')) {
    const item = part.trim();
    const eq = item.indexOf('=');
    if (eq <= 0) throw malformed('the Authorization header must be "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…"');
    const key = item.slice(0, eq);
    if (!['Credential', 'SignedHeaders', 'Signature'].includes(key) || fields.has(key)) throw malformed(`unexpected or repeated Authorization field ${JSON.stringify(key.slice(0, 32))}`);
    fields.set(key, item.slice(eq + 1));
  }
  const credential = fields.get('Credential');
  const signedHeaderList = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaderList === undefined || signature === undefined)
    throw malformed('the Authorization header needs Credential, SignedHeaders and Signature');

  const scope = credential.split('/');
  if (scope.length !== 5) throw malformed('Credential must be <access key id>/<yyyymmdd>/<region>/<service>/aws4_request');
  const [accessKeyId, scopeDate, region, service, terminator] = scope as [string, string, string, string, string];
  if (!ACCESS_KEY_ID.test(accessKeyId)) throw malformed('the access key id in Credential is not valid');
  if (!/^\d{8}$/.test(scopeDate) || !SCOPE_PART.test(region) || !SCOPE_PART.test(service) || terminator !== SCOPE_TERMINATOR)
    throw malformed('Credential must be <access key id>/<yyyymmdd>/<region>/<service>/aws4_request');
  if (!HEX_SIGNATURE.test(signature)) throw malformed('Signature must be 64 lower-case hex digits');

  const signedHeaders = signedHeaderList.split(';');
  if (signedHeaders.length > MAX_SIGNED_HEADERS) throw malformed('too many signed headers');
  for (let i = 0; i < signedHeaders.length; i++) {
    const name = signedHeaders[i]!;
    if (!TOKEN.test(name)) throw malformed('SignedHeaders must be lower-case header names separated by ";"');
    if (i > 0 && !(signedHeaders[i - 1]! < name)) throw malformed('SignedHeaders must be sorted and without repeats');
    if (sentHeader(request.headers, name) === undefined) throw malformed(`the signed header ${name} is not in the request`);
  }
  // host binds the signature to this server, x-amz-date to this moment (IAM User Guide: both must be signed).
  for (const required of ['host', 'x-amz-date']) if (!signedHeaders.includes(required)) throw malformed(`the ${required} header must be signed`);
  // x-amz-target names the KMS operation: an unsigned one could turn a signed EnableKey into ScheduleKeyDeletion.
  // Every SDK and the CLI sign all x-amz-* headers they send.
  for (const name of Object.keys(request.headers)) {
    if (name.startsWith('x-amz-') && !signedHeaders.includes(name)) throw malformed(`the ${name} header must be signed`);
  }

  const amzDate = headerValue(request.headers, 'x-amz-date') ?? '';
  const requestTime = parseAmzDate(amzDate);
  if (requestTime === undefined) throw malformed('X-Amz-Date must be a UTC time as yyyymmddThhmmssZ');
  return { accessKeyId, scopeDate, region, service, signedHeaders, signature, amzDate, requestTime };
}

/**
 * Checks the credential scope and the request time against this server.
 * Cheap and secret-free, so it runs before the access key is looked up.
 * @throws KeyholdError KH_SIGV4_SCOPE_INVALID for another date, region or service;
 *   KH_SIGV4_EXPIRED when X-Amz-Date is more than MAX_CLOCK_SKEW_MS from `now`.
 */
export function checkSigV4Scope(credentials: SigV4Credentials, expected: { service: string; region: string; now: Date }): void {
  // AWS rejects a scope date that differs from X-Amz-Date's even by a second across midnight (sigv4-date-handling).
  if (credentials.scopeDate !== credentials.amzDate.slice(0, 8))
    throw new KeyholdError('KH_SIGV4_SCOPE_INVALID', 'the date in the credential scope differs from the date of X-Amz-Date');
  if (credentials.service !== expected.service)
    throw new KeyholdError('KH_SIGV4_SCOPE_INVALID', `the credential scope names service ${credentials.service}; this endpoint is ${expected.service}`);
  if (credentials.region !== expected.region)
    throw new KeyholdError('KH_SIGV4_SCOPE_INVALID', `the credential scope names region ${credentials.region}; this server is ${expected.region}`);
  if (Math.abs(credentials.requestTime.getTime() - expected.now.getTime()) > MAX_CLOCK_SKEW_MS) throw new KeyholdError('KH_SIGV4_EXPIRED');
}

const UNRESERVED = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~') UNRESERVED[c.charCodeAt(0)] = 1;
const HEX = '0123456789ABCDEF';

/** RFC 3986 encoding as SigV4 wants it: unreserved bytes bare, every other byte %XX (upper-case), `keep` bytes bare too. */
function uriEncodeBytes(bytes: Uint8Array, keep?: number): string {
  let out = '';
  for (const b of bytes) out += UNRESERVED[b] === 1 || b === keep ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  return out;
}

const hexVal = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1);

/** Percent-decodes to bytes; a "%" not followed by two hex digits stays a literal "%" (the signer saw the same bytes). */
function percentDecode(s: string): Uint8Array {
  const raw = new TextEncoder().encode(s);
  const out = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const hi = raw[i] === 37 && i + 2 < raw.length ? hexVal(raw[i + 1]!) : -1;
    const lo = hi >= 0 ? hexVal(raw[i + 2]!) : -1;
    if (lo >= 0) {
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else out[n++] = raw[i]!;
  }
  return out.subarray(0, n);
}

/** The canonical URI: the received path, normalised, encoded once more ("/" kept). */
export function canonicalUri(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalised = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && path.endsWith('/') ? '/' : ''}`;
  // An empty path is "/" (create-signed-request: "If the absolute path is empty, use a forward slash").
  return normalised === '' ? '/' : uriEncodeBytes(new TextEncoder().encode(normalised), 0x2f);
}

/** The canonical query string: decoded, re-encoded, sorted by name then value. */
export function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs: [string, string][] = [];
  for (const piece of query.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const name = eq < 0 ? piece : piece.slice(0, eq);
    const value = eq < 0 ? '' : piece.slice(eq + 1);
    pairs.push([uriEncodeBytes(percentDecode(name)), uriEncodeBytes(percentDecode(value))]);
  }
  // Encoded strings are ASCII, so < is the byte order the spec asks for.
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

/** A header value as canonicalised: line breaks become spaces, space/tab runs fold to one space, ends trimmed. */
function canonicalHeaderValue(value: string): string {
  return value
    .replace(/[\r\n]/g, ' ')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}

/**
 * The canonical request (create-signed-request, step 1).
 * @throws KeyholdError KH_SIGV4_MALFORMED when a signed header is absent.
 */
export function canonicalRequest(request: SigV4Request, signedHeaders: readonly string[], payloadHash: string): string {
  const lines = signedHeaders.map((name) => {
    const v = sentHeader(request.headers, name);
    if (v === undefined) throw malformed(`the signed header ${name} is not in the request`);
    // A repeated header is one canonical entry, its values in order, joined with "," (test suite get-header-value-order).
    return `${name}:${Array.isArray(v) ? v.map(canonicalHeaderValue).join(',') : canonicalHeaderValue(v)}`;
  });
  // The method exactly as sent: HTTP methods are case-sensitive, and the signer used it verbatim.
  return [request.method, canonicalUri(request.path), canonicalQuery(request.query), ...lines, '', signedHeaders.join(';'), payloadHash].join('\n');
}

/** The string to sign (create-signed-request, step 3). */
export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [SIGV4_ALGORITHM, amzDate, scope, createHash('sha256').update(canonical, 'utf8').digest('hex')].join('\n');
}

/**
 * The first link of the signing-key chain, "AWS4" + secret, as bytes: callers
 * keep this (wipeable) instead of the secret string.
 */
export function secretKeyBytes(secretAccessKey: string): Uint8Array {
  return new TextEncoder().encode(`AWS4${secretAccessKey}`);
}

/**
 * kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
 * (create-signed-request, step 4).
 */
export function signingKey(kSecret: Uint8Array, scopeDate: string, region: string, service: string): Buffer {
  let key: Buffer = createHmac('sha256', kSecret).update(scopeDate).digest();
  for (const part of [region, service, SCOPE_TERMINATOR]) {
    const next = createHmac('sha256', key).update(part).digest();
    key.fill(0);
    key = next;
  }
  return key;
}

/** The payload hash the canonical request uses, after checking a declared x-amz-content-sha256 against the body. */
function payloadHash(request: SigV4Request): string {
  const actual = createHash('sha256').update(request.body).digest('hex');
  const declared = headerValue(request.headers, 'x-amz-content-sha256');
  if (declared === undefined) return actual;
  if (!HEX_SHA256.test(declared))
    throw malformed('x-amz-content-sha256 must be the hex SHA-256 of the body (unsigned and streaming payloads are not supported)');
  // The header is signed, but the body is what gets executed: both must agree.
  if (declared !== actual) throw new KeyholdError('KH_SIGV4_SIGNATURE_MISMATCH');
  return declared;
}

/**
 * Recomputes the signature with the caller's secret and compares it in
 * constant time.
 * @param kSecret bytes of "AWS4" + secret access key (see secretKeyBytes)
 * @throws KeyholdError KH_SIGV4_SIGNATURE_MISMATCH (one fixed message, whatever differed),
 *   KH_SIGV4_MALFORMED for an unsupported x-amz-content-sha256.
 */
export function verifySigV4Signature(request: SigV4Request, credentials: SigV4Credentials, kSecret: Uint8Array, derived?: Buffer): void {
  const { scopeDate, region, service } = credentials;
  const scope = `${scopeDate}/${region}/${service}/${SCOPE_TERMINATOR}`;
  const toSign = stringToSign(credentials.amzDate, scope, canonicalRequest(request, credentials.signedHeaders, payloadHash(request)));
  // `derived`: the caller's cached signingKey(kSecret, scopeDate, region, service), which it owns and wipes.
  const key = derived ?? signingKey(kSecret, scopeDate, region, service);
  const expected = createHmac('sha256', key).update(toSign, 'utf8').digest();
  if (derived === undefined) key.fill(0);
  const given = Buffer.from(credentials.signature, 'hex');
  // Both are 32 bytes here (the signature was checked to be 64 hex digits).
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new KeyholdError('KH_SIGV4_SIGNATURE_MISMATCH');
}
