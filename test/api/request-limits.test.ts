/**
 * Issue 15 M3/M4/L1 and the JSON depth limit, through inject(): deep bodies
 * are refused before parsing (KH_BODY_TOO_DEEP), public routes are
 * rate-limited per address (IPv6 per /64) with Retry-After, public body
 * limits follow from their schemas, batch sizes are schema limits refused
 * before the request is audited, and base64 validation is linear (valid 4 MiB
 * inputs are accepted, not a 500).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold, type KeyholdApp } from '../../src/api/keyhold-app.js';
import { addressKey, AddressRateLimit } from '../../src/api/address-rate-limit.js';
import { BodyBudget } from '../../src/api/body-budget.js';
import { jsonDepthExceeds, jsonSizeBound, MAX_JSON_DEPTH } from '../../src/api/json-limits.js';
import { fromBase64Strict, isBase64Strict } from '../../src/crypto/bytes.js';
import { bearer, initVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const deepObject = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

async function vault(t: Parameters<typeof tempDir>[0], overrides: Record<string, unknown> = {}): Promise<{ app: KeyholdApp; rootToken: string; auditPath: string }> {
  const dir = tempDir(t);
  const auditPath = join(dir, 'audit.log');
  const config = resolveConfig({
    storage: { path: join(dir, 'k.db') },
    listeners: { api: { port: 0 }, health: { port: 0 } },
    log: { level: 'silent' },
    audit: { file: auditPath },
    ...overrides,
  });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const init = await initVault(app);
  await unsealVault(app, init.shares.slice(0, 2));
  return { app, rootToken: init.rootToken, auditPath };
}

function code(res: { body: string }): string | undefined {
  try {
    return (JSON.parse(res.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

test('the depth scan is linear, counts only structure outside strings and agrees with the parsed depth', () => {
  assert.equal(jsonDepthExceeds(nested(MAX_JSON_DEPTH)), false);
  assert.equal(jsonDepthExceeds(nested(MAX_JSON_DEPTH + 1)), true);
  assert.equal(jsonDepthExceeds(deepObject(MAX_JSON_DEPTH + 1)), true);
  // Brackets and escaped quotes inside strings are not structure.
  assert.equal(jsonDepthExceeds(`{"a":"${'['.repeat(100)}\\"${'{'.repeat(100)}"}`), false);
  assert.equal(jsonDepthExceeds(Buffer.from(nested(100_000))), true);
  const depthOf = (v: unknown): number => (v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 40 }), (v) => {
      const text = JSON.stringify(v);
      assert.equal(jsonDepthExceeds(text, 8), depthOf(v) > 8, text.slice(0, 200));
      assert.equal(jsonDepthExceeds(Buffer.from(text), 8), depthOf(v) > 8);
    }),
    { numRuns: 300 },
  );
});

test('a schema bound is never below the compact JSON of a value the schema accepts', () => {
  const schema = { type: 'object', properties: { a: { type: 'string', maxLength: 10 }, b: { type: 'array', maxItems: 3, items: { type: 'integer' } } }, additionalProperties: false };
  fc.assert(
    fc.property(fc.string({ maxLength: 10 }), fc.array(fc.integer(), { maxLength: 3 }), (a, b) => {
      assert.ok(JSON.stringify({ a, b }).length <= jsonSizeBound(schema));
    }),
  );
  assert.equal(jsonSizeBound({ type: 'string' }), Infinity);
  assert.equal(jsonSizeBound({ type: 'array', items: { type: 'integer' } }), Infinity);
  assert.equal(jsonSizeBound({ type: 'object', properties: {} }), Infinity, 'open objects are unbounded');
});

test('L1: base64 validation is a linear scan that agrees with the regex it replaces, and does not overflow on 8 MiB', () => {
  const big = Buffer.alloc(6 * 1024 * 1024, 7).toString('base64');
  assert.equal(isBase64Strict(big), true);
  assert.equal(fromBase64Strict(big)?.length, 6 * 1024 * 1024);
  for (const bad of ['A', 'AA=', 'A===', '=AAA', 'AA=A', 'AAA\n', 'AA-_', 'AAAA====', 'éAAA']) assert.equal(isBase64Strict(bad), false, bad);
  // The oracle is the regex it replaces, which is exact on short strings (it only overflowed on long ones).
  const REGEX = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  const b64Char = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \né'.split(''));
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 24 }), fc.array(b64Char, { maxLength: 24 }).map((a) => a.join(''))), (s) => {
      assert.equal(isBase64Strict(s), REGEX.test(s), JSON.stringify(s));
    }),
    { numRuns: 3000 },
  );
});

test('address keys: IPv4 as is, IPv4-mapped as IPv4, IPv6 by /64', () => {
  assert.equal(addressKey('10.0.0.1'), '10.0.0.1');
  assert.equal(addressKey('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(addressKey('2001:db8:1:2:aaaa::1'), addressKey('2001:0db8:0001:0002:ffff:1:2:3'));
  assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  const limit = new AddressRateLimit({ burst: 2, perSecond: 1 });
  assert.equal(limit.take('2001:db8::1', 0), undefined);
  assert.equal(limit.take('2001:db8::2', 0), undefined);
  assert.equal(limit.take('2001:db8::3', 0), 1, 'the same /64 shares one bucket');
  assert.equal(limit.take('2001:db9::3', 0), undefined);
  assert.equal(limit.take('2001:db8::3', 1000), undefined, 'refilled after a second');
});

test('the large-body budget: small bodies are free, a spent budget refuses, a release gives it back, one address gets a quarter', () => {
  const budget = new BodyBudget(1000, 10_000);
  assert.ok(budget.reserve('a', 1000), 'small bodies never wait');
  assert.equal(budget.inUse, 0);
  const first = budget.reserve('a', 2000)!;
  assert.equal(budget.reserve('a', 2000), undefined, 'one address holds at most a quarter');
  const second = budget.reserve('b', 2500)!;
  const third = budget.reserve('c', 2500)!;
  assert.equal(budget.reserve('d', 4000), undefined, 'the budget is spent');
  first();
  first();
  assert.equal(budget.inUse, 5000, 'a release counts once');
  assert.ok(budget.reserve('d', 4000));
  second();
  third();
  // A body larger than the whole budget passes alone, never beside others.
  const empty = new BodyBudget(1000, 10_000);
  const huge = empty.reserve('x', 50_000);
  assert.ok(huge);
  assert.equal(empty.reserve('y', 2000), undefined);
});

test('a body nested more than 32 levels is 400 KH_BODY_TOO_DEEP on public and token routes, before validation', async (t) => {
  const { app, rootToken } = await vault(t);
  const send = (url: string, payload: string, headers: Record<string, string> = {}) =>
    app.api.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers } });
  for (const body of [nested(MAX_JSON_DEPTH + 1), deepObject(MAX_JSON_DEPTH + 1), `{"key":${nested(5000)}}`]) {
    for (const url of ['/v1/sys/unseal', '/v1/auth/login', '/v1/sys/init']) {
      const res = await send(url, body);
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.equal(code(res), 'KH_BODY_TOO_DEEP', url);
    }
    const res = await send('/v1/keys', body, bearer(rootToken));
    assert.equal(code(res), 'KH_BODY_TOO_DEEP');
    const transit = await send('/v1/transit/keys/k', body, { 'x-vault-token': rootToken });
    assert.equal(transit.statusCode, 400, transit.body);
  }
  // At the limit the body is parsed and validated as usual.
  const ok = await send('/v1/sys/unseal', `{"key":${nested(MAX_JSON_DEPTH - 1)}}`);
  assert.equal(code(ok), 'KH_BAD_REQUEST');
});

test('M3: public routes are rate-limited per address with Retry-After; other addresses and token routes are not', async (t) => {
  const { app, rootToken } = await vault(t, { limits: { publicRequests: { burst: 5, perSecond: 1 } } });
  const get = (remoteAddress: string, url = '/v1/sys/seal-status', headers: Record<string, string> = {}) => app.api.inject({ method: 'GET', url, remoteAddress, headers } as InjectOptions);
  for (let i = 0; i < 5; i++) assert.equal((await get('192.0.2.7')).statusCode, 200);
  const limited = await get('192.0.2.7');
  assert.equal(limited.statusCode, 429);
  assert.equal(code(limited), 'KH_RATE_LIMITED');
  assert.ok(Number(limited.headers['retry-after']) >= 1);
  // Unknown paths and login are public too; so is the same /64 of IPv6.
  assert.equal((await get('192.0.2.7', '/v1/nope')).statusCode, 429);
  assert.equal((await get('192.0.2.8')).statusCode, 200, 'another address has its own bucket');
  for (let i = 0; i < 5; i++) await get(`2001:db8:0:1::${i + 1}`);
  assert.equal((await get('2001:db8:0:1::ff')).statusCode, 429, 'IPv6 counts per /64');
  assert.equal((await get('192.0.2.7', '/v1/keys', bearer(rootToken))).statusCode, 200, 'token routes are not public');
});

test('M3: public routes take small bodies, sized from their schemas; a schemaless public route takes 1 KiB', async (t) => {
  const { app } = await vault(t);
  const big = JSON.stringify({ key: 'A'.repeat(70 * 1024) });
  for (const url of ['/v1/sys/unseal', '/v1/sys/init', '/v1/auth/login', '/v1/auth/attest/login', '/v1/sys/rekey/update', '/v1/sys/generate-root/update']) {
    const res = await app.api.inject({ method: 'POST', url, payload: big, headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 413, `${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
    assert.equal(code(res), 'KH_PAYLOAD_TOO_LARGE');
  }
  // The login body limit is far below the old 64 KiB default: its fields are short.
  const login = await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: JSON.stringify({ username: 'a', password: 'b'.repeat(40 * 1024) }), headers: { 'content-type': 'application/json' } });
  assert.equal(login.statusCode, 413, login.body);
});

test('M4: an oversized batch is refused by its schema before the handler or the audit log sees an item', async (t) => {
  const { app, rootToken, auditPath } = await vault(t);
  const h = { ...bearer(rootToken), 'content-type': 'application/json' };
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/keys', payload: { name: 'k' }, headers: h })).statusCode, 200);
  const item = { plaintext: 'AAAA' };
  const before = readFileSync(auditPath, 'utf8').length;
  const res = await app.api.inject({ method: 'POST', url: '/v1/keys/k/encrypt/batch', payload: JSON.stringify({ items: Array(1001).fill(item) }), headers: h });
  assert.equal(res.statusCode, 400, res.body);
  assert.equal(code(res), 'KH_BATCH_TOO_LARGE');
  const written = readFileSync(auditPath, 'utf8').slice(before);
  assert.ok(!written.includes('"type":"request"'), 'no request entry: the batch was refused at validation');
  assert.ok(written.length < 4096, `the refusal is one short entry, not the items (${written.length} bytes)`);
  const empty = await app.api.inject({ method: 'POST', url: '/v1/keys/k/encrypt/batch', payload: { items: [] }, headers: h });
  assert.equal(code(empty), 'KH_BATCH_EMPTY');

  // A million items no longer fit in a batch body at all; refused before parsing, and fast.
  const million = Buffer.from(JSON.stringify({ items: Array(1_000_000).fill(item) }));
  const t0 = performance.now();
  const huge = await app.api.inject({ method: 'POST', url: '/v1/keys/k/encrypt/batch', payload: million, headers: h });
  const ms = performance.now() - t0;
  assert.equal(huge.statusCode, 413, huge.body);
  assert.ok(ms < 3000, `refused in ${ms} ms`);

  // Vault transit's batch_input: the same schema limit, answered in Vault's shape.
  await app.api.inject({ method: 'POST', url: '/v1/transit/keys/tk', payload: {}, headers: { 'x-vault-token': rootToken, 'content-type': 'application/json' } });
  const transit = await app.api.inject({
    method: 'POST',
    url: '/v1/transit/encrypt/tk',
    payload: JSON.stringify({ batch_input: Array(1001).fill({ plaintext: 'AAAA' }) }),
    headers: { 'x-vault-token': rootToken, 'content-type': 'application/json' },
  });
  assert.equal(transit.statusCode, 400, transit.body);
  assert.match(transit.body, /1000 items/);
  const ok = await app.api.inject({ method: 'POST', url: '/v1/keys/k/encrypt/batch', payload: { items: Array(1000).fill(item) }, headers: h });
  assert.equal(ok.statusCode, 200);
});

test('L1: valid base64 inputs up to the 4 MiB limit are accepted (were 500 KH_INTERNAL from ~3.36 MB)', async (t) => {
  const { app, rootToken } = await vault(t);
  const h = { ...bearer(rootToken), 'content-type': 'application/json' };
  await app.api.inject({ method: 'POST', url: '/v1/keys', payload: { name: 'k' }, headers: h });
  for (const size of [3 * 1024 * 1024, 4 * 1024 * 1024]) {
    const plaintext = Buffer.alloc(size, 1).toString('base64');
    const res = await app.api.inject({ method: 'POST', url: '/v1/keys/k/encrypt', payload: JSON.stringify({ plaintext }), headers: h });
    assert.equal(res.statusCode, 200, `${size}: ${res.body.slice(0, 200)}`);
    const back = await app.api.inject({ method: 'POST', url: '/v1/keys/k/decrypt', payload: { ciphertext: (res.json() as { ciphertext: string }).ciphertext }, headers: h });
    assert.equal(back.statusCode, 200);
    assert.equal((back.json() as { plaintext: string }).plaintext.length, plaintext.length);
  }
  const transit = await app.api.inject({ method: 'POST', url: '/v1/transit/keys/tk', payload: {}, headers: { 'x-vault-token': rootToken, 'content-type': 'application/json' } });
  assert.ok(transit.statusCode < 300, transit.body);
  const big = await app.api.inject({
    method: 'POST',
    url: '/v1/transit/encrypt/tk',
    payload: JSON.stringify({ plaintext: Buffer.alloc(4 * 1024 * 1024, 2).toString('base64') }),
    headers: { 'x-vault-token': rootToken, 'content-type': 'application/json' },
  });
  assert.equal(big.statusCode, 200, big.body.slice(0, 200));
});
