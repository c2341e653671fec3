/**
 * Property-based tests of attestation-bound key release against a listening
 * server (simulated enclave, enclave.trustSimulatedRoot):
 *  - random `recipient` values and random attestationDocument strings (text,
 *    base64 of random bytes, byte-flipped and truncated genuine documents,
 *    COSE_Sign1 structures with random payload fields) on every route that
 *    takes a recipient: always a 4xx with a registered KH_ code and the plain
 *    error body, never 5xx, never any released material;
 *  - random release policies on create and PATCH: 200 exactly when an
 *    independent oracle says the policy is valid (with the normalized policy
 *    in the metadata), else 400 KH_RELEASE_POLICY_INVALID / KH_BAD_REQUEST;
 *  - genuine documents with random PCRs and module ids against random
 *    policies: the release decision and its 403 code match an oracle of the
 *    documented rules, and a release opens to the plaintext.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import { decode, encode } from 'cborg';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { bearer, runningVault } from '../helpers/keyhold.js';
import { createSimulatedProvider, type SimulatedProvider } from '../../src/attestation/simulated/simulated-provider.js';
import { hpkeOpenX25519 } from '../../src/crypto/recipient/hpke-x25519.js';
import { RECIPIENT_INFO } from '../../src/crypto/recipient/recipient-envelope.js';

const NUM_RUNS = 100;
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly body: Record<string, unknown>;
}

interface Vault {
  readonly apiUrl: string;
  readonly token: string;
  readonly enclave: SimulatedProvider;
  readonly simRoot: string;
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
}

async function vault(t: TestContext): Promise<Vault> {
  const { server, dir, rootToken } = await runningVault(t, { enclave: { provider: 'simulated', trustSimulatedRoot: true } });
  const simRoot = join(dir, 'enclave-sim');
  const enclave = await createSimulatedProvider({ rootDir: simRoot });
  t.after(() => enclave.close());
  return { apiUrl: server.apiUrl, token: rootToken, enclave, simRoot, pcrs: await enclave.pcrs() };
}

async function call(v: Vault, method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${v.apiUrl}${path}`, {
    method,
    headers: { ...bearer(v.token), ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
}

/** A 4xx whose body is exactly { error: { code, message, requestId } } with a registered code of that status. */
function assertKhError(a: Answer, label: string): ErrorCode {
  assert.ok(a.status >= 400 && a.status < 500, `${label}: HTTP ${a.status} ${a.text.slice(0, 300)}`);
  assert.deepEqual(Object.keys(a.body), ['error'], `${label}: ${a.text.slice(0, 300)}`);
  const error = a.body.error as Record<string, unknown>;
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'requestId'], label);
  const code = error.code as ErrorCode;
  assert.match(String(code), /^KH_[A-Z0-9_]+$/, label);
  assert.equal(ERROR_CODES[code]?.status, a.status, `${label}: ${String(code)} is registered with status ${a.status}`);
  assert.doesNotMatch(a.text, /\bat \S+ \(|node_modules|\/src\/|TypeError|RangeError/, `${label}: nothing internal leaks`);
  return code;
}

/** The key with a policy pinning this build's PCR0, one without, and a ciphertext under each. */
async function keys(v: Vault): Promise<{ policyCt: string; plainCt: string; secret: Uint8Array }> {
  const secret = new Uint8Array(randomBytes(48));
  assert.equal((await call(v, 'POST', '/v1/keys', { name: 'pol', releasePolicy: { pcrs: { '0': hex(v.pcrs.get(0)!) } } })).status, 200);
  assert.equal((await call(v, 'POST', '/v1/keys', { name: 'plain' })).status, 200);
  const policyCt = (await call(v, 'POST', '/v1/keys/pol/encrypt', { plaintext: b64(secret) })).body.ciphertext as string;
  const plainCt = (await call(v, 'POST', '/v1/keys/plain/encrypt', { plaintext: b64(secret) })).body.ciphertext as string;
  return { policyCt, plainCt, secret };
}

type Route = 'decrypt-policy' | 'decrypt-plain' | 'datakey-policy' | 'datakey-plain' | 'random' | 'decrypt-batch';
const ROUTES: readonly Route[] = ['decrypt-policy', 'decrypt-plain', 'datakey-policy', 'datakey-plain', 'random', 'decrypt-batch'];

/** Sends `recipient` to the route; asserts a KH_ refusal (per item for the batch route) and that nothing was released. */
async function sendRecipient(v: Vault, k: { policyCt: string; plainCt: string; secret: Uint8Array }, route: Route, recipient: unknown): Promise<string> {
  const label = `${route} ${JSON.stringify(recipient).slice(0, 120)}`;
  let a: Answer;
  switch (route) {
    case 'decrypt-policy':
      a = await call(v, 'POST', '/v1/keys/pol/decrypt', { ciphertext: k.policyCt, recipient });
      break;
    case 'decrypt-plain':
      a = await call(v, 'POST', '/v1/keys/plain/decrypt', { ciphertext: k.plainCt, recipient });
      break;
    case 'datakey-policy':
      a = await call(v, 'POST', '/v1/keys/pol/datakey', { recipient });
      break;
    case 'datakey-plain':
      a = await call(v, 'POST', '/v1/keys/plain/datakey', { recipient });
      break;
    case 'random':
      a = await call(v, 'POST', '/v1/sys/tools/random', { bytes: 32, recipient });
      break;
    case 'decrypt-batch':
      a = await call(v, 'POST', '/v1/keys/pol/decrypt/batch', { items: [{ ciphertext: k.policyCt, recipient }] });
      if (a.status === 200) {
        const results = a.body.results as Record<string, unknown>[];
        assert.equal(results.length, 1, label);
        assert.deepEqual(Object.keys(results[0]!), ['error'], `${label}: ${a.text.slice(0, 300)}`);
        const code = (results[0]!.error as { code: ErrorCode }).code;
        const status = ERROR_CODES[code]?.status ?? 0;
        assert.ok(status >= 400 && status < 500, `${label}: item ${String(code)}`);
        assert.ok(!a.text.includes(b64(k.secret).slice(0, 60)), label);
        return code;
      }
      break;
  }
  const code = assertKhError(a, label);
  assert.ok(!a.text.includes(b64(k.secret).slice(0, 60)), `${label}: the plaintext is not in the body`);
  return code;
}

// ---------------------------------------------------------------------------
// Arbitraries for recipients and documents
// ---------------------------------------------------------------------------

const base64Text = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/='.split('')), maxLength: 400 });
const documentString = (genuine: Uint8Array): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 100 }),
    base64Text,
    fc.uint8Array({ maxLength: 2000 }).map(b64),
    // One byte of a genuine document changed.
    fc.tuple(fc.nat({ max: genuine.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
      const d = genuine.slice();
      d[i]! ^= x;
      return b64(d);
    }),
    // A genuine document cut short, or with bytes appended.
    fc.nat({ max: genuine.length - 1 }).map((n) => b64(genuine.subarray(0, n))),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) => b64(new Uint8Array([...genuine, ...tail]))),
    // base64 tricks on a genuine document: url-safe alphabet, whitespace, no padding.
    fc.constantFrom(
      Buffer.from(genuine).toString('base64url'),
      b64(genuine).replace(/(.{76})/g, '$1\n'),
      ` ${b64(genuine)}`,
      b64(genuine.subarray(1)).replace(/=+$/, ''),
    ),
  );

/** Random CBOR values for payload fields. */
const cborValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.bigInt({ min: -(2n ** 64n) + 1n, max: 2n ** 64n - 1n }),
  fc.uint8Array({ maxLength: 80 }),
  fc.constantFrom(null, undefined, true, false),
  fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 3 }),
  fc.array(fc.tuple(fc.oneof(fc.integer({ min: -2, max: 40 }), fc.string({ maxLength: 2 })), fc.uint8Array({ maxLength: 70 })), { maxLength: 5 }).map((entries) => new Map(entries)),
);
const PAYLOAD_KEYS = ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce'] as const;

/** COSE_Sign1 built from a genuine document with payload fields replaced, deleted or added (the signature no longer covers it). */
function structuredDocument(genuine: Uint8Array): fc.Arbitrary<Uint8Array> {
  const [protectedBytes, unprotected, payload, signature] = decode(genuine, { useMaps: true }) as [Uint8Array, Map<unknown, unknown>, Uint8Array, Uint8Array];
  const fields = decode(payload, { useMaps: true }) as Map<string, unknown>;
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key: fc.constantFrom(...PAYLOAD_KEYS), value: cborValue }),
    fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...PAYLOAD_KEYS) }),
    fc.record({ kind: fc.constant('add' as const), key: fc.oneof(fc.string({ maxLength: 12 }), fc.integer()), value: cborValue }),
  );
  return fc
    .tuple(fc.array(edit, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.option(fc.uint8Array({ maxLength: 100 })))
    .map(([edits, tagged, sig]): Uint8Array | undefined => {
      const next = new Map<unknown, unknown>(fields);
      for (const e of edits) {
        if (e.kind === 'delete') next.delete(e.key);
        else next.set(e.key, e.value);
      }
      const nextPayload = encode(next, { mapSorter: () => 0 });
      // An edit that changed nothing would give back a genuine document (tag 18 is accepted): left out.
      if (sig === null && Buffer.compare(nextPayload, payload) === 0) return undefined;
      const cose = encode([protectedBytes, unprotected, nextPayload, sig ?? signature]);
      return tagged ? new Uint8Array([0xd2, ...cose]) : cose;
    })
    .filter((d): d is Uint8Array => d !== undefined);
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

test('random recipient values on every route that takes one: a 4xx KH_ refusal, never 5xx, nothing released', async (t) => {
  const v = await vault(t);
  const k = await keys(v);
  const recipient = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.record({ attestationDocument: fc.jsonValue({ maxDepth: 1 }) }),
    fc.dictionary(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
    fc.record({ attestationDocument: fc.string({ maxLength: 100 }), extra: fc.jsonValue({ maxDepth: 0 }) }),
    fc.constant({ attestationDocument: 'x'.repeat(50_000) }),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ROUTES), recipient, async (route, r) => {
      await sendRecipient(v, k, route, r);
    }),
    { numRuns: NUM_RUNS },
  );
});

test('random attestationDocument strings (text, random bytes, mutated genuine documents): a 4xx KH_ refusal, never 5xx, nothing released', async (t) => {
  const v = await vault(t);
  const k = await keys(v);
  const x = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }).x!;
  const genuine = await v.enclave.attest({ publicKey: new Uint8Array(Buffer.from(x, 'base64url')) });
  // Sanity: the genuine document itself is released to.
  const ok = await call(v, 'POST', '/v1/keys/pol/decrypt', { ciphertext: k.policyCt, recipient: { attestationDocument: b64(genuine) } });
  assert.equal(ok.status, 200, ok.text);

  const documents = fc.oneof({ weight: 3, arbitrary: documentString(genuine) }, { weight: 2, arbitrary: structuredDocument(genuine).map(b64) });
  const codes = new Set<string>();
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ROUTES), documents, async (route, attestationDocument) => {
      fc.pre(attestationDocument !== b64(genuine));
      codes.add(await sendRecipient(v, k, route, { attestationDocument }));
    }),
    { numRuns: NUM_RUNS },
  );
  // The inputs get past each stage of the verifier, not only the base64 check.
  for (const code of ['KH_INPUT_INVALID', 'KH_ATTESTATION_MALFORMED', 'KH_ATTESTATION_FIELD_INVALID', 'KH_ATTESTATION_SIGNATURE_INVALID']) {
    assert.ok(codes.has(code), `reached ${code}: ${[...codes].join(', ')}`);
  }
});

// --- Release policies on create / PATCH --------------------------------------

const PCR_HEX = /^(?:[0-9a-f]{64}|[0-9a-f]{96}|[0-9a-f]{128})$/;
const hexOfBytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map(hex);
/** Mostly `good`, sometimes `bad`: so that every verdict (valid, schema error, semantic error) is reached often. */
const mostly = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ weight: 8, arbitrary: good }, { weight: 1, arbitrary: bad });
const pcrIndex = mostly(
  fc.integer({ min: 0, max: 15 }).map(String),
  fc.oneof(fc.integer({ min: 16, max: 99 }).map(String), fc.constantFrom('-1', '01', '00', 'x', '', ' 1', '1 ', '1.0', '+1', '0x1', '١', '1e1', '15\n'), fc.string({ maxLength: 3 })),
) as fc.Arbitrary<string>;
const pcrValue: fc.Arbitrary<unknown> = mostly(
  fc.oneof(fc.constantFrom(32, 48, 64).chain(hexOfBytes), fc.constantFrom(32, 48, 64).chain(hexOfBytes).map((h) => h.toUpperCase())),
  fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 70 }).chain(hexOfBytes) },
    { weight: 2, arbitrary: fc.constantFrom(48).chain(hexOfBytes).map((h) => `${h.slice(0, 10)}g${h.slice(11)}`) },
    { weight: 2, arbitrary: fc.string({ maxLength: 130 }) },
    { weight: 1, arbitrary: fc.string({ minLength: 129, maxLength: 140 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 0 }) },
  ),
);
const policyFields = fc.record(
  {
    pcrs: mostly(fc.dictionary(pcrIndex, pcrValue, { maxKeys: 4 }), fc.oneof(fc.dictionary(pcrIndex, pcrValue, { minKeys: 17, maxKeys: 18 }), fc.jsonValue({ maxDepth: 1 }))),
    moduleIdPrefix: mostly(fc.string({ minLength: 1, maxLength: 40 }), fc.oneof(fc.constant(''), fc.string({ minLength: 129, maxLength: 140 }), fc.jsonValue({ maxDepth: 0 }))),
    allowDebug: mostly(fc.boolean(), fc.jsonValue({ maxDepth: 0 })),
    maxAgeSeconds: mostly(fc.oneof(fc.integer({ min: 1, max: 86_400 }), fc.constantFrom(1, 86_400)), fc.oneof(fc.constantFrom(0, -1, 86_401, 1.5), fc.double(), fc.jsonValue({ maxDepth: 0 }))),
  },
  { requiredKeys: [] },
);
const policyArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: policyFields },
  { weight: 1, arbitrary: fc.tuple(policyFields, fc.string({ minLength: 1, maxLength: 10 }), fc.jsonValue({ maxDepth: 0 })).map(([p, k, x]) => ({ ...(p as object), [k]: x })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

type PolicyVerdict = { kind: 'valid'; normalized: Record<string, unknown> } | { kind: 'schema' } | { kind: 'semantic' };

const isString = (x: unknown): x is string => typeof x === 'string';
const isPlainObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The documented rules (key-schemas.ts, release-policy.ts, docs/errors.md), independently. `p` is what the server parses. */
function judgePolicy(p: unknown): PolicyVerdict {
  if (!isPlainObject(p)) return { kind: 'schema' };
  const allowed = new Set(['pcrs', 'moduleIdPrefix', 'allowDebug', 'maxAgeSeconds']);
  if (Object.keys(p).some((k) => !allowed.has(k))) return { kind: 'schema' };
  const { pcrs, moduleIdPrefix, allowDebug, maxAgeSeconds } = p;
  if (pcrs !== undefined && (!isPlainObject(pcrs) || Object.keys(pcrs).length > 16 || Object.values(pcrs).some((x) => !isString(x) || [...x].length > 128))) return { kind: 'schema' };
  if (moduleIdPrefix !== undefined && (!isString(moduleIdPrefix) || [...moduleIdPrefix].length < 1 || [...moduleIdPrefix].length > 128)) return { kind: 'schema' };
  if (allowDebug !== undefined && typeof allowDebug !== 'boolean') return { kind: 'schema' };
  if (maxAgeSeconds !== undefined && (typeof maxAgeSeconds !== 'number' || !Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 1 || maxAgeSeconds > 86_400)) return { kind: 'schema' };
  const normalizedPcrs: Record<string, string> = {};
  for (const [index, value] of Object.entries((pcrs ?? {}) as Record<string, string>)) {
    if (!/^(?:[0-9]|1[0-5])$/.test(index)) return { kind: 'semantic' };
    if (!PCR_HEX.test(value.toLowerCase())) return { kind: 'semantic' };
    normalizedPcrs[index] = value.toLowerCase();
  }
  return {
    kind: 'valid',
    normalized: {
      ...(Object.keys(normalizedPcrs).length > 0 && { pcrs: normalizedPcrs }),
      ...(moduleIdPrefix !== undefined && { moduleIdPrefix }),
      allowDebug: allowDebug ?? false,
      maxAgeSeconds: maxAgeSeconds ?? 300,
    },
  };
}

function checkVerdict(a: Answer, verdict: PolicyVerdict, label: string): void {
  if (verdict.kind === 'valid') {
    assert.equal(a.status, 200, `${label}: a valid policy is accepted: ${a.text.slice(0, 300)}`);
    assert.deepEqual(a.body.releasePolicy, verdict.normalized, label);
    return;
  }
  const code = assertKhError(a, label);
  assert.equal(a.status, 400, label);
  assert.equal(code, verdict.kind === 'semantic' ? 'KH_RELEASE_POLICY_INVALID' : 'KH_BAD_REQUEST', `${label}: ${a.text.slice(0, 300)}`);
}

test('random release policies on create and PATCH: accepted (normalized) exactly when valid, else 400 with a KH_ code; never 5xx', async (t) => {
  const v = await vault(t);
  assert.equal((await call(v, 'POST', '/v1/keys', { name: 'base' })).status, 200);
  let n = 0;
  const seen = { valid: 0, schema: 0, semantic: 0 };
  await fc.assert(
    fc.asyncProperty(policyArb, async (policy) => {
      // What the server sees is the JSON round trip (NaN -> null, 5.0 -> 5, -0 -> 0).
      const sent = JSON.parse(JSON.stringify({ releasePolicy: policy }) ?? '{}') as { releasePolicy?: unknown };
      fc.pre(sent.releasePolicy !== undefined);
      const verdict = judgePolicy(sent.releasePolicy);
      seen[verdict.kind]++;
      const name = `p${n++}`;
      const label = `${name} ${JSON.stringify(sent.releasePolicy).slice(0, 200)}`;
      const created = await call(v, 'POST', '/v1/keys', { name, ...sent });
      checkVerdict(created, verdict, `create ${label}`);
      if (verdict.kind === 'valid') assert.deepEqual((await call(v, 'GET', `/v1/keys/${name}`)).body.releasePolicy, verdict.normalized, `read back ${label}`);
      else assert.equal((await call(v, 'GET', `/v1/keys/${name}`)).status, 404, `${label}: nothing created`);

      const before = (await call(v, 'GET', '/v1/keys/base')).body.releasePolicy;
      const patched = await call(v, 'PATCH', '/v1/keys/base', sent);
      // PATCH also takes null (remove): the schema is a union, so a shape error may be either way round.
      if (sent.releasePolicy === null) {
        assert.equal(patched.status, 200, patched.text);
        assert.equal(patched.body.releasePolicy, undefined);
        return;
      }
      checkVerdict(patched, verdict, `patch ${label}`);
      const after = (await call(v, 'GET', '/v1/keys/base')).body.releasePolicy;
      assert.deepEqual(after, verdict.kind === 'valid' ? verdict.normalized : before, `${label}: a refused PATCH changes nothing`);
    }),
    { numRuns: NUM_RUNS },
  );
  assert.ok(seen.valid >= 3 && seen.schema >= 3 && seen.semantic >= 3, `the generator covers every verdict: ${JSON.stringify(seen)}`);
});

// --- Release decisions -------------------------------------------------------

test('genuine documents with random PCRs and module ids vs random policies: released exactly when the documented rules allow, else the right 403', async (t) => {
  const v = await vault(t);
  const build = [...v.pcrs.values()];
  // A small pool of values so that matches are frequent: zeros (debug), this build's values, and a few others.
  const pool = [new Uint8Array(48), new Uint8Array(32), ...build.slice(0, 3), new Uint8Array(48).fill(0xab), new Uint8Array(64).fill(1)];
  const pcrValueArb = fc.constantFrom(...pool);
  const docPcrs = fc
    .oneof(
      { weight: 2, arbitrary: fc.constant(new Map(v.pcrs)) },
      { weight: 3, arbitrary: fc.array(fc.tuple(fc.integer({ min: 0, max: 31 }), pcrValueArb), { minLength: 1, maxLength: 8 }).map((e) => new Map(e)) },
      {
        weight: 2,
        arbitrary: fc.tuple(fc.constantFrom(new Uint8Array(48), new Uint8Array(32)), fc.boolean()).map(([zero, all]) => {
          const m = new Map(v.pcrs);
          for (const i of all ? [0, 1, 2] : [0, 1]) m.set(i, zero);
          return m;
        }),
      },
    )
    .filter((m) => m.size >= 1);
  const moduleIds = ['keyhold-sim-prod-1', 'keyhold-sim-dev-1', 'keyhold-sim-'];
  const policy = fc.record(
    {
      pcrs: fc.dictionary(fc.integer({ min: 0, max: 15 }).map(String), pcrValueArb.map(hex), { maxKeys: 3 }),
      moduleIdPrefix: fc.constantFrom('keyhold-sim-', 'keyhold-sim-prod', 'keyhold-sim-dev-1', 'other'),
      allowDebug: fc.boolean(),
    },
    { requiredKeys: [] },
  );
  const secret = new Uint8Array(randomBytes(48));
  let n = 0;
  const outcomes = new Map<string, number>();

  await fc.assert(
    fc.asyncProperty(docPcrs, fc.constantFrom(...moduleIds), policy, async (pcrs, moduleId, releasePolicy) => {
      const name = `r${n++}`;
      const created = await call(v, 'POST', '/v1/keys', { name, releasePolicy });
      assert.equal(created.status, 200, created.text);
      const ciphertext = (await call(v, 'POST', `/v1/keys/${name}/encrypt`, { plaintext: b64(secret) })).body.ciphertext as string;
      const recipientEnclave = await createSimulatedProvider({ rootDir: v.simRoot, pcrs, moduleId });
      const pair = generateKeyPairSync('x25519');
      const publicKey = new Uint8Array(Buffer.from(pair.publicKey.export({ format: 'jwk' }).x!, 'base64url'));
      const secretKey = new Uint8Array(Buffer.from(pair.privateKey.export({ format: 'jwk' }).d!, 'base64url'));
      const attestationDocument = b64(await recipientEnclave.attest({ publicKey }));
      await recipientEnclave.close();

      // The oracle: debug first, then module id, then each pinned PCR.
      const isZero = (b: Uint8Array | undefined) => b !== undefined && b.every((x) => x === 0);
      const debug = isZero(pcrs.get(0)) && isZero(pcrs.get(1)) && isZero(pcrs.get(2));
      let expected = 'released';
      if (releasePolicy.allowDebug !== true && debug) expected = 'KH_RELEASE_DEBUG_REFUSED';
      else if (releasePolicy.moduleIdPrefix !== undefined && !moduleId.startsWith(releasePolicy.moduleIdPrefix)) expected = 'KH_RELEASE_MODULE_MISMATCH';
      else if (Object.entries(releasePolicy.pcrs ?? {}).some(([i, h]) => pcrs.get(Number(i)) === undefined || hex(pcrs.get(Number(i))!) !== h)) expected = 'KH_RELEASE_PCR_MISMATCH';
      outcomes.set(expected, (outcomes.get(expected) ?? 0) + 1);

      const label = `${name} policy=${JSON.stringify(releasePolicy)} module=${moduleId} pcrs=${JSON.stringify([...pcrs].map(([i, b]) => [i, hex(b).slice(0, 8), b.length]))}`;
      const a = await call(v, 'POST', `/v1/keys/${name}/decrypt`, { ciphertext, recipient: { attestationDocument } });
      assert.ok(!a.text.includes(b64(secret).slice(0, 60)), `${label}: no plaintext in the body`);
      if (expected === 'released') {
        assert.equal(a.status, 200, `${label}: ${a.text.slice(0, 300)}`);
        assert.equal(a.body.plaintext, undefined);
        const opened = await hpkeOpenX25519(secretKey, new Uint8Array(Buffer.from(a.body.ciphertextForRecipient as string, 'base64')), RECIPIENT_INFO);
        assert.deepEqual(opened, secret, label);
      } else {
        assert.equal(a.status, 403, `${label}: ${a.text.slice(0, 300)}`);
        assert.equal(assertKhError(a, label), expected, label);
      }
    }),
    { numRuns: NUM_RUNS },
  );
  for (const o of ['released', 'KH_RELEASE_DEBUG_REFUSED', 'KH_RELEASE_MODULE_MISMATCH', 'KH_RELEASE_PCR_MISMATCH']) {
    assert.ok((outcomes.get(o) ?? 0) >= 3, `the generator reaches ${o}: ${JSON.stringify([...outcomes])}`);
  }
});
