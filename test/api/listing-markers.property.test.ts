/**
 * Review of issue 15, finding 1: a filtered listing's marker (`next` of
 * GET /v1/keys, `NextMarker` of KMS ListKeys / ListAliases) is the last item
 * the caller may read, or a sealed marker, never the name of an item the
 * caller cannot read. Paging with limit 1 over any interleaving of visible
 * and invisible keys returns exactly the visible set, and no answer carries
 * an invisible name.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FastifyRequest } from 'fastify';
import type { KeyholdApp } from '../../src/api/keyhold-app.js';
import { permittedPage, type PolicyAsker } from '../../src/api/policy-ask.js';
import { isSealedMarker, openMarker, sealMarker } from '../../src/api/list-marker.js';
import { KeyholdError } from '../../src/errors.js';
import { bearer, configuredVault, TEST_LIMITS } from '../helpers/keyhold.js';
import { kmsHeaders, sigv4Signer } from '../helpers/kms-signer.js';
import { pushPolicies, signingKey, trusted } from '../policy/policy-fixtures.js';

test('permittedPage: pages of any size over any interleaving, with any scan bound, give exactly the visible items and no invisible marker', async () => {
  const request = { principal: { type: 'User', id: 'eve', groups: [], amr: ['pwd'] }, ip: '127.0.0.1' } as unknown as FastifyRequest;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.boolean(), { maxLength: 40 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 12 }), async (visibility, limit, maxScan) => {
      const names = visibility.map((_, i) => `k${String(i).padStart(3, '0')}`);
      const visible = new Set(names.filter((_, i) => visibility[i]));
      const policy: PolicyAsker = { authorize: async (r) => ({ allowed: visible.has(r.resource.id) }) as Awaited<ReturnType<PolicyAsker['authorize']>> };
      const seen: string[] = [];
      let after: string | undefined;
      for (let requests = 0; requests <= names.length + 1; requests++) {
        const from = after === undefined ? undefined : isSealedMarker(after) ? openMarker('t', after) : after;
        const sorted = names.filter((n) => from === undefined || n > from);
        const page = await permittedPage(policy, request, 'v1', 'readKey', sorted, { limit, nameOf: (n) => n, resourceOf: (id) => ({ type: 'Key', id }), maxScan });
        assert.ok(page.items.length <= limit);
        for (const n of page.items) assert.ok(visible.has(n), `page shows ${n}`);
        seen.push(...page.items);
        if (page.next === undefined) break;
        if ('visible' in page.next) {
          assert.ok(visible.has(page.next.visible), 'a plain marker names a visible item');
          assert.equal(page.next.visible, page.items[page.items.length - 1]);
          after = page.next.visible;
        } else {
          after = sealMarker('t', page.next.scanned);
          assert.ok(!after.includes(page.next.scanned));
        }
      }
      assert.deepEqual(seen, [...visible]);
    }),
    { numRuns: 300 },
  );
});

test('a sealed marker opens only for its own listing, and a forged one is KH_LIST_MARKER_INVALID', () => {
  const m = sealMarker('v1/keys', 'alpha-secret-project');
  assert.match(m, /^~[A-Za-z0-9_-]+$/);
  assert.equal(openMarker('v1/keys', m), 'alpha-secret-project');
  for (const bad of [sealMarker('kms/ListKeys', 'x'), `${m.slice(0, -2)}AA`, '~', '~!!!!']) {
    assert.throws(() => openMarker('v1/keys', bad), (e: unknown) => e instanceof KeyholdError && e.code === 'KH_LIST_MARKER_INVALID');
  }
});

// Each of these keys is readable by the group of the same name; a user's groups choose what it sees.
const POOL = ['alpha-secret-project', 'b1', 'b2', 'pub', 'q', 'r-hidden', 's', 'zz-merger-target'];
const POLICY_KEY = signingKey('list-markers');
const POLICIES = [
  'permit(principal == Keyhold::User::"root", action, resource);',
  'permit(principal == Keyhold::User::"kmsadmin", action, resource);',
  'permit(principal in Keyhold::Group::"listers", action == Keyhold::Action::"listKeys", resource);',
  ...POOL.map((n) => `permit(principal in Keyhold::Group::"g-${n}", action == Keyhold::Action::"readKey", resource == Keyhold::Key::"${n}");`),
].join('\n');

async function vault(t: Pick<TestContext, 'after'>): Promise<{ app: KeyholdApp; root: string }> {
  const { app, rootToken } = await configuredVault(t, { limits: TEST_LIMITS, policy: { trustedKeys: trusted(POLICY_KEY) } });
  await pushPolicies(app, rootToken, POLICY_KEY, POLICIES);
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: bearer(rootToken), payload: { name: 'kmsadmin', password: 'kmsadmin-password', groups: [] } })).statusCode, 200);
  for (const name of POOL) assert.equal((await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(rootToken), payload: { name, type: 'aes256-gcm' } })).statusCode, 200);
  return { app, root: rootToken };
}

test('GET /v1/keys, KMS ListKeys and ListAliases page (limit 1) over exactly the readable keys; no answer names another key', async (t) => {
  const { app, root } = await vault(t);
  const admin = (await app.api.inject({ method: 'POST', url: '/v1/auth/access-keys', headers: bearer(root), payload: { principalType: 'User', principalName: 'kmsadmin' } })).json() as { accessKeyId: string; secretAccessKey: string };
  const kms = async (creds: { accessKeyId: string; secretAccessKey: string }, operation: string, input: object) => {
    const req = await sigv4Signer(creds)(kmsHeaders(operation), JSON.stringify(input));
    return app.api.inject({ method: 'POST', url: '/', headers: req.headers, payload: req.body });
  };
  for (const n of POOL) assert.equal((await kms(admin, 'CreateAlias', { AliasName: `alias/${n}`, TargetKeyId: n })).statusCode, 200);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.subarray(POOL), async (readable) => {
      const name = `u${run++}`;
      const user = await app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: bearer(root), payload: { name, password: 'user-password', groups: ['listers', ...readable.map((n) => `g-${n}`)] } });
      assert.equal(user.statusCode, 200, user.body);
      const token = (await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: name, password: 'user-password' } })).json().accessToken as string;
      const hidden = POOL.filter((n) => !readable.includes(n));
      const leaks = (body: string) => hidden.filter((n) => body.includes(`"${n}"`) || body.includes(`/${n}"`) || body.includes(`=${n}`));

      const v1: string[] = [];
      let after: string | undefined;
      for (let i = 0; i <= POOL.length; i++) {
        const r = await app.api.inject({ method: 'GET', url: `/v1/keys?limit=1${after !== undefined ? `&after=${encodeURIComponent(after)}` : ''}`, headers: bearer(token) });
        assert.equal(r.statusCode, 200, r.body);
        assert.deepEqual(leaks(r.body), [], r.body);
        const j = r.json() as { keys: { name: string }[]; next?: string };
        v1.push(...j.keys.map((k) => k.name));
        if (j.next === undefined) break;
        after = j.next;
      }
      assert.deepEqual(v1, readable);

      const ak = (await app.api.inject({ method: 'POST', url: '/v1/auth/access-keys', headers: bearer(root), payload: { principalType: 'User', principalName: name } })).json() as { accessKeyId: string; secretAccessKey: string };
      for (const [op, field, id] of [['ListKeys', 'Keys', 'KeyId'], ['ListAliases', 'Aliases', 'TargetKeyId']] as const) {
        const listed: string[] = [];
        let marker: string | undefined;
        for (let i = 0; i <= POOL.length; i++) {
          const r = await kms(ak, op, { Limit: 1, ...(marker !== undefined && { Marker: marker }) });
          assert.equal(r.statusCode, 200, r.body);
          assert.deepEqual(leaks(r.body), [], r.body);
          const j = r.json() as Record<string, unknown>;
          listed.push(...(j[field] as Record<string, string>[]).map((x) => x[id]!));
          assert.equal(j.Truncated, j.NextMarker !== undefined);
          if (j.NextMarker === undefined) break;
          marker = j.NextMarker as string;
        }
        assert.deepEqual(listed, readable, op);
      }
    }),
    { numRuns: 12 },
  );
});

test('a marker this node did not issue is a 400 KH_LIST_MARKER_INVALID on /v1 and InvalidMarkerException on KMS', async (t) => {
  const { app, root } = await vault(t);
  const r = await app.api.inject({ method: 'GET', url: `/v1/keys?after=${sealMarker('kms/ListKeys', 'pub')}`, headers: bearer(root) });
  assert.equal(r.statusCode, 400);
  assert.equal(r.json().error.code, 'KH_LIST_MARKER_INVALID');
  const ak = (await app.api.inject({ method: 'POST', url: '/v1/auth/access-keys', headers: bearer(root), payload: { principalType: 'User', principalName: 'kmsadmin' } })).json() as { accessKeyId: string; secretAccessKey: string };
  const req = await sigv4Signer(ak)(kmsHeaders('ListKeys'), JSON.stringify({ Marker: sealMarker('v1/keys', 'pub') }));
  const k = await app.api.inject({ method: 'POST', url: '/', headers: req.headers, payload: req.body });
  assert.equal(k.statusCode, 400);
  assert.equal(k.json().__type, 'InvalidMarkerException');
});
