/**
 * Issue 15 H4 (the class): every action the policy language names is asked
 * by some route or code path, so no policy about it is dead letter, and a
 * bundle naming any other action is refused at push (KH_POLICY_ACTION_UNKNOWN).
 *
 * Asked by a route: the gate asks each 'token' route's action on every
 * request (route-contract.test.ts proves no route escapes the gate). Asked by
 * a code path: KMS operations and VSSM routes ask their declared actions; the
 * rest (the release-policy changes, per-item listing reads) are driven here
 * through a recording engine and must be seen asked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { ACTIONS } from '../../src/policy/actions.js';
import { compilePolicySet } from '../../src/policy/policy-set.js';
import { authzTarget } from '../../src/api/route-authz.js';
import { KMS_ACTIONS } from '../../src/api/compat/kms/kms-operations.js';
import { registerAdminRoutes } from '../../src/api/compat/vssm/admin-routes.js';
import { registerServiceRoutes } from '../../src/api/compat/vssm/service-routes.js';
import type { AuthorizationRequest } from '../../src/policy/policy-engine.js';
import { KeyholdError } from '../../src/errors.js';
import { bearer, unsealedVault } from '../helpers/keyhold.js';
import '../../src/api/route-config.js';

/** The actions the VSSM routes declare (registered on a bare Fastify: registration touches no dependency). */
async function vssmActions(): Promise<Set<string>> {
  const app = Fastify();
  const asked = new Set<string>();
  app.addHook('onRoute', (route) => {
    const action = (route.config as { vssm?: { action?: string } } | undefined)?.vssm?.action;
    if (action !== undefined) asked.add(action);
  });
  const none = undefined as never;
  registerServiceRoutes(app, { keys: none, maxBytes: 1024 });
  registerAdminRoutes(app, { keys: none, barrier: none, audit: none, transport: undefined, policy: none });
  await app.ready();
  await app.close();
  return asked;
}

test('every catalogue action is asked by a route or a code path', async (t) => {
  const { app, rootToken } = await unsealedVault(t);
  await app.api.ready();
  const byRoute = new Set(app.routes.filter((r) => r.auth === 'token').map((r) => authzTarget(r.url, r.operationId).action));
  const byCompat = new Set([...Object.values(KMS_ACTIONS), ...(await vssmActions())]);

  // Code paths that ask beyond their route's action: drive them and record what the engine is asked.
  const seen = new Set<string>();
  const engine = app.services.policy;
  const authorize = engine.authorize.bind(engine);
  engine.authorize = (req: AuthorizationRequest) => {
    seen.add(req.action);
    return authorize(req);
  };
  const call = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) => {
    const res = await app.api.inject({ method, url, headers: bearer(rootToken), ...(payload !== undefined && { payload }) });
    assert.equal(res.statusCode, 200, `${method} ${url}: ${res.body}`);
  };
  const releasePolicy = { pcrs: { '0': 'ab'.repeat(48) } };
  await call('POST', '/v1/keys', { name: 'k', type: 'aes256-gcm', releasePolicy });
  await call('PATCH', '/v1/keys/k', { releasePolicy: null });
  await call('POST', '/v1/secrets/metadata/app/s', { releasePolicy });
  await call('POST', '/v1/secrets/metadata/app/s', { releasePolicy: null });
  await call('GET', '/v1/keys');
  await call('GET', '/v1/secrets/list/');
  const byCodePath = new Set([...seen].filter((a) => !byRoute.has(a)));

  const unasked = ACTIONS.map((a) => a.id).filter((id) => !byRoute.has(id) && !byCompat.has(id) && !byCodePath.has(id));
  assert.deepEqual(unasked, [], `actions no route or code path asks: ${unasked.join(', ')}`);
  // And nothing asks an action outside the catalogue (the engine would throw; this names the culprit).
  const catalogue = new Set(ACTIONS.map((a) => a.id));
  for (const a of [...byRoute, ...byCompat, ...seen]) assert.ok(catalogue.has(a), `${a} is asked but not in the catalogue`);
  assert.deepEqual([...byCodePath].sort(), ['changeKeyReleasePolicy', 'changeSecretReleasePolicy']);
});

test('a bundle naming an action that no route asks is refused with KH_POLICY_ACTION_UNKNOWN, wherever it names it', () => {
  const refused = [
    'permit(principal, action == Keyhold::Action::"enrolTotp", resource);',
    'forbid(principal, action in [Keyhold::Action::"decrypt", Keyhold::Action::"decryptBatch"], resource);',
    'permit(principal, action, resource) when { action == Keyhold::Action::"frobnicate" };',
  ];
  for (const policies of refused) {
    assert.throws(() => compilePolicySet({ policies, entities: [] }), (e: unknown) => e instanceof KeyholdError && e.code === 'KH_POLICY_ACTION_UNKNOWN' && e.status === 400, policies);
  }
  // Catalogue actions and the four groups are accepted.
  compilePolicySet({ policies: 'forbid(principal, action in [Keyhold::Action::"enrollTotp", Keyhold::Action::"destructive"], resource) unless { context.mfa };', entities: [] });
});
