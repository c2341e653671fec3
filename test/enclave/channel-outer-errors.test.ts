/**
 * Outer failures of POST /v1/enclave/post (docs/protocols.md §1): each is HTTP 400
 * with its KH_E2E_* code and the plain error body, nothing more. Envelopes
 * are made by the independent client (and, where a test needs a plaintext
 * the client would never produce, by its exported primitives).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { bearer } from '../helpers/keyhold.js';
import {
  hkdfSha256,
  innerRequestJson,
  openResponse,
  sealRequest,
  x25519Public,
  x25519Shared,
  xchachaSeal,
  type InnerRequest,
  type RequestEnvelope,
} from './independent-e2e-client.js';
import { channel, type Channel } from './channel-fixture.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const cat = (a: Uint8Array, b: Uint8Array): Uint8Array => Uint8Array.from([...a, ...b]);


async function post(c: Channel, envelope: unknown): Promise<{ status: number; body: unknown; requestId: string | null }> {
  const res = await fetch(`${c.apiUrl}/v1/enclave/post`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as unknown, requestId: res.headers.get('x-request-id') };
}

/** The outer error is exactly { error: { code, message, requestId } } with the code's fixed message. */
async function expectOuter(c: Channel, envelope: unknown, code: ErrorCode, label: string): Promise<void> {
  const res = await post(c, envelope);
  assert.equal(res.status, 400, `${label}: ${JSON.stringify(res.body)}`);
  const body = res.body as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(body), ['error'], `${label}: only error`);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'requestId'], `${label}: only code, message, requestId`);
  assert.equal(body.error.code, code, `${label}: ${String(body.error.message)}`);
  assert.equal(body.error.requestId, res.requestId, label);
  if (code.startsWith('KH_E2E_')) assert.equal(body.error.message, ERROR_CODES[code].summary, `${label}: the message is the fixed summary, no detail`);
}

function envelopeFor(c: Channel, inner: InnerRequest = { method: 'GET', path: '/v1/keys' }, ts = Date.now()): RequestEnvelope {
  return sealRequest(c.key.publicKey, c.key.keyId, innerRequestJson(inner, ts)).envelope;
}

/** §1 steps 1-6 over arbitrary plaintext bytes (the client only seals strings). */
function sealBytes(c: Channel, plaintext: Uint8Array, esk: Uint8Array = randomBytes(32)): RequestEnvelope {
  const server = fromHex(c.key.publicKey);
  const epk = x25519Public(esk);
  const key = hkdfSha256(x25519Shared(esk, server), cat(epk, server), utf8('keyhold e2e v1 request'), 32);
  const nonce = randomBytes(24);
  return { ciphertext: toHex(xchachaSeal(key, nonce, plaintext, new Uint8Array(0))), nonce: toHex(nonce), ephemeralPublicKey: toHex(epk), keyId: c.key.keyId };
}

test('malformed hex and wrong lengths: KH_E2E_ENVELOPE_INVALID', async (t) => {
  const c = await channel(t);
  const good = envelopeFor(c);
  const cases: Array<[string, Partial<RequestEnvelope>]> = [
    ['ciphertext not hex', { ciphertext: 'zz' + good.ciphertext.slice(2) }],
    ['ciphertext odd length', { ciphertext: good.ciphertext + '0' }],
    ['ciphertext shorter than the tag', { ciphertext: good.ciphertext.slice(0, 30) }],
    ['ciphertext empty', { ciphertext: '' }],
    ['nonce not hex', { nonce: 'g'.repeat(48) }],
    ['nonce odd length', { nonce: good.nonce.slice(1) }],
    ['nonce 23 bytes', { nonce: good.nonce.slice(2) }],
    ['nonce 25 bytes', { nonce: good.nonce + '00' }],
    ['nonce 12 bytes', { nonce: good.nonce.slice(0, 24) }],
    ['nonce empty', { nonce: '' }],
    ['epk not hex', { ephemeralPublicKey: good.ephemeralPublicKey.slice(0, 62) + 'x1' }],
    ['epk with a 0x prefix', { ephemeralPublicKey: '0x' + good.ephemeralPublicKey.slice(2) }],
    ['epk 31 bytes', { ephemeralPublicKey: good.ephemeralPublicKey.slice(2) }],
    ['epk 33 bytes', { ephemeralPublicKey: good.ephemeralPublicKey + '00' }],
    ['epk empty', { ephemeralPublicKey: '' }],
    ['epk with whitespace', { ephemeralPublicKey: ` ${good.ephemeralPublicKey.slice(2)}` }],
  ];
  for (const [label, change] of cases) await expectOuter(c, { ...good, ...change }, 'KH_E2E_ENVELOPE_INVALID', label);
  // The untouched envelope still goes through: none of the above spent its epk.
  assert.equal((await post(c, good)).status, 200);
});

test('an unknown keyId: KH_E2E_KEY_UNKNOWN', async (t) => {
  const c = await channel(t);
  await expectOuter(c, { ...envelopeFor(c), keyId: 'ck-0000000000000000' }, 'KH_E2E_KEY_UNKNOWN', 'unknown keyId');
  await expectOuter(c, { ...envelopeFor(c), keyId: '' }, 'KH_E2E_KEY_UNKNOWN', 'empty keyId');
});

test('a flipped ciphertext, nonce or epk byte: KH_E2E_DECRYPT_FAILED', async (t) => {
  const c = await channel(t);
  const flipHex = (hex: string, at: number): string => {
    const b = fromHex(hex);
    b[at]! ^= 0x01;
    return toHex(b);
  };
  const good = envelopeFor(c);
  const n = good.ciphertext.length / 2;
  for (const at of [0, Math.floor(n / 2), n - 17, n - 1]) {
    await expectOuter(c, { ...good, ciphertext: flipHex(good.ciphertext, at) }, 'KH_E2E_DECRYPT_FAILED', `ciphertext byte ${at}`);
  }
  await expectOuter(c, { ...good, ciphertext: good.ciphertext.slice(0, -2) }, 'KH_E2E_DECRYPT_FAILED', 'truncated tag');
  await expectOuter(c, { ...good, nonce: flipHex(good.nonce, 0) }, 'KH_E2E_DECRYPT_FAILED', 'nonce');
  await expectOuter(c, { ...good, ephemeralPublicKey: flipHex(good.ephemeralPublicKey, 5) }, 'KH_E2E_DECRYPT_FAILED', 'epk');
  // Sealed to another server key.
  const other = sealRequest(toHex(x25519Public(randomBytes(32))), c.key.keyId, innerRequestJson({ method: 'GET', path: '/v1/keys' }, Date.now())).envelope;
  await expectOuter(c, other, 'KH_E2E_DECRYPT_FAILED', 'another server key');
  // None of the failures recorded the epk: the original still goes through.
  assert.equal((await post(c, good)).status, 200);
});

test('a low-order ephemeral key is refused even with a ciphertext made under the all-zero shared secret', async (t) => {
  const c = await channel(t);
  const server = fromHex(c.key.publicKey);
  const plaintext = utf8(innerRequestJson({ method: 'GET', path: '/v1/keys' }, Date.now()));
  // RFC 7748 low-order u-coordinates (and non-canonical encodings of them): X25519 with any of them gives zero,
  // so anyone can derive this "shared" key. The server must refuse rather than decrypt.
  const lowOrder = [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    '0000000000000000000000000000000000000000000000000000000000000080',
  ];
  for (const epkHex of lowOrder) {
    const epk = fromHex(epkHex);
    const key = hkdfSha256(new Uint8Array(32), cat(epk, server), utf8('keyhold e2e v1 request'), 32);
    const nonce = randomBytes(24);
    const envelope = { ciphertext: toHex(xchachaSeal(key, nonce, plaintext, new Uint8Array(0))), nonce: toHex(nonce), ephemeralPublicKey: epkHex, keyId: c.key.keyId };
    await expectOuter(c, envelope, 'KH_E2E_DECRYPT_FAILED', `low-order epk ${epkHex.slice(0, 8)}…`);
  }
});

test('ts more than 60 s away from the server clock: KH_E2E_STALE', async (t) => {
  const c = await channel(t);
  const inner = { method: 'GET', path: '/v1/keys', headers: bearer(c.rootToken) };
  await expectOuter(c, envelopeFor(c, inner, Date.now() - 61_000), 'KH_E2E_STALE', '61 s in the past');
  await expectOuter(c, envelopeFor(c, inner, Date.now() + 61_000), 'KH_E2E_STALE', '61 s in the future');
  await expectOuter(c, envelopeFor(c, inner, 0), 'KH_E2E_STALE', 'the epoch');
  await expectOuter(c, envelopeFor(c, inner, Math.floor(Date.now() / 1000)), 'KH_E2E_STALE', 'seconds instead of milliseconds');
  // Inside the window it is accepted, both sides.
  for (const skew of [-55_000, 55_000]) {
    const res = await post(c, envelopeFor(c, inner, Date.now() + skew));
    assert.equal(res.status, 200, `skew ${skew}: ${JSON.stringify(res.body)}`);
  }
});

test('the same envelope twice: KH_E2E_REPLAYED the second time, however its epk is spelled', async (t) => {
  const c = await channel(t);
  const { envelope, ephemeralSecret } = sealRequest(c.key.publicKey, c.key.keyId, innerRequestJson({ method: 'GET', path: '/v1/keys', headers: bearer(c.rootToken) }, Date.now()));
  const first = await post(c, envelope);
  assert.equal(first.status, 200);
  assert.equal(openResponse(ephemeralSecret, envelope.ephemeralPublicKey, first.body).status, 200);
  await expectOuter(c, envelope, 'KH_E2E_REPLAYED', 'replay');
  await expectOuter(c, envelope, 'KH_E2E_REPLAYED', 'replay again');
  // The server reads hex case-insensitively; the replay cache must not be fooled by the spelling.
  await expectOuter(c, { ...envelope, ephemeralPublicKey: envelope.ephemeralPublicKey.toUpperCase() }, 'KH_E2E_REPLAYED', 'upper-case epk');
  const { keyId: _keyId, ...withoutKeyId } = envelope;
  await expectOuter(c, withoutKeyId, 'KH_E2E_REPLAYED', 'without keyId');
  // An inner request that failed (401) still spends its epk.
  const anonymous = envelopeFor(c);
  assert.equal((await post(c, anonymous)).status, 200);
  await expectOuter(c, anonymous, 'KH_E2E_REPLAYED', 'replay of an inner 401');
});

test('an inner request to the channel itself or not a request object: KH_E2E_INNER_INVALID', async (t) => {
  const c = await channel(t);
  const auth = bearer(c.rootToken);
  const paths = ['/v1/enclave/post', '/v1/enclave', '/v1/enclave/attestation', '/v1/enclave/attestation?nonce=00', '/v1/enclave?x=1', '/v1/ENCLAVE/post'];
  for (const path of paths) {
    await expectOuter(c, envelopeFor(c, { method: path === '/v1/enclave/post' ? 'POST' : 'GET', path, headers: auth, body: {} }), 'KH_E2E_INNER_INVALID', `path ${path}`);
  }
  const now = Date.now();
  const plaintexts: Array<[string, string]> = [
    ['array', '[]'],
    ['number', '42'],
    ['string', '"GET /v1/keys"'],
    ['null', 'null'],
    ['true', 'true'],
    ['no method', JSON.stringify({ path: '/v1/keys', ts: now })],
    ['method TRACE', JSON.stringify({ method: 'TRACE', path: '/v1/keys', ts: now })],
    ['no ts', JSON.stringify({ method: 'GET', path: '/v1/keys' })],
    ['ts a string', JSON.stringify({ method: 'GET', path: '/v1/keys', ts: String(now) })],
    ['ts fractional', JSON.stringify({ method: 'GET', path: '/v1/keys', ts: now + 0.5 })],
    ['unknown field', JSON.stringify({ method: 'GET', path: '/v1/keys', ts: now, extra: 1 })],
    ['path outside /v1', JSON.stringify({ method: 'GET', path: '/docs', ts: now })],
    ['absolute URL', JSON.stringify({ method: 'GET', path: 'http://elsewhere/v1/keys', ts: now })],
    ['dot segment', JSON.stringify({ method: 'GET', path: '/v1/keys/../enclave', ts: now })],
    ['double slash', JSON.stringify({ method: 'GET', path: '//v1/keys', ts: now })],
    ['headers an array', JSON.stringify({ method: 'GET', path: '/v1/keys', headers: [], ts: now })],
    ['header value not a string', JSON.stringify({ method: 'GET', path: '/v1/keys', headers: { authorization: 1 }, ts: now })],
    ['header value with a newline', JSON.stringify({ method: 'GET', path: '/v1/keys', headers: { authorization: 'Bearer x\r\nx-injected: 1' }, ts: now })],
  ];
  for (const [label, json] of plaintexts) {
    await expectOuter(c, sealRequest(c.key.publicKey, c.key.keyId, json).envelope, 'KH_E2E_INNER_INVALID', label);
  }
});

test('a percent-encoded spelling of the channel path gets through the parser but is refused inside (inner 400)', async (t) => {
  const c = await channel(t);
  const cases: Array<[method: string, path: string, status: number, code: ErrorCode]> = [
    ['GET', '/v1/%65nclave', 400, 'KH_E2E_INNER_INVALID'],
    ['GET', '/v1/%65nclave/attestation', 400, 'KH_E2E_INNER_INVALID'],
    ['POST', '/v1/%65nclave/post', 400, 'KH_E2E_INNER_INVALID'],
    ['POST', '/v1/enclave%2Fpost', 404, 'KH_NOT_FOUND'],
  ];
  for (const [method, path, status, code] of cases) {
    const { envelope, ephemeralSecret } = sealRequest(c.key.publicKey, c.key.keyId, innerRequestJson({ method, path, body: {} }, Date.now()));
    const res = await post(c, envelope);
    assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
    const inner = openResponse(ephemeralSecret, envelope.ephemeralPublicKey, res.body);
    assert.equal(inner.status, status, `${path}: ${JSON.stringify(inner.body)}`);
    assert.equal((inner.body as { error: { code: string } }).error.code, code, path);
  }
});

// BUG (src/api/enclave/channel-routes.ts): a plaintext that decrypts but is not UTF-8 JSON makes
// parseJson() throw a ChannelEnvelopeError that the route does not catch (only parseRequestEnvelope
// and openRequest go through envelopeFailure), so the error handler answers 500 KH_INTERNAL.
// errors.md: KH_E2E_INNER_INVALID is "the decrypted inner request is not a valid request object".
test('a decrypted plaintext that is not UTF-8 JSON: 400 KH_E2E_INNER_INVALID, not 500', async (t) => {
  const c = await channel(t);
  const cases: Array<[string, Uint8Array]> = [
    ['not JSON', utf8('GET /v1/keys HTTP/1.1')],
    ['empty', new Uint8Array(0)],
    ['truncated JSON', utf8('{"method":"GET","path":"/v1/keys","ts":')],
    ['invalid UTF-8', Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])],
    ['a lone surrogate encoded as UTF-8 (CESU)', Uint8Array.from([0x22, 0xed, 0xa0, 0x80, 0x22])],
  ];
  const answers: string[] = [];
  for (const [label, plaintext] of cases) {
    const res = await post(c, sealBytes(c, plaintext));
    answers.push(`${label}: ${res.status} ${(res.body as { error?: { code?: string } }).error?.code ?? ''}`);
  }
  assert.deepEqual(
    answers,
    cases.map(([label]) => `${label}: 400 KH_E2E_INNER_INVALID`),
  );
  // The server is still fine afterwards.
  assert.equal((await post(c, envelopeFor(c))).status, 200);
});

test('schema-level failures of the envelope are 400 with the same plain error body', async (t) => {
  const c = await channel(t);
  const good = envelopeFor(c);
  const cases: Array<[string, unknown]> = [
    ['no ciphertext', { nonce: good.nonce, ephemeralPublicKey: good.ephemeralPublicKey }],
    ['extra field', { ...good, ts: Date.now() }],
    ['keyId a number', { ...good, keyId: 7 }],
    ['nonce over the schema limit', { ...good, nonce: '00'.repeat(65) }],
    ['not an object', [good]],
    ['null', null],
  ];
  for (const [label, body] of cases) {
    const res = await post(c, body);
    assert.equal(res.status, 400, `${label}: ${JSON.stringify(res.body)}`);
    const error = (res.body as { error: Record<string, unknown> }).error;
    assert.deepEqual(Object.keys(res.body as object), ['error'], label);
    assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'requestId'], label);
  }
  assert.equal((await post(c, good)).status, 200, 'the untouched envelope still works');
});
