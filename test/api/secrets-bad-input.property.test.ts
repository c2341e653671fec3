/**
 * Property-based bad input for every /v1/secrets route and the workload
 * login routes, through inject() on an unsealed vault with the simulated
 * enclave trusted: never a 5xx; every error is `{ error: { code, message,
 * requestId } }` with a registered code whose status is the HTTP status;
 * nothing internal (stack frames, source paths) is shown. Paths, bodies and
 * queries mix near-valid values (real paths, plausible documents, generated
 * specs, CAS numbers, attestation documents) with arbitrary ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { bearer } from '../helpers/keyhold.js';
import { documentFor, ed25519Pair, workloadVault } from '../helpers/workload.js';

const ROUTES = [
  ['GET', '/v1/secrets/data/'],
  ['POST', '/v1/secrets/data/'],
  ['POST', '/v1/secrets/release/'],
  ['POST', '/v1/secrets/delete/'],
  ['POST', '/v1/secrets/undelete/'],
  ['POST', '/v1/secrets/destroy/'],
  ['GET', '/v1/secrets/metadata/'],
  ['POST', '/v1/secrets/metadata/'],
  ['DELETE', '/v1/secrets/metadata/'],
  ['GET', '/v1/secrets/list/'],
] as const;

const segment = fc.oneof(
  fc.constantFrom('app', 'db', 'web', 'tls', '..', '.', '', '%2F', '%00', 'é', 'a b', '%2e%2e', 'x'.repeat(130)),
  fc.stringMatching(/^[A-Za-z0-9._@=+-]{1,12}$/),
  fc.string({ maxLength: 8 }),
);
const path = fc.array(segment, { minLength: 0, maxLength: 5 }).map((s) => s.map((x) => encodeURIComponent(x).replace(/%25/g, '%')).join('/'));
const text = fc.oneof(fc.string({ maxLength: 40 }), fc.constant('x'.repeat(2000)));
const stringMap = fc.dictionary(fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.-]{1,10}$/), fc.string({ maxLength: 10 }), fc.constantFrom('..', '__proto__', 'constructor', 'type')), text, { maxKeys: 4 });
const b64 = fc.oneof(fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('base64')), fc.string({ maxLength: 20 }));
const generate = fc.oneof(
  fc.record({ kind: fc.constant('password'), length: fc.oneof(fc.integer({ min: -5, max: 2000 }), fc.constant(32)), alphabet: fc.oneof(fc.string({ maxLength: 10 }), fc.constant('ab')) }, { requiredKeys: ['kind'] }),
  fc.record({ kind: fc.constant('datakey'), key: fc.oneof(fc.constant('wrap'), fc.constant('nope'), fc.string({ maxLength: 10 })), bits: fc.constantFrom(128, 256, 512, 7) }, { requiredKeys: ['kind', 'key'] }),
  fc.record({ kind: fc.constant('ssh-host-key'), comment: fc.string({ maxLength: 10 }) }, { requiredKeys: ['kind'] }),
  fc.record({ kind: fc.string({ maxLength: 8 }) }),
);
const releasePolicy = fc.oneof(fc.constant(null), fc.record({ pcrs: fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 100 }), { maxKeys: 3 }), allowDebug: fc.boolean(), maxAgeSeconds: fc.integer({ min: -1, max: 100000 }) }, { requiredKeys: [] }));

function bodies(doc: string) {
  return fc.oneof(
    fc.record(
      {
        data: stringMap,
        files: fc.dictionary(fc.string({ maxLength: 10 }), b64, { maxKeys: 3 }),
        tls: fc.record({ certificate: text, privateKey: text, ca: text }, { requiredKeys: [] }),
        generate,
        options: fc.record({ cas: fc.oneof(fc.integer({ min: -2, max: 5 }), fc.string({ maxLength: 3 })) }, { requiredKeys: [] }),
      },
      { requiredKeys: [] },
    ),
    fc.record({ versions: fc.oneof(fc.array(fc.integer({ min: -3, max: 12 }), { maxLength: 5 }), fc.anything()) }, { requiredKeys: [] }),
    fc.record(
      { maxVersions: fc.integer({ min: -1, max: 200 }), casRequired: fc.anything(), deleteVersionAfterSeconds: fc.integer({ min: -1, max: 1e10 }), customMetadata: stringMap, releasePolicy },
      { requiredKeys: [] },
    ),
    fc.record({ version: fc.integer({ min: -1, max: 5 }), recipient: fc.record({ attestationDocument: fc.oneof(fc.constant(doc), b64) }, { requiredKeys: [] }) }, { requiredKeys: [] }),
    fc.anything(),
  );
}

function checkAnswer(where: string, res: { statusCode: number; body: string; headers: Record<string, unknown> }): void {
  assert.ok(res.statusCode < 500, `${where}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  if (res.statusCode < 400) return;
  const body = JSON.parse(res.body) as { error?: { code?: string; message?: string; requestId?: string } };
  assert.deepEqual(Object.keys(body), ['error'], where);
  assert.deepEqual(Object.keys(body.error!).sort(), ['code', 'message', 'requestId'], where);
  const code = body.error!.code as ErrorCode;
  assert.ok(code in ERROR_CODES, `${where}: unregistered ${code}`);
  assert.equal(ERROR_CODES[code].status, res.statusCode, `${where}: ${code}`);
  assert.ok(!/\bat \S+ \(|\.ts:\d|node_modules|Error:/.test(res.body), `${where}: internal detail ${res.body.slice(0, 300)}`);
}

test('no /v1/secrets route answers a 5xx or an unregistered error, whatever the path, query and body', async (t) => {
  const v = await workloadVault(t, () => ({ web: { allowAnyMeasurement: true } }));
  const headers = bearer(v.rootToken);
  await v.app.api.inject({ method: 'POST', url: '/v1/keys', headers, payload: { name: 'wrap', type: 'aes256-gcm' } });
  for (const p of ['app/db', 'app/web/tls', 'db']) await v.app.api.inject({ method: 'POST', url: `/v1/secrets/data/${p}`, headers, payload: { data: { a: 'b' } } });
  await v.app.api.inject({ method: 'POST', url: '/v1/secrets/metadata/db', headers, payload: { releasePolicy: { pcrs: { 0: v.pcr0 } } } });
  const doc = await documentFor(v.enclave, undefined, new Uint8Array(32).fill(9));
  for (const [method, prefix] of ROUTES) {
    await fc.assert(
      fc.asyncProperty(path, fc.oneof(fc.constant(''), fc.constantFrom('?version=1', '?version=0', '?version=abc', '?list=true', '?x=1')), bodies(doc), async (p, query, body) => {
        const url = `${prefix}${p}${query}`;
        const res = await v.app.api.inject({ method, url, headers, ...(method !== 'GET' && method !== 'DELETE' && { payload: body as object }) });
        checkAnswer(`${method} ${url}`, res);
      }),
      { numRuns: 60 },
    );
  }
});

test('the workload login routes never answer a 5xx, whatever the role and document', async (t) => {
  const v = await workloadVault(t, (pcr0) => ({ web: { pcrs: { 0: pcr0 } } }));
  const { spki } = ed25519Pair();
  const good = await documentFor(v.enclave, undefined, spki);
  const corrupt = fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
    const b = Buffer.from(good, 'base64');
    b[i % b.length]! ^= x;
    return b.toString('base64');
  });
  checkAnswer('challenge', await v.app.api.inject({ url: '/v1/auth/attest/challenge' }));
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(fc.record({ role: fc.oneof(fc.constant('web'), fc.string({ maxLength: 20 })), attestationDocument: fc.oneof(fc.constant(good), corrupt, b64) }, { requiredKeys: [] }), fc.anything()),
      async (body) => {
        const res = await v.app.api.inject({ method: 'POST', url: '/v1/auth/attest/login', payload: body as object, remoteAddress: `10.0.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}` });
        checkAnswer('attest login', res);
        assert.notEqual(res.statusCode, 200, 'no nonce: never a login');
      },
    ),
    { numRuns: 150 },
  );
});
