/**
 * Property-based bad input for POST /v1/enclave/post against a listening
 * server: random bodies, random values in each envelope field, and correctly
 * encrypted random plaintexts (sealed by the independent client). The
 * invariants: the answer is 400 with exactly { error: { code, message,
 * requestId } } and a registered 400 code, or an encrypted 200 that opens to
 * an inner answer below 500; never 5xx, never a hang; the server keeps
 * answering and a real request still goes through afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { bearer } from '../helpers/keyhold.js';
import {
  fetchServerKey,
  hkdfSha256,
  innerRequestJson,
  openResponse,
  sealRequest,
  x25519Public,
  x25519Shared,
  xchachaSeal,
  type RequestEnvelope,
} from './independent-e2e-client.js';
import { channel, type Channel } from './channel-fixture.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const HANG_MS = 5_000;


interface Answer {
  readonly status: number;
  readonly text: string;
}

/** POST with a deadline: a request that never answers fails the property instead of the run. */
async function postRaw(c: Channel, body: string, contentType = 'application/json'): Promise<Answer> {
  const res = await fetch(`${c.apiUrl}/v1/enclave/post`, { method: 'POST', headers: { 'content-type': contentType }, body, signal: AbortSignal.timeout(HANG_MS) });
  return { status: res.status, text: await res.text() };
}

/** 400 with the plain error body and a registered 400 code. */
function assertOuterError(answer: Answer, label: string): void {
  assert.equal(answer.status, 400, `${label}: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
  const body = JSON.parse(answer.text) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(body), ['error'], label);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'requestId'], label);
  const code = body.error.code as ErrorCode;
  assert.equal(ERROR_CODES[code]?.status, 400, `${label}: ${String(code)} is a registered 400 code`);
  assert.doesNotMatch(answer.text, /\bat \S+ \(|node_modules|\/src\/|Error:/, `${label}: nothing internal leaks`);
}

/** 400 as above, or an encrypted 200 that opens with `esk` to an inner answer below 500. */
function assertAnswer(answer: Answer, label: string, opener?: { esk: Uint8Array; epk: string }): void {
  assert.ok(answer.status < 500, `${label}: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
  if (answer.status !== 200 || opener === undefined) return assertOuterError(answer, label);
  const body = JSON.parse(answer.text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['ciphertext', 'ephemeralPublicKey', 'nonce'], label);
  const inner = openResponse(opener.esk, opener.epk, body);
  assert.ok(inner.status < 500, `${label}: inner ${inner.status} ${JSON.stringify(inner.body).slice(0, 300)}`);
}

/** The server still answers, and a real request through the channel still works. */
async function stillServing(c: Channel): Promise<void> {
  const key = await fetchServerKey(c.apiUrl);
  assert.equal(key.publicKey, c.key.publicKey);
  const { envelope, ephemeralSecret } = sealRequest(key.publicKey, key.keyId, innerRequestJson({ method: 'GET', path: '/v1/keys', headers: bearer(c.rootToken) }, Date.now()));
  const answer = await postRaw(c, JSON.stringify(envelope));
  assert.equal(answer.status, 200, answer.text);
  assert.equal(openResponse(ephemeralSecret, envelope.ephemeralPublicKey, JSON.parse(answer.text)).status, 200);
}

function freshEnvelope(c: Channel, inner = innerRequestJson({ method: 'GET', path: '/v1/keys' }, Date.now())): { envelope: RequestEnvelope; esk: Uint8Array } {
  const { envelope, ephemeralSecret } = sealRequest(c.key.publicKey, c.key.keyId, inner);
  return { envelope, esk: ephemeralSecret };
}

/** §1 steps 1-6 over arbitrary bytes (the client only seals strings). */
function sealBytes(c: Channel, plaintext: Uint8Array): { envelope: RequestEnvelope; esk: Uint8Array } {
  const server = Uint8Array.from(Buffer.from(c.key.publicKey, 'hex'));
  const esk = randomBytes(32);
  const epk = x25519Public(esk);
  const key = hkdfSha256(x25519Shared(esk, server), Uint8Array.from([...epk, ...server]), utf8('keyhold e2e v1 request'), 32);
  const nonce = randomBytes(24);
  return { envelope: { ciphertext: toHex(xchachaSeal(key, nonce, plaintext, new Uint8Array(0))), nonce: toHex(nonce), ephemeralPublicKey: toHex(epk), keyId: c.key.keyId }, esk };
}

// ---------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------

const hexOf = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map(toHex);
/** Strings a field might plausibly be fuzzed with: hex of every length, near-hex, text, binary. */
const fieldString = fc.oneof(
  hexOf(0, 80),
  hexOf(0, 40).map((h) => h.toUpperCase()),
  hexOf(1, 40).map((h) => h.slice(1)),
  hexOf(1, 40).map((h) => `0x${h}`),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFgxz -'), maxLength: 100 }),
  fc.constant(''),
);
const fieldValue = fc.oneof({ weight: 4, arbitrary: fieldString }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });
const FIELDS = ['ciphertext', 'nonce', 'ephemeralPublicKey', 'keyId'] as const;
type Mutation = { kind: 'set'; field: (typeof FIELDS)[number]; value: unknown } | { kind: 'delete' | 'upper'; field: (typeof FIELDS)[number] } | { kind: 'extra'; name: string; value: unknown };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), field: fc.constantFrom(...FIELDS), value: fieldValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('delete' as const, 'upper' as const), field: fc.constantFrom(...FIELDS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('extra' as const), name: fc.string({ minLength: 1, maxLength: 12 }).filter((n) => !(FIELDS as readonly string[]).includes(n)), value: fc.jsonValue({ maxDepth: 1 }) }) },
);

const ROUTES = ['/v1/keys', '/v1/keys/k', '/v1/keys/k/encrypt', '/v1/sys/seal-status', '/v1/sys/health', '/v1/auth/login', '/v1/auth/machine/challenge', '/v1/sys/unseal', '/v1/enclave', '/v1/enclave/post'];
const pathUnit = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-._~%/?&=#\\:@!$'.split(''));
const innerPath = fc.oneof(
  fc.constantFrom(...ROUTES),
  fc.tuple(fc.constantFrom(...ROUTES, '/v1/', '/', ''), fc.string({ unit: pathUnit, maxLength: 30 })).map(([a, b]) => a + b),
  fc.string({ maxLength: 40 }),
);
/** Inner requests that are JSON objects, mostly well-formed, with every field sometimes wrong. No token: nothing can change the vault. */
const innerObject = fc.record(
  {
    method: fc.oneof(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'get', 'post', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT'), fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 0 })),
    path: fc.oneof({ weight: 5, arbitrary: innerPath }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }),
    headers: fc.oneof(
      { weight: 4, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom('authorization', 'x-keyhold-token', 'signature', 'signature-input', 'content-digest', 'accept', 'host', 'content-type', 'x-keyhold-e2e-channel'), fc.string({ maxLength: 16 })), fc.string({ maxLength: 60 }), { maxKeys: 5 }) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    ),
    body: fc.jsonValue({ maxDepth: 3 }),
    ts: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: -50_000, max: 50_000 }).map((d) => Date.now() + d) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 0 }) }),
  },
  { requiredKeys: ['method', 'path', 'ts'] },
);

const RUNS = { numRuns: 150 } as const;

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

test('random bodies: always 400 with the plain error body', async (t) => {
  const c = await channel(t);
  const body = fc.oneof(
    fc.json({ maxDepth: 3 }),
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
    fc.record({ ciphertext: fieldValue, nonce: fieldValue, ephemeralPublicKey: fieldValue, keyId: fieldValue }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 120 }),
    fc.string({ unit: 'binary', maxLength: 120 }),
  );
  await fc.assert(
    fc.asyncProperty(body, async (raw) => {
      assertOuterError(await postRaw(c, raw), `body ${JSON.stringify(raw).slice(0, 120)}`);
    }),
    RUNS,
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'application/json; charset=latin1'), fc.string({ maxLength: 60 }), async (type, raw) => {
      const answer = await postRaw(c, raw, type);
      assert.ok(answer.status >= 400 && answer.status < 500, `${type}: HTTP ${answer.status} ${answer.text}`);
    }),
    { numRuns: 40 },
  );
  await stillServing(c);
});

test('random values in each envelope field of a real envelope: 400, or 200 when the change kept it valid', async (t) => {
  const c = await channel(t);
  await fc.assert(
    fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (mutations) => {
      const { envelope, esk } = freshEnvelope(c);
      const changed: Record<string, unknown> = { ...envelope };
      for (const m of mutations) {
        if (m.kind === 'set') changed[m.field] = m.value;
        else if (m.kind === 'extra') changed[m.name] = m.value;
        else if (m.kind === 'delete') delete changed[m.field];
        else if (typeof changed[m.field] === 'string') changed[m.field] = (changed[m.field] as string).toUpperCase();
      }
      assertAnswer(await postRaw(c, JSON.stringify(changed)), `mutations ${JSON.stringify(mutations).slice(0, 200)}`, { esk, epk: envelope.ephemeralPublicKey });
    }),
    { numRuns: 200 },
  );
  await stillServing(c);
});

test('correctly encrypted random inner request objects: 400 or an encrypted 200 with an inner answer below 500', async (t) => {
  const c = await channel(t);
  await fc.assert(
    fc.asyncProperty(innerObject, async (inner) => {
      const json = JSON.stringify(inner);
      const { envelope, esk } = freshEnvelope(c, json);
      assertAnswer(await postRaw(c, JSON.stringify(envelope)), `inner ${json.slice(0, 200)}`, { esk, epk: envelope.ephemeralPublicKey });
    }),
    RUNS,
  );
  await stillServing(c);
});

// Fails while channel-routes.ts lets parseJson()'s ChannelEnvelopeError escape as 500 KH_INTERNAL
// (see the deterministic test in channel-outer-errors.test.ts).
test('correctly encrypted arbitrary plaintexts (strings and raw bytes): 400 or an encrypted 200, never 5xx', async (t) => {
  const c = await channel(t);
  const plaintext = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }).map((s) => ({ kind: 'string' as const, s })),
    fc.json({ maxDepth: 3 }).map((s) => ({ kind: 'string' as const, s })),
    fc.json({ maxDepth: 2 }).map((s) => ({ kind: 'string' as const, s: s.slice(0, Math.max(0, s.length - 1)) })),
    fc.uint8Array({ maxLength: 200 }).map((b) => ({ kind: 'bytes' as const, b })),
  );
  await fc.assert(
    fc.asyncProperty(plaintext, async (p) => {
      const { envelope, esk } = p.kind === 'string' ? freshEnvelope(c, p.s) : sealBytes(c, p.b);
      const label = p.kind === 'string' ? `innerJson ${JSON.stringify(p.s).slice(0, 200)}` : `bytes ${toHex(p.b).slice(0, 200)}`;
      assertAnswer(await postRaw(c, JSON.stringify(envelope)), label, { esk, epk: envelope.ephemeralPublicKey });
    }),
    { numRuns: 150 },
  );
  await stillServing(c);
});

test('issue 15: huge and deep outer bodies, and deep inner requests, get a 4xx with a registered code, never a 5xx', async (t) => {
  const c = await channel(t);
  // Outer: deep JSON (refused before parsing) and bodies with huge fields (read within the limit, then refused).
  const outer = fc.oneof(
    fc.integer({ min: 33, max: 20_000 }).map((n) => ({ raw: '['.repeat(n) + ']'.repeat(n), codes: ['KH_BODY_TOO_DEEP'] })),
    fc.integer({ min: 33, max: 5_000 }).map((n) => ({ raw: `{"ciphertext":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`, codes: ['KH_BODY_TOO_DEEP'] })),
    fc
      .tuple(fc.integer({ min: 64 * 1024, max: 1024 * 1024 }), fc.constantFrom('a', 'z', '0'))
      .map(([n, ch]) => ({ raw: JSON.stringify({ ciphertext: ch.repeat(n), nonce: '00', ephemeralPublicKey: '00' }), codes: ['KH_E2E_ENVELOPE_INVALID'] })),
  );
  await fc.assert(
    fc.asyncProperty(outer, async ({ raw, codes }) => {
      const answer = await postRaw(c, raw);
      assertOuterError(answer, `outer body of ${raw.length} bytes`);
      const code = (JSON.parse(answer.text) as { error: { code: string } }).error.code;
      assert.ok(codes.includes(code), `${code} for an outer body of ${raw.length} bytes`);
    }),
    { numRuns: 20 },
  );
  // Inner: a real envelope around a deep request (oversized inner batches: test/api/request-limits.test.ts and the /v1/keys fuzzer).
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 32, max: 3_000 }), async (n) => {
      const json = innerRequestJson({ method: 'POST', path: '/v1/keys', headers: bearer(c.rootToken), body: JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown }, Date.now());
      const { envelope } = freshEnvelope(c, json);
      const answer = await postRaw(c, JSON.stringify(envelope));
      assertOuterError(answer, 'deep inner request');
      assert.equal((JSON.parse(answer.text) as { error: { code: string } }).error.code, 'KH_BODY_TOO_DEEP');
    }),
    { numRuns: 12 },
  );
  await stillServing(c);
});
