/**
 * /v1/sys/policy over inject(), on a minimal Fastify app with only these
 * routes and the error handler (the gates and their policy check are tested
 * with the whole app).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ErrorBody } from '../../src/api/schemas.js';
import { installErrorHandlers } from '../../src/api/error-handler.js';
import { policyRoutes } from '../../src/api/sys/policy-routes.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { bundleSha256 } from '../../src/policy/bundle.js';
import { signed, signingKey, trusted, unsealedBarrier } from './policy-fixtures.js';

const KEY = signingKey('ops');

async function app(t: TestContext) {
  const { barrier } = await unsealedBarrier(t);
  const policy = new PolicyEngine(barrier, trusted(KEY));
  // The same validator options as keyhold-app.ts: unknown members are refused, not stripped.
  const api = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true } } }).withTypeProvider<TypeBoxTypeProvider>();
  api.addSchema(ErrorBody);
  installErrorHandlers(api);
  await api.register(policyRoutes, { policy });
  t.after(() => api.close());
  return api;
}

test('GET shows the default bundle, POST activates a signed one', async (t) => {
  const api = await app(t);
  const shown = await api.inject({ method: 'GET', url: '/v1/sys/policy' });
  assert.equal(shown.statusCode, 200);
  assert.deepEqual(Object.keys(shown.json()).sort(), ['issuedAt', 'policies', 'sha256', 'source', 'version']);
  assert.equal(shown.json().source, 'default');

  const { bytes, signature } = await signed(KEY, { version: 1, policies: 'permit(principal == Keyhold::User::"root", action, resource);' });
  const pushed = await api.inject({ method: 'POST', url: '/v1/sys/policy', payload: { bundle: Buffer.from(bytes).toString('base64'), signature } });
  assert.equal(pushed.statusCode, 200, pushed.body);
  assert.deepEqual(pushed.json(), { version: 1, sha256: bundleSha256(bytes) });
  const after = (await api.inject({ method: 'GET', url: '/v1/sys/policy' })).json();
  assert.equal(after.version, 1);
  assert.equal(after.source, 'pushed');
});

test('refusals carry the KH_POLICY_* code in the one error body', async (t) => {
  const api = await app(t);
  const { bytes, signature } = await signed(KEY, { version: 1, policies: 'permit(principal, action, resource' });
  const cases: [unknown, number, string][] = [
    [{ bundle: Buffer.from(bytes).toString('base64'), signature }, 400, 'KH_POLICY_INVALID'],
    [{ bundle: Buffer.from(bytes).toString('base64'), signature: 'x..y' }, 400, 'KH_POLICY_SIGNATURE_INVALID'],
    [{ bundle: 'not base64!', signature }, 400, 'KH_POLICY_BUNDLE_MALFORMED'],
    [{ bundle: 'AAAA', signature, extra: 1 }, 400, 'KH_BAD_REQUEST'],
  ];
  for (const [payload, status, code] of cases) {
    const res = await api.inject({ method: 'POST', url: '/v1/sys/policy', payload: payload as object });
    assert.equal(res.statusCode, status, res.body);
    assert.equal(res.json().error.code, code);
  }
});

test('a bundle near 1 MiB fits the body limit', async (t) => {
  const api = await app(t);
  const filler = `// ${'x'.repeat(1000)}\n`.repeat(1000);
  const { bytes, signature } = await signed(KEY, { version: 1, policies: `${filler}permit(principal == Keyhold::User::"root", action, resource);` });
  assert.ok(bytes.length > 1_000_000 && bytes.length < 1024 * 1024, `${bytes.length}`);
  const res = await api.inject({ method: 'POST', url: '/v1/sys/policy', payload: { bundle: Buffer.from(bytes).toString('base64'), signature } });
  assert.equal(res.statusCode, 200, res.body.slice(0, 300));
});
