/**
 * Property-based bad input for the Vault transit API, through inject():
 * wrong types, missing fields, unknown paths and methods, broken JSON, bad
 * tokens and batches with bad items. Invariants: never a 5xx; every error is
 * `{ errors: [string...] }` (nothing internal shown); a 2xx or a batch answer
 * (Vault answers a batch with failed items with its envelope) carries `data`;
 * a refusal of the token is 403 "permission denied" whatever the body. A test
 * checks the path table against app.routes, so a new transit route gets fuzzed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runningVault, unsealedVault } from '../../helpers/keyhold.js';
import { tempDir } from '../../helpers/temp-dir.js';

const KEYS = ['aes', 'ed', 'p256', 'rsa', 'mac', 'missing', 'x'.repeat(200)];
/** Every transit route, as a template; `:name` is drawn from KEYS. */
const PATHS: [string, string][] = [
  ['POST', '/v1/transit/keys/:name'],
  ['GET', '/v1/transit/keys/:name'],
  ['GET', '/v1/transit/keys'],
  ['DELETE', '/v1/transit/keys/:name'],
  ['POST', '/v1/transit/keys/:name/config'],
  ['POST', '/v1/transit/keys/:name/rotate'],
  ['POST', '/v1/transit/keys/:name/trim'],
  ['GET', '/v1/transit/wrapping_key'],
  ['POST', '/v1/transit/keys/:name/import'],
  ['POST', '/v1/transit/keys/:name/import_version'],
  ['GET', '/v1/transit/export/:type/:name'],
  ['GET', '/v1/transit/export/:type/:name/:version'],
  ['POST', '/v1/transit/encrypt/:name'],
  ['POST', '/v1/transit/decrypt/:name'],
  ['POST', '/v1/transit/rewrap/:name'],
  ['POST', '/v1/transit/datakey/:type/:name'],
  ['POST', '/v1/transit/sign/:name'],
  ['POST', '/v1/transit/sign/:name/:hash'],
  ['POST', '/v1/transit/verify/:name'],
  ['POST', '/v1/transit/verify/:name/:hash'],
  ['POST', '/v1/transit/hmac/:name'],
  ['POST', '/v1/transit/hmac/:name/:hash'],
  ['POST', '/v1/transit/random'],
  ['POST', '/v1/transit/random/:bytes'],
  ['POST', '/v1/transit/hash'],
  ['POST', '/v1/transit/hash/:algorithm'],
];
const FIELDS = ['plaintext', 'ciphertext', 'input', 'signature', 'hmac', 'type', 'bits', 'bytes', 'format', 'algorithm', 'hash_algorithm', 'key_version', 'context', 'nonce', 'reference', 'batch_input', 'deletion_allowed', 'min_decryption_version', 'min_encryption_version', 'min_available_version', 'exportable', 'derived', 'key_size', 'marshaling_algorithm', 'signature_algorithm', 'prehashed', 'partial_failure_response_code', 'associated_data', 'auto_rotate_period', 'hash_function', 'public_key', 'allow_rotation', 'version'];

const segment = fc.oneof(
  fc.constantFrom('plaintext', 'wrapped', 'encryption-key', 'signing-key', 'public-key', 'hmac-key', 'sha2-256', 'sha2-512', 'sha3-256', 'md5', 'latest', '1', '0', '99999999', '16', '-1', 'none'),
  // Not '.' or '..': light-my-request resolves them, and /v1/transit/.. is /v1/, outside transit (and its error shape).
  fc.stringMatching(/^[A-Za-z0-9._~-]{1,20}$/).filter((x) => x !== '.' && x !== '..'),
);
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('vault:v1:AAAA', 'vault:v2:', 'keyhold:v1:AAAA', 'aGVsbG8=', 'not base64!', '', 'aes256-gcm96', 'hmac', 'jws', 'pss', 'sha2-256', -1, 0, 1, 2 ** 40, true, null),
);
const item = fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 5 });
const body = fc.oneof(
  item,
  item.chain((base) => fc.array(item, { maxLength: 4 }).map((batch_input) => ({ ...base, batch_input }))),
  fc.jsonValue({ maxDepth: 2 }),
);

test('the fuzzed path table lists every transit route', async (t) => {
  const { app } = await unsealedVault(t);
  await app.api.ready();
  const transit = app.routes.filter((r) => r.url.startsWith('/v1/transit')).map((r) => `${r.method} ${r.url}`).sort();
  assert.deepEqual(transit, PATHS.map(([m, p]) => `${m} ${p}`).sort());
});

test('bad input to Vault transit is never a 5xx and always answers in Vault shape', async (t) => {
  const { app, rootToken } = await unsealedVault(t);
  for (const [name, type] of [['aes', 'aes256-gcm96'], ['ed', 'ed25519'], ['p256', 'ecdsa-p256'], ['rsa', 'rsa-2048'], ['mac', 'hmac']] as const) {
    const res = await app.api.inject({ method: 'POST', url: `/v1/transit/keys/${name}`, headers: { 'x-vault-token': rootToken }, payload: { type } });
    assert.equal(res.statusCode, 200, res.body);
  }
  const token = fc.constantFrom<Record<string, string>>(
    { 'x-vault-token': rootToken },
    { authorization: `Bearer ${rootToken}` },
    { 'x-vault-token': 'hvs.bogus' },
    { authorization: 'Basic abc' },
    {},
  );
  const path = fc.oneof(
    fc.constantFrom(...PATHS).chain(([method, template]) =>
      fc.record({ name: fc.constantFrom(...KEYS), seg: segment, seg2: segment, method: fc.oneof(fc.constant(method), fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH')) }).map(({ name, seg, seg2, method: m }) => ({
        method: m,
        url: template.replace(':name', name).replace(/:(type|hash|bytes|algorithm)/, seg).replace(':version', seg2),
      })),
    ),
    fc.record({ method: fc.constantFrom('GET', 'POST', 'DELETE'), url: fc.array(segment, { minLength: 0, maxLength: 4 }).map((s) => `/v1/transit/${s.join('/')}`) }),
    fc.constant({ method: 'GET', url: '/v1/transit/keys?list=nope' }),
  );
  const raw = fc.constantFrom(undefined, '{', '[]', 'null', '"x"', '{"plaintext":', 'plaintext=aGVsbG8=');

  await fc.assert(
    fc.asyncProperty(path, token, body, raw, fc.boolean(), async ({ method, url }, headers, json, rawBody, useRaw) => {
      const payload = useRaw && rawBody !== undefined ? rawBody : method === 'GET' || method === 'DELETE' ? undefined : JSON.stringify(json);
      const res = await app.api.inject({
        method: method as 'GET',
        url,
        headers: { ...headers, ...(payload !== undefined && { 'content-type': useRaw && rawBody?.startsWith('plaintext') ? 'application/x-www-form-urlencoded' : 'application/json' }) },
        ...(payload !== undefined && { payload }),
      });
      const where = `${method} ${url} ${payload ?? ''} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
      assert.ok(res.statusCode < 500, where);
      if (res.statusCode === 204) return;
      const answer = res.json<{ errors?: unknown; data?: { batch_results?: unknown } }>();
      if (res.statusCode < 300 || answer.data?.batch_results !== undefined) {
        assert.ok(answer.data !== undefined && answer.errors === undefined, where);
        return;
      }
      assert.deepEqual(Object.keys(answer), ['errors'], where);
      assert.ok(Array.isArray(answer.errors) && answer.errors.every((e) => typeof e === 'string'), where);
      assert.ok(!/\bat .*\.(ts|js):\d+|Error:/.test(res.body), `internal detail shown: ${where}`);
      const refusedToken = headers['x-vault-token'] === 'hvs.bogus' || headers.authorization === 'Basic abc' || Object.keys(headers).length === 0;
      if (refusedToken && res.statusCode !== 404 && res.statusCode !== 400) assert.equal(res.statusCode, 403, where);
    }),
    { numRuns: 400 },
  );
});

test('refusals on transit routes are audited with their code', async (t) => {
  const file = join(tempDir(t), 'audit.log');
  const { server, rootToken } = await runningVault(t, { audit: { file } });
  const post = (token: string) =>
    fetch(`${server.apiUrl}/v1/transit/encrypt/absent`, { method: 'POST', headers: { 'x-vault-token': token, 'content-type': 'application/json' }, body: JSON.stringify({ plaintext: 'aGVsbG8=' }) });
  assert.equal((await post('bogus')).status, 403);
  assert.equal((await post(rootToken)).status, 400);
  const entries = readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
  const text = JSON.stringify(entries);
  assert.ok(entries.some((e) => e.type === 'refused' && e.status === 403 && e.code === 'KH_AUTH_TOKEN_INVALID' && e.operation === 'transitEncrypt'), text);
  assert.ok(entries.some((e) => e.type === 'request' && e.operation === 'transitEncrypt'), text);
  assert.ok(entries.some((e) => e.type === 'response' && e.status === 400), text);
});

test('issue 15: oversized batch_input, huge and deep bodies on transit are refused in Vault shape before any item runs, never a 5xx', async (t) => {
  const { app, rootToken } = await unsealedVault(t);
  const headers = { 'x-vault-token': rootToken, 'content-type': 'application/json' };
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/transit/keys/aes', headers, payload: { type: 'aes256-gcm96' } })).statusCode, 200);
  const route = fc.constantFrom('/v1/transit/encrypt/aes', '/v1/transit/decrypt/aes', '/v1/transit/rewrap/aes', '/v1/transit/sign/aes', '/v1/transit/verify/aes', '/v1/transit/hmac/aes');
  const shape = fc.oneof(
    fc.integer({ min: 1_001, max: 100_000 }).map((n) => ({ payload: `{"batch_input":[${Array(n).fill('{"plaintext":"AAAA","input":"AAAA"}').join(',')}]}`, status: [400, 413] })),
    fc.integer({ min: 33, max: 5_000 }).map((n) => ({ payload: `{"batch_input":[${'['.repeat(n)}${']'.repeat(n)}]}`, status: [400] })),
    fc.integer({ min: 12 * 1024 * 1024, max: 16 * 1024 * 1024 }).map((n) => ({ payload: JSON.stringify({ plaintext: 'A'.repeat(n) }), status: [413] })),
  );
  await fc.assert(
    fc.asyncProperty(route, shape, async (url, { payload, status }) => {
      const res = await app.api.inject({ method: 'POST', url, headers, payload });
      const where = `POST ${url} (${payload.length} bytes) -> ${res.statusCode} ${res.body.slice(0, 200)}`;
      assert.ok(status.includes(res.statusCode), where);
      const answer = res.json<{ errors?: unknown; data?: unknown }>();
      assert.deepEqual(Object.keys(answer), ['errors'], `Vault's error shape, no batch_results: ${where}`);
    }),
    { numRuns: 30 },
  );
});
