/**
 * AWS Signature Version 4 verification: AWS's published test suite, a
 * property-based cross-check against the AWS SDK's signer, and every way a
 * request is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import fc from 'fast-check';
import { KeyholdError, type ErrorCode } from '../../src/errors.js';
import {
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  checkSigV4Scope,
  MAX_CLOCK_SKEW_MS,
  parseSigV4Request,
  secretKeyBytes,
  verifySigV4Signature,
  type SigV4Request,
} from '../../src/auth/sigv4.js';
import { escapeUri, signWithSdk, type SignInput } from '../helpers/sigv4.js';

interface Vector {
  name: string;
  source: string;
  commit: string;
  request: string;
  expect: 'valid' | ErrorCode;
}
interface Suite {
  context: { accessKeyId: string; secretAccessKey: string; region: string; service: string; timestamp: string };
  vectors: Vector[];
}
const suite = JSON.parse(readFileSync(new URL('./vectors/aws-c-auth-sigv4-test-suite.json', import.meta.url), 'utf8')) as Suite;

/** An HTTP/1.1 request as the suite writes it: request line, "Name:value" lines, blank line, body. */
function parseRequestText(text: string): SigV4Request {
  const blank = text.indexOf('\n\n');
  const head = text.slice(0, blank).split('\n');
  const body = new TextEncoder().encode(text.slice(blank + 2));
  const line = head[0]!;
  const method = line.slice(0, line.indexOf(' '));
  const target = line.slice(line.indexOf(' ') + 1, line.lastIndexOf(' '));
  const q = target.indexOf('?');
  const headers: IncomingHttpHeaders = {};
  for (const h of head.slice(1)) {
    const name = h.slice(0, h.indexOf(':')).toLowerCase();
    const value = h.slice(h.indexOf(':') + 1);
    const prev = headers[name];
    headers[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  return { method, path: q < 0 ? target : target.slice(0, q), query: q < 0 ? '' : target.slice(q + 1), headers, body };
}

function verify(request: SigV4Request, secret: string, expected: { service: string; region: string; now: Date }): void {
  const credentials = parseSigV4Request(request);
  checkSigV4Scope(credentials, expected);
  verifySigV4Signature(request, credentials, secretKeyBytes(secret));
}

function refusedWith(code: ErrorCode, fn: () => unknown, what: string): void {
  assert.throws(fn, (e: unknown) => e instanceof KeyholdError && e.code === code, `${what}: expected ${code}`);
}

const ctx = suite.context;
const suiteNow = new Date(ctx.timestamp);
const suiteScope = { service: ctx.service, region: ctx.region, now: suiteNow };

test('AWS SigV4 test suite: every header-signed request verifies (or is refused as the suite entry says)', () => {
  assert.ok(suite.vectors.length >= 15);
  for (const v of suite.vectors) {
    const request = parseRequestText(v.request);
    if (v.expect === 'valid') assert.doesNotThrow(() => verify(request, ctx.secretAccessKey, suiteScope), `${v.name} (${v.source}@${v.commit.slice(0, 8)})`);
    else refusedWith(v.expect, () => verify(request, ctx.secretAccessKey, suiteScope), v.name);
  }
});

test('AWS SigV4 test suite: a one-bit change of the signature, or another secret, is a mismatch', () => {
  for (const v of suite.vectors.filter((x) => x.expect === 'valid')) {
    const request = parseRequestText(v.request);
    const auth = String(request.headers.authorization);
    const last = auth.at(-1)!;
    const flipped = { ...request, headers: { ...request.headers, authorization: auth.slice(0, -1) + (last === '0' ? '1' : '0') } };
    refusedWith('KH_SIGV4_SIGNATURE_MISMATCH', () => verify(flipped, ctx.secretAccessKey, suiteScope), `${v.name} flipped`);
    refusedWith('KH_SIGV4_SIGNATURE_MISMATCH', () => verify(request, `${ctx.secretAccessKey}x`, suiteScope), `${v.name} wrong secret`);
  }
});

test('canonical forms follow the suite: the get-vanilla canonical request, path normalisation, query order and encoding', () => {
  const vanilla = parseRequestText(suite.vectors.find((v) => v.name === 'get-vanilla-query')!.request);
  assert.equal(
    canonicalRequest(vanilla, ['host', 'x-amz-date'], 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'),
    'GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  );
  assert.equal(canonicalUri('/example1/example2/../..'), '/');
  assert.equal(canonicalUri('//example//'), '/example/');
  assert.equal(canonicalUri('/example space/'), '/example%20space/');
  // A path arrives percent-encoded and is encoded once more (non-S3 services).
  assert.equal(canonicalUri('/a%20b/c%2Fd'), '/a%2520b/c%252Fd');
  assert.equal(canonicalUri(''), '/');
  assert.equal(canonicalQuery('Param2=value2&Param1=value1'), 'Param1=value1&Param2=value2');
  assert.equal(canonicalQuery('b=2&a=z&a=y&A=0'), 'A=0&a=y&a=z&b=2');
  assert.equal(canonicalQuery('flag&x=%7e%2a+'), 'flag=&x=~%2A%2B');
  assert.equal(canonicalQuery('bad=%zz'), 'bad=%25zz');
});

// ---------------------------------------------------------------------------
// Cross-check with the AWS SDK's signer
// ---------------------------------------------------------------------------

const NOW = new Date('2026-03-14T15:09:26Z');
const BASE: SignInput = { accessKeyId: 'KHAKABCDEFGHIJKLMNOP', secretAccessKey: 'x'.repeat(40), region: 'eu-west-1', service: 'kms', date: NOW };
const scope = { service: 'kms', region: 'eu-west-1', now: NOW };

const segment = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('.', '..', '', 'a b', '%', '~'));
const headerName = fc.stringMatching(/^x-test-[a-z0-9-]{1,12}$/);
const headerValue = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e\t]{0,30}[\x21-\x7e])?$/);

test('requests signed by the AWS SDK signer (@smithy/signature-v4) verify, and any change to them does not (property)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
        segments: fc.array(segment, { maxLength: 5 }),
        trailingSlash: fc.boolean(),
        query: fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.oneof(fc.string({ unit: 'binary', maxLength: 10 }), fc.array(fc.string({ unit: 'binary', maxLength: 6 }), { minLength: 1, maxLength: 3 })), { maxKeys: 4 }),
        headers: fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
        body: fc.uint8Array({ maxLength: 64 }),
        applyChecksum: fc.boolean(),
        secret: fc.stringMatching(/^[A-Za-z0-9+/]{40}$/),
        skewMs: fc.integer({ min: -MAX_CLOCK_SKEW_MS, max: MAX_CLOCK_SKEW_MS }),
      }),
      async (r) => {
        const path = `/${r.segments.map(escapeUri).join('/')}${r.trailingSlash && r.segments.length > 0 ? '/' : ''}`;
        const request = await signWithSdk({ ...BASE, secretAccessKey: r.secret, method: r.method, path, query: r.query, headers: r.headers, body: r.body, applyChecksum: r.applyChecksum, date: new Date(NOW.getTime() + r.skewMs) });
        // The signer drops sub-second precision: the request time is within a second of the chosen skew.
        verify(request, r.secret, { ...scope, now: new Date(NOW.getTime() + Math.trunc(r.skewMs / 1000) * 1000) });

        refusedWith('KH_SIGV4_SIGNATURE_MISMATCH', () => verify({ ...request, method: r.method === 'GET' ? 'POST' : 'GET' }, r.secret, scope), 'method changed');
        refusedWith('KH_SIGV4_SIGNATURE_MISMATCH', () => verify({ ...request, path: `${path}x` }, r.secret, scope), 'path changed');
        refusedWith('KH_SIGV4_SIGNATURE_MISMATCH', () => verify({ ...request, query: request.query === '' ? 'extra=1' : `${request.query}&extra=1` }, r.secret, scope), 'query changed');
        refusedWith('KH_SIGV4_SIGNATURE_MISMATCH', () => verify({ ...request, body: new Uint8Array([...r.body, 0]) }, r.secret, scope), 'body changed');
        refusedWith('KH_SIGV4_SIGNATURE_MISMATCH', () => verify({ ...request, headers: { ...request.headers, host: 'evil.example.test' } }, r.secret, scope), 'host changed');
        refusedWith('KH_SIGV4_SIGNATURE_MISMATCH', () => verify(request, `${r.secret.slice(1)}A`, scope), 'other secret');
      },
    ),
    { numRuns: 200 },
  );
});

// ---------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------

const signed = (over: Partial<SignInput> = {}) =>
  signWithSdk({ ...BASE, body: new TextEncoder().encode('{"KeyId":"alias/app"}'), headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Encrypt' }, ...over });
const withHeaders = (r: SigV4Request, headers: IncomingHttpHeaders): SigV4Request => ({ ...r, headers: { ...r.headers, ...headers } });
const withAuth = (r: SigV4Request, edit: (auth: string) => string): SigV4Request => withHeaders(r, { authorization: edit(String(r.headers.authorization)) });

test('a request signed by the SDK verifies, including a signed x-amz-content-sha256 of the body', async () => {
  verify(await signed(), BASE.secretAccessKey, scope);
  verify(await signed({ applyChecksum: true }), BASE.secretAccessKey, scope);
});

test('no Authorization header, or another scheme, is KH_SIGV4_MISSING', async () => {
  const r = await signed();
  const { authorization: _, ...rest } = r.headers;
  refusedWith('KH_SIGV4_MISSING', () => verify({ ...r, headers: rest }, BASE.secretAccessKey, scope), 'no header');
  refusedWith('KH_SIGV4_MISSING', () => verify(withHeaders(r, { authorization: '' }), BASE.secretAccessKey, scope), 'empty');
  refusedWith('KH_SIGV4_MISSING', () => verify(withHeaders(r, { authorization: 'Bearer abc.def.ghi' }), BASE.secretAccessKey, scope), 'bearer');
  refusedWith('KH_SIGV4_MISSING', () => verify(withAuth(r, (a) => a.replace('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256')), BASE.secretAccessKey, scope), 'SigV4a');
  refusedWith('KH_SIGV4_MISSING', () => verify(withAuth(r, (a) => a.toLowerCase()), BASE.secretAccessKey, scope), 'lower-case algorithm');
});

test('malformed headers and unsupported forms are KH_SIGV4_MALFORMED', async () => {
  const r = await signed();
  const cases: [string, SigV4Request][] = [
    ['no fields', withHeaders(r, { authorization: 'AWS4-HMAC-SHA256' })],
    ['missing Signature', withAuth(r, (a) => a.replace(/, Signature=[0-9a-f]+/, ''))],
    ['repeated field', withAuth(r, (a) => `${a}, Signature=${'0'.repeat(64)}`)],
    ['unknown field', withAuth(r, (a) => `${a}, Extra=1`)],
    ['short signature', withAuth(r, (a) => a.slice(0, -2))],
    ['upper-case signature', withAuth(r, (a) => a.replace(/Signature=([0-9a-f]+)/, (_m, s: string) => `Signature=${s.toUpperCase().replace(/[0-9]/g, 'A')}`))],
    ['scope of 4 parts', withAuth(r, (a) => a.replace('/kms/aws4_request', '/aws4_request'))],
    ['wrong terminator', withAuth(r, (a) => a.replace('aws4_request', 'aws4_reqest'))],
    ['bad access key id', withAuth(r, (a) => a.replace('Credential=KHAK', 'Credential=KH-AK'))],
    ['upper-case signed header', withAuth(r, (a) => a.replace('SignedHeaders=content-type', 'SignedHeaders=Content-Type'))],
    ['unsorted signed headers', withAuth(r, (a) => a.replace('content-type;host', 'host;content-type'))],
    ['host not signed', withAuth(r, (a) => a.replace(';host;', ';'))],
    ['x-amz-date not signed', withAuth(r, (a) => a.replace(';x-amz-date', ''))],
    ['x-amz-target not signed', withAuth(r, (a) => a.replace(';x-amz-target', ''))],
    ['signed header absent', withAuth(r, (a) => a.replace('x-amz-target', 'x-amz-target;zzz'))],
    ['no x-amz-date', { ...r, headers: Object.fromEntries(Object.entries(r.headers).filter(([k]) => k !== 'x-amz-date')) }],
    ['x-amz-date not a time', withHeaders(r, { 'x-amz-date': '2026-03-14T15:09:26Z' })],
    ['x-amz-date not a date', withHeaders(r, { 'x-amz-date': '20260231T150926Z' })],
    ['presigned URL', { ...r, query: 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00' }],
    ['presigned, encoded name', { ...r, query: 'X-Amz-%53ignature=00' }],
    ['security token header', withHeaders(r, { 'x-amz-security-token': 'FwoGZXIvYXdzE' })],
    ['security token in query', { ...r, query: 'X-Amz-Security-Token=FwoGZXIvYXdzE' }],
    ['unsigned payload', withHeaders(r, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' })],
    ['overlong header', withAuth(r, (a) => `${a}${' '.repeat(5000)}`)],
    // Node's header object has a prototype: these must not find Object's members (a TypeError, a 500, before this was caught).
    ['signed header "constructor"', withAuth(r, (a) => a.replace('SignedHeaders=content-type', 'SignedHeaders=constructor;content-type'))],
    ['signed header "__proto__"', withAuth(r, (a) => a.replace('SignedHeaders=content-type', 'SignedHeaders=__proto__;content-type'))],
    ['signed header "tostring"', withAuth(r, (a) => a.replace(';x-amz-target', ';tostring;x-amz-target'))],
  ];
  for (const [what, request] of cases) refusedWith('KH_SIGV4_MALFORMED', () => verify(request, BASE.secretAccessKey, scope), what);
  const e = (() => {
    try {
      verify(withHeaders(r, { 'x-amz-security-token': 'x' }), BASE.secretAccessKey, scope);
    } catch (err) {
      return err as KeyholdError;
    }
    return undefined;
  })();
  assert.match(e?.message ?? '', /temporary credentials/);
});

test('a body that differs from its signed x-amz-content-sha256 is a mismatch', async () => {
  const r = await signed({ applyChecksum: true });
  refusedWith('KH_SIGV4_SIGNATURE_MISMATCH', () => verify({ ...r, body: new TextEncoder().encode('{"KeyId":"alias/other"}') }, BASE.secretAccessKey, scope), 'body swapped');
});

test('modified signed headers, path, query or body, and another secret, are KH_SIGV4_SIGNATURE_MISMATCH with one fixed message', async () => {
  const r = await signed({ query: { a: '1' }, path: '/p' });
  const cases: [string, SigV4Request, string][] = [
    ['target', withHeaders(r, { 'x-amz-target': 'TrentService.Decrypt' }), BASE.secretAccessKey],
    ['content-type', withHeaders(r, { 'content-type': 'application/json' }), BASE.secretAccessKey],
    ['host', withHeaders(r, { host: 'other.example.test' }), BASE.secretAccessKey],
    ['path', { ...r, path: '/q' }, BASE.secretAccessKey],
    ['query', { ...r, query: 'a=2' }, BASE.secretAccessKey],
    ['body', { ...r, body: new TextEncoder().encode('{"KeyId":"alias/apq"}') }, BASE.secretAccessKey],
    ['secret', r, 'y'.repeat(40)],
  ];
  const messages = new Set<string>();
  for (const [what, request, secret] of cases) {
    refusedWith('KH_SIGV4_SIGNATURE_MISMATCH', () => verify(request, secret, scope), what);
    try {
      verify(request, secret, scope);
    } catch (e) {
      messages.add((e as Error).message);
    }
  }
  assert.deepEqual([...messages], ['The request signature does not match.']);
  // An unsigned header may change (proxies add them) without breaking the signature.
  verify(withHeaders(r, { 'user-agent': 'changed', 'x-forwarded-for': '10.0.0.1' }), BASE.secretAccessKey, scope);
});

test('a request time more than 5 minutes from the server clock, either way, is KH_SIGV4_EXPIRED', async () => {
  for (const offset of [MAX_CLOCK_SKEW_MS + 1000, -(MAX_CLOCK_SKEW_MS + 1000), 3600_000, -86_400_000 + 1]) {
    const r = await signed({ date: new Date(NOW.getTime() + offset) });
    const credentials = parseSigV4Request(r);
    refusedWith('KH_SIGV4_EXPIRED', () => checkSigV4Scope(credentials, scope), `offset ${offset}`);
  }
  for (const offset of [MAX_CLOCK_SKEW_MS, -MAX_CLOCK_SKEW_MS, 0]) verify(await signed({ date: new Date(NOW.getTime() + offset) }), BASE.secretAccessKey, scope);
});

test('another service, region or scope date is KH_SIGV4_SCOPE_INVALID', async () => {
  const otherService = await signed({ service: 's3' });
  const otherRegion = await signed({ region: 'us-east-1' });
  // Just before midnight, with the scope claiming the next day: AWS refuses even one second apart (sigv4-date-handling).
  const lateNight = new Date('2026-03-14T23:59:59Z');
  const nextDay = withAuth(await signed({ date: lateNight }), (a) => a.replace('/20260314/', '/20260315/'));
  const cases: [string, SigV4Request, Date][] = [
    ['service', otherService, NOW],
    ['region', otherRegion, NOW],
    ['scope date', nextDay, lateNight],
  ];
  for (const [what, request, now] of cases) refusedWith('KH_SIGV4_SCOPE_INVALID', () => verify(request, BASE.secretAccessKey, { ...scope, now }), what);
});

test('arbitrary input is refused with a KH_SIGV4_* code, never another exception (property)', async () => {
  const valid = await signed();
  const auth = String(valid.headers.authorization);
  const authorization = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ maxLength: 200 }).map((s) => `AWS4-HMAC-SHA256 ${s}`),
    fc.tuple(fc.nat(auth.length), fc.string({ maxLength: 20 })).map(([i, s]) => auth.slice(0, i) + s + auth.slice(i + s.length)),
  );
  const codes = new Set<ErrorCode>(['KH_SIGV4_MISSING', 'KH_SIGV4_MALFORMED', 'KH_SIGV4_SCOPE_INVALID', 'KH_SIGV4_EXPIRED', 'KH_SIGV4_SIGNATURE_MISMATCH']);
  await fc.assert(
    fc.asyncProperty(
      authorization,
      fc.oneof(fc.constant(String(valid.headers['x-amz-date'])), fc.string({ maxLength: 20 })),
      fc.string({ maxLength: 40 }),
      fc.string({ maxLength: 40 }),
      fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 })), { maxKeys: 4 }),
      async (a, date, path, query, extra) => {
        const request: SigV4Request = { ...valid, path: `/${path}`, query, headers: { ...extra, ...valid.headers, authorization: a, 'x-amz-date': date } };
        try {
          verify(request, BASE.secretAccessKey, scope);
        } catch (e) {
          assert.ok(e instanceof KeyholdError && codes.has(e.code), String(e));
        }
      },
    ),
    { numRuns: 500 },
  );
});
