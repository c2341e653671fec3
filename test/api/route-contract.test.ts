/**
 * Every API route declares its auth, an operationId and a response schema
 * (routes are schema first); the OpenAPI document is generated from them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type RouteShorthandOptions } from 'fastify';
import { testVault } from '../helpers/keyhold.js';
import { enforceRouteContract, type RouteSummary } from '../../src/api/route-contract.js';
import { authzTarget } from '../../src/api/route-authz.js';
import '../../src/api/route-config.js';

/** The only routes that answer without a token. Adding one here is a security decision. */
/** The enclave channel is public and answers while sealed: its inner requests meet every gate themselves. */
const CHANNEL_ROUTES = ['GET /v1/enclave', 'GET /v1/enclave/attestation', 'POST /v1/enclave/post'];
/** AWS KMS (JSON 1.1) is one POST / for every operation: it authenticates each with SigV4 and asks the policy engine itself (src/api/compat/kms/kms-plugin.ts). */
const KMS_ROUTES = ['POST /'];
const PUBLIC_ROUTES = ['POST /v1/auth/login', 'POST /v1/auth/machine/challenge', 'POST /v1/auth/machine/login', 'POST /v1/auth/cert/login', 'GET /v1/auth/attest/challenge', 'POST /v1/auth/attest/login', 'GET /v1/auth/jwks', 'GET /v1/sys/health', 'GET /v1/sys/seal-status', 'POST /v1/sys/init', 'POST /v1/sys/unseal', 'GET /v1/sys/rekey/init', 'POST /v1/sys/rekey/init', 'DELETE /v1/sys/rekey/init', 'POST /v1/sys/rekey/update', 'GET /v1/sys/generate-root/init', 'POST /v1/sys/generate-root/init', 'DELETE /v1/sys/generate-root/init', 'POST /v1/sys/generate-root/update', ...CHANNEL_ROUTES, ...KMS_ROUTES];
/** The only routes that answer while sealed. */
const SEALED_ROUTES = ['GET /v1/sys/health', 'GET /v1/sys/seal-status', 'POST /v1/sys/init', 'POST /v1/sys/unseal', ...CHANNEL_ROUTES];

test('the OpenAPI document lists every route with a unique operationId and a success schema', async (t) => {
  const { app } = await testVault(t);
  await app.api.ready();
  const spec = app.api.swagger() as { paths: Record<string, Record<string, { operationId?: string; responses?: Record<string, unknown> }>> };
  const ops = Object.entries(spec.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));
  assert.equal(ops.length, app.routes.length);
  const ids = new Set<string>();
  for (const { path, method, op } of ops) {
    assert.ok(op.operationId, `${method} ${path} has no operationId`);
    assert.ok(!ids.has(op.operationId), `duplicate operationId ${op.operationId}`);
    ids.add(op.operationId);
    assert.ok(Object.keys(op.responses ?? {}).some((s) => s.startsWith('2')), `${method} ${path} has no success response`);
  }
});

test('only the expected routes are public or answer while sealed', async (t) => {
  const { app } = await testVault(t);
  await app.api.ready();
  const key = (r: RouteSummary) => `${r.method} ${r.url}`;
  assert.deepEqual(app.routes.filter((r) => r.auth === 'none').map(key).sort(), [...PUBLIC_ROUTES].sort());
  assert.deepEqual(app.routes.filter((r) => r.allowSealed).map(key).sort(), [...SEALED_ROUTES].sort());
  // Every other route is authorised by policy, under an action of the catalogue: none skips it (issue 15 H4).
  assert.deepEqual(app.routes.filter((r) => r.auth !== 'none' && r.auth !== 'token').map(key), []);
  for (const r of app.routes.filter((x) => x.auth === 'token')) assert.doesNotThrow(() => authzTarget(r.url, r.operationId), key(r));
});

test('a route without auth, operationId or response schema is refused at startup', async () => {
  const bad: RouteShorthandOptions[] = [
    { config: {}, schema: { operationId: 'x', response: { 200: {} } } },
    { config: { auth: 'token' }, schema: { response: { 200: {} } } },
    { config: { auth: 'token' }, schema: { operationId: 'x' } },
  ];
  for (const opts of bad) {
    const app = Fastify();
    enforceRouteContract(app, []);
    assert.throws(() => app.get('/x', opts, async () => ({})), TypeError);
    await app.close();
  }
});

test('identity routes are asked about the identity they act on; listings about System::"auth" (issue 15 M5)', () => {
  const target = { type: 'Target' };
  assert.deepEqual(authzTarget('/v1/auth/access-keys', 'createAccessKey'), { action: 'createAccessKey', batch: false, resource: target, surface: 'v1' });
  assert.deepEqual(authzTarget('/v1/auth/access-keys/:accessKeyId', 'deleteAccessKey').resource, target);
  assert.deepEqual(authzTarget('/v1/auth/users/:name/password', 'setUserPassword').resource, target);
  assert.deepEqual(authzTarget('/v1/auth/renew', 'renewToken').resource, target);
  assert.deepEqual(authzTarget('/v1/auth/access-keys', 'listAccessKeys').resource, { type: 'System', id: 'auth' });
});

test('a route acting on an identity must say which one (config.target), or the server refuses to build', async () => {
  const { installGates } = await import('../../src/api/hooks.js');
  const app = Fastify();
  installGates(app, { seal: undefined as never, tokens: undefined as never, accessTokens: undefined as never, policy: undefined as never, nonces: undefined as never, isShuttingDown: () => false });
  assert.throws(() => app.post('/v1/auth/users/:name/password', { config: { auth: 'token' }, schema: { operationId: 'setUserPassword' } }, async () => ({})), /names no target/);
  await app.close();
});

test('Vault transit routes ask the policy engine the questions of their /v1 equivalents', () => {
  const key = { type: 'Key', param: 'name' };
  assert.deepEqual(authzTarget('/v1/transit/encrypt/:name', 'transitEncrypt'), { action: 'encrypt', batch: false, resource: key, surface: 'vault-transit' });
  assert.deepEqual(authzTarget('/v1/transit/sign/:name/:hash', 'transitSignWithHash').action, 'sign');
  assert.deepEqual(authzTarget('/v1/transit/keys/:name', 'transitDeleteKey').action, 'scheduleKeyDeletion');
  assert.deepEqual(authzTarget('/v1/transit/keys/:name', 'transitCreateKey').resource, { type: 'System', id: 'keys' });
  assert.deepEqual(authzTarget('/v1/transit/hash/:algorithm', 'transitHashWithAlgorithm').resource, { type: 'System', id: 'tools' });
  assert.equal(authzTarget('/v1/keys/:name/encrypt', 'encrypt').surface, 'v1');
  assert.throws(() => authzTarget('/v1/transit/frobnicate/:name', 'transitFrobnicate'), TypeError);
  assert.throws(() => authzTarget('/v1/transit/encrypt', 'transitEncrypt'), TypeError);
});

test('secret routes ask about the Secret whose path is the URL wildcard', () => {
  const secret = { type: 'Secret', param: '*' };
  assert.deepEqual(authzTarget('/v1/secrets/data/*', 'readSecret'), { action: 'readSecret', batch: false, resource: secret, surface: 'v1' });
  assert.equal(authzTarget('/v1/secrets/release/*', 'readSecretForRecipient').action, 'readSecret');
  assert.equal(authzTarget('/v1/secrets/list/*', 'listSecrets').action, 'listSecrets');
  assert.throws(() => authzTarget('/v1/secrets/data/*', 'readKey'), TypeError);
  assert.throws(() => authzTarget('/v1/secrets/data', 'readSecret'), TypeError);
});
