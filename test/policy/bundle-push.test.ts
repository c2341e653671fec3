/**
 * Pushing signed bundles: a good one changes decisions at once (no stale
 * cache) and survives a restart; every bad one is refused with its own code
 * and leaves the active bundle in force.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { bundleSha256, MAX_BUNDLE_BYTES } from '../../src/policy/bundle.js';
import { schemaText, KEYHOLD_SCHEMA } from '../../src/policy/cedar-schema.js';
import { bundleBytes, request, ROOT, signed, signingKey, trusted, unsealedBarrier } from './policy-fixtures.js';

const KEY = signingKey('ops-2026');
const OTHER = signingKey('elsewhere');

const OPS_POLICIES = `
@id("ops-use-payments")
permit(principal in Keyhold::Group::"ops", action in Keyhold::Action::"use", resource == Keyhold::Key::"payments");

@id("root")
permit(principal == Keyhold::User::"root", action, resource);
`;

async function setup(t: TestContext, keys = trusted(KEY)) {
  const storage = await unsealedBarrier(t);
  return { ...storage, engine: new PolicyEngine(storage.barrier, keys) };
}

const bob = { id: 'bob', groups: ['ops'] };
const alice = { id: 'alice', groups: ['admins'] };

test('a good bundle changes decisions at once and clears the decision cache', async (t) => {
  const { engine } = await setup(t);
  // Cached under the default bundle first.
  assert.equal((await engine.authorize(request(bob, 'encrypt'))).allowed, false);
  assert.equal((await engine.authorize(request(alice, 'encrypt'))).allowed, true);

  const { bytes, signature } = await signed(KEY, { version: 1, policies: OPS_POLICIES });
  assert.deepEqual(await engine.push(bytes, signature), { version: 1, sha256: bundleSha256(bytes) });

  assert.deepEqual(await engine.authorize(request(bob, 'encrypt')), { allowed: true, reasons: ['ops-use-payments'] });
  assert.equal((await engine.authorize(request(alice, 'encrypt'))).allowed, false, 'admins is not special any more');
  assert.equal((await engine.authorize(request(bob, 'encrypt', { type: 'Key', id: 'other' }))).allowed, false);
  assert.equal((await engine.authorize(request(bob, 'createKey', { type: 'System', id: 'keys' }))).allowed, false);
  const active = await engine.active();
  assert.deepEqual(active, { version: 1, issuedAt: '2026-01-02T03:04:05Z', sha256: bundleSha256(bytes), source: 'pushed', policies: OPS_POLICIES });
});

test('the pushed bundle and the rollback floor survive a restart', async (t) => {
  const { engine, reopen } = await setup(t);
  const v3 = await signed(KEY, { version: 3, policies: OPS_POLICIES });
  await engine.push(v3.bytes, v3.signature);

  const restarted = new PolicyEngine(await reopen(), trusted(KEY));
  assert.equal((await restarted.active()).version, 3);
  assert.equal((await restarted.authorize(request(bob, 'encrypt'))).allowed, true);
  for (const version of [3, 2]) {
    const old = await signed(KEY, { version, policies: 'permit(principal, action, resource);' });
    await assert.rejects(restarted.push(old.bytes, old.signature), { code: 'KH_POLICY_ROLLBACK' }, `version ${version}`);
  }
  const v4 = await signed(KEY, { version: 4, policies: OPS_POLICIES });
  assert.equal((await restarted.push(v4.bytes, v4.signature)).version, 4);
});

test('sealing forgets the bundle; the next unsealed period loads it from storage', async (t) => {
  const { engine, barrier, rootKey } = await setup(t);
  const v1 = await signed(KEY, { version: 1, policies: OPS_POLICIES });
  await engine.push(v1.bytes, v1.signature);
  barrier.seal();
  await assert.rejects(engine.authorize(request(bob, 'encrypt')), { code: 'KH_SEALED' });
  await barrier.unseal(rootKey);
  assert.equal((await engine.active()).version, 1);
  assert.equal((await engine.authorize(request(bob, 'encrypt'))).allowed, true);
});

test('each bad bundle has its own code and the previous bundle stays active', async (t) => {
  const { engine } = await setup(t, trusted(KEY, OTHER));
  const good = await signed(KEY, { version: 5, policies: OPS_POLICIES });
  await engine.push(good.bytes, good.signature);
  const before = await engine.active();
  const bobBefore = await engine.authorize(request(bob, 'encrypt'));

  const v6 = await signed(KEY, { version: 6, policies: 'permit(principal, action, resource);' });
  const stranger = signingKey('stranger');
  const cases: [string, () => Promise<unknown>, string][] = [
    ['signature over other bytes', () => engine.push(bundleBytes({ version: 6, policies: 'permit(principal, action, resource);' }), good.signature), 'KH_POLICY_SIGNATURE_INVALID'],
    ['one flipped payload byte', () => engine.push(Uint8Array.from(v6.bytes, (b, i) => (i === 20 ? b ^ 1 : b)), v6.signature), 'KH_POLICY_SIGNATURE_INVALID'],
    ['a signature by another trusted key under this kid', async () => {
      const forged = await signed({ ...OTHER, kid: KEY.kid }, { version: 6, policies: 'permit(principal, action, resource);' });
      return engine.push(forged.bytes, forged.signature);
    }, 'KH_POLICY_SIGNATURE_INVALID'],
    ['attached (not detached) JWS', () => engine.push(v6.bytes, v6.signature.replace('..', `.${Buffer.from(v6.bytes).toString('base64url')}.`)), 'KH_POLICY_SIGNATURE_INVALID'],
    ['not a JWS', () => engine.push(v6.bytes, 'hello'), 'KH_POLICY_SIGNATURE_INVALID'],
    ['alg none', () => engine.push(v6.bytes, `${Buffer.from(JSON.stringify({ alg: 'none', kid: KEY.kid })).toString('base64url')}..AAAA`), 'KH_POLICY_SIGNATURE_INVALID'],
    ['extra header member', () => engine.push(v6.bytes, `${Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: KEY.kid, b64: false, crit: ['b64'] })).toString('base64url')}..AAAA`), 'KH_POLICY_SIGNATURE_INVALID'],
    ['unknown kid', async () => {
      const s = await signed(stranger, { version: 6, policies: 'permit(principal, action, resource);' });
      return engine.push(s.bytes, s.signature);
    }, 'KH_POLICY_KEY_UNKNOWN'],
    ['same version', () => engine.push(good.bytes, good.signature), 'KH_POLICY_ROLLBACK'],
    ['lower version', async () => {
      const s = await signed(KEY, { version: 4, policies: OPS_POLICIES });
      return engine.push(s.bytes, s.signature);
    }, 'KH_POLICY_ROLLBACK'],
    ['Cedar syntax error', async () => {
      const s = await signed(KEY, { version: 6, policies: 'permit(principal, action, resource' });
      return engine.push(s.bytes, s.signature);
    }, 'KH_POLICY_INVALID'],
    ['Cedar validation error', async () => {
      const s = await signed(KEY, { version: 6, policies: 'permit(principal, action, resource) when { principal.department == "x" };' });
      return engine.push(s.bytes, s.signature);
    }, 'KH_POLICY_INVALID'],
    ['malformed JSON', async () => {
      const s = await signed(KEY, new TextEncoder().encode('{"version": 6, "policies": '));
      return engine.push(s.bytes, s.signature);
    }, 'KH_POLICY_BUNDLE_MALFORMED'],
    ['unknown member', async () => {
      const s = await signed(KEY, new TextEncoder().encode(JSON.stringify({ version: 6, issuedAt: '2026-01-01T00:00:00Z', policies: '', entities: [], extra: 1 })));
      return engine.push(s.bytes, s.signature);
    }, 'KH_POLICY_BUNDLE_MALFORMED'],
    ['version 0', async () => {
      const s = await signed(KEY, { version: 0, policies: '' });
      return engine.push(s.bytes, s.signature);
    }, 'KH_POLICY_BUNDLE_MALFORMED'],
    ['bad issuedAt', async () => {
      const s = await signed(KEY, { version: 6, issuedAt: 'yesterday', policies: '' });
      return engine.push(s.bytes, s.signature);
    }, 'KH_POLICY_BUNDLE_MALFORMED'],
    ['larger than 1 MiB', () => engine.push(new Uint8Array(MAX_BUNDLE_BYTES + 1), v6.signature), 'KH_POLICY_BUNDLE_MALFORMED'],
  ];
  for (const [name, promise, code] of cases) {
    await assert.rejects(promise(), (e: { code?: string; status?: number; stack?: string; message: string }) => {
      assert.equal(e.code, code, `${name}: ${e.message}`);
      assert.ok(e.status !== undefined && e.status >= 400 && e.status < 500, name);
      return true;
    }, name);
  }
  assert.deepEqual(await engine.active(), before);
  assert.equal(await engine.authorize(request(bob, 'encrypt')), bobBefore, 'the decision cache of the active bundle is untouched');
});

test('KH_POLICY_INVALID carries Cedar diagnostics, bounded, without a stack', async (t) => {
  const { engine } = await setup(t);
  const s = await signed(KEY, { version: 1, policies: 'permit(principal, action, resource) when { principal.nope };\n'.repeat(200) });
  await assert.rejects(engine.push(s.bytes, s.signature), (e: { code: string; message: string }) => {
    assert.equal(e.code, 'KH_POLICY_INVALID');
    assert.match(e.message, /attribute `nope`/);
    assert.ok(e.message.length < 2200, `${e.message.length} characters`);
    assert.ok(!e.message.includes('    at '), 'no stack in the message');
    return true;
  });
});

test('validator warnings are refused: a forbid that can never apply is a mistake', async (t) => {
  const { engine } = await setup(t);
  const s = await signed(KEY, { version: 1, policies: 'forbid(principal, action == Keyhold::Action::"seal", resource is Keyhold::Key);' });
  await assert.rejects(engine.push(s.bytes, s.signature), { code: 'KH_POLICY_INVALID', message: /unable to find an applicable action|impossible/ });
});

test('entities: bundle parents merge with the caller groups; workload attributes come from the request', async (t) => {
  const { engine } = await setup(t);
  const policies = `
@id("oncall-seal") permit(principal in Keyhold::Group::"oncall", action == Keyhold::Action::"seal", resource) when { context.mfa };
@id("ops-use") permit(principal in Keyhold::Group::"ops", action in Keyhold::Action::"use", resource);
@id("prod-enclave") permit(principal is Keyhold::Workload, action == Keyhold::Action::"decrypt", resource)
  when { principal has pcr0 && principal.pcr0 == "abc123" && principal has debug && !principal.debug };
@id("no-night-exports") forbid(principal, action == Keyhold::Action::"exportKey", resource) when { context.hourUtc < 6 };
@id("admins-manage") permit(principal in Keyhold::Group::"admins", action in Keyhold::Action::"manage", resource);
@id("lan-only") forbid(principal, action, resource) unless { context.sourceIp.isInRange(ip("10.0.0.0/8")) || context.sourceIp.isLoopback() };
`;
  const entities = [
    { uid: { type: 'Keyhold::User', id: 'carol' }, attrs: {}, parents: [{ type: 'Keyhold::Group', id: 'oncall' }] },
    { uid: { type: 'Keyhold::Group', id: 'oncall' }, attrs: {}, parents: [] },
    { uid: { type: 'Keyhold::Workload', id: 'enclave' }, attrs: { pcr0: 'abc123', debug: false }, parents: [] },
  ];
  const s = await signed(KEY, { version: 1, policies, entities });
  await engine.push(s.bytes, s.signature);

  const carol = { id: 'carol', groups: ['ops'] };
  assert.deepEqual(await engine.authorize(request(carol, 'seal', undefined, { mfa: true })), { allowed: true, reasons: ['oncall-seal'] });
  assert.deepEqual(await engine.authorize(request(carol, 'encrypt')), { allowed: true, reasons: ['ops-use'] }, 'groups from the request are kept');
  assert.equal((await engine.authorize(request({ id: 'dave', groups: ['ops'] }, 'seal', undefined, { mfa: true }))).allowed, false);

  const enclave = (attrs: Record<string, string | boolean>) => ({ type: 'Workload' as const, id: 'enclave', groups: [], attrs });
  assert.equal((await engine.authorize(request(enclave({ pcr0: 'abc123', debug: false }), 'decrypt'))).allowed, true);
  assert.equal((await engine.authorize(request(enclave({ pcr0: 'abc123', debug: true }), 'decrypt'))).allowed, false);
  assert.equal((await engine.authorize(request(enclave({}), 'decrypt'))).allowed, false, "the bundle's attributes never stand in for attested ones");

  assert.equal((await engine.authorize(request(carol, 'encrypt', undefined, { sourceIp: '10.2.3.4' }))).allowed, true);
  assert.deepEqual(await engine.authorize(request(carol, 'encrypt', undefined, { sourceIp: '203.0.113.9' })), { allowed: false, reasons: ['lan-only'] });
});

test('context.hourUtc reaches the policies', async (t) => {
  const storage = await unsealedBarrier(t);
  let now = Date.parse('2026-03-02T03:00:00Z');
  const engine = new PolicyEngine(storage.barrier, trusted(KEY), { now: () => now });
  const s = await signed(KEY, {
    version: 1,
    policies: `@id("admins-manage") permit(principal in Keyhold::Group::"admins", action in Keyhold::Action::"manage", resource);
@id("no-night-exports") forbid(principal, action == Keyhold::Action::"exportKey", resource) when { context.hourUtc < 6 || context.weekday == 0 };`,
  });
  await engine.push(s.bytes, s.signature);
  assert.deepEqual(await engine.authorize(request(alice, 'exportKey')), { allowed: false, reasons: ['no-night-exports'] });
  now = Date.parse('2026-03-02T12:00:00Z'); // Monday noon
  assert.deepEqual(await engine.authorize(request(alice, 'exportKey')), { allowed: true, reasons: ['admins-manage'] });
  now = Date.parse('2026-03-01T12:00:00Z'); // Sunday noon
  assert.equal((await engine.authorize(request(alice, 'exportKey'))).allowed, false);
});

test("a bundle may carry the server's schema, in text or JSON, but no other", async (t) => {
  const { engine } = await setup(t);
  const v1 = await signed(KEY, { version: 1, policies: OPS_POLICIES, schema: schemaText() });
  await engine.push(v1.bytes, v1.signature);
  const v2 = await signed(KEY, { version: 2, policies: OPS_POLICIES, schema: KEYHOLD_SCHEMA });
  await engine.push(v2.bytes, v2.signature);
  const widened = schemaText().replace('entity Group;', 'entity Group in [Group];');
  const v3 = await signed(KEY, { version: 3, policies: OPS_POLICIES, schema: widened });
  await assert.rejects(engine.push(v3.bytes, v3.signature), { code: 'KH_POLICY_INVALID', message: /differs from the server's/ });
  assert.equal((await engine.active()).version, 2);
});

test('bundles may not declare actions, templates, or the same entity twice', async (t) => {
  const { engine } = await setup(t);
  const bad = [
    { version: 1, policies: '', entities: [{ uid: { type: 'Keyhold::Action', id: 'seal' }, attrs: {}, parents: [{ type: 'Keyhold::Action', id: 'use' }] }] },
    { version: 1, policies: 'permit(principal == ?principal, action, resource);' },
    { version: 1, policies: '', entities: [{ uid: { type: 'Keyhold::User', id: 'a' }, attrs: {}, parents: [] }, { uid: { type: 'Keyhold::User', id: 'a' }, attrs: {}, parents: [] }] },
    { version: 1, policies: '', entities: [{ uid: { type: 'Keyhold::User', id: 'a' }, attrs: { clearance: 5 }, parents: [] }] },
    { version: 1, policies: '@id("x") permit(principal, action, resource);\n@id("x") permit(principal, action, resource);' },
  ];
  for (const b of bad) {
    const s = await signed(KEY, b);
    await assert.rejects(engine.push(s.bytes, s.signature), { code: 'KH_POLICY_INVALID' }, JSON.stringify(b));
  }
});

test('M6: a stored bundle whose key is no longer trusted stays enforced by its recorded hash (never the built-in bundle), logged at error; the floor stays', async (t) => {
  const { engine, reopen } = await setup(t);
  const v2 = await signed(KEY, { version: 2, policies: OPS_POLICIES });
  await engine.push(v2.bytes, v2.signature);
  const errors: string[] = [];
  const restarted = new PolicyEngine(await reopen(), trusted(OTHER), { error: (m) => errors.push(m) });
  const active = await restarted.active();
  assert.deepEqual([active.source, active.version, active.sha256], ['pushed', 2, bundleSha256(v2.bytes)]);
  assert.equal(restarted.untrustedBundle, true);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /KH_POLICY_KEY_UNKNOWN/);
  // The pushed bundle's decisions, not the built-in bundle's: alice (admins) is allowed by default but not by v2.
  assert.equal((await restarted.authorize(request(alice, 'encrypt'))).allowed, false);
  assert.equal((await restarted.authorize(request(bob, 'encrypt'))).allowed, true);
  const replay = await signed(OTHER, { version: 2, policies: OPS_POLICIES });
  await assert.rejects(restarted.push(replay.bytes, replay.signature), { code: 'KH_POLICY_ROLLBACK' });
  const v3 = await signed(OTHER, { version: 3, policies: OPS_POLICIES });
  assert.equal((await restarted.push(v3.bytes, v3.signature)).version, 3);
  assert.equal(restarted.untrustedBundle, false);
});

test('concurrent pushes are serialised: one wins, the other is a rollback', async (t) => {
  const { engine } = await setup(t);
  const a = await signed(KEY, { version: 7, policies: OPS_POLICIES });
  const b = await signed(KEY, { version: 7, policies: 'permit(principal, action, resource);' });
  const results = await Promise.allSettled([engine.push(a.bytes, a.signature), engine.push(b.bytes, b.signature)]);
  assert.equal(results[0].status, 'fulfilled');
  assert.equal(results[1].status, 'rejected');
  assert.equal((results[1] as PromiseRejectedResult).reason.code, 'KH_POLICY_ROLLBACK');
  assert.equal((await engine.active()).sha256, bundleSha256(a.bytes));
});

test('root keeps break-glass access to policy under a bundle that forgets it', async (t) => {
  const { engine } = await setup(t);
  const s = await signed(KEY, { version: 1, policies: '' });
  await engine.push(s.bytes, s.signature);
  assert.equal((await engine.authorize(request(ROOT, 'encrypt', undefined, { mfa: true }))).allowed, false);
  assert.equal((await engine.authorize(request(ROOT, 'pushPolicy', { type: 'System', id: 'policy' }, { mfa: true }))).allowed, true);
  const fix = await signed(KEY, { version: 2, policies: OPS_POLICIES });
  await engine.push(fix.bytes, fix.signature);
  assert.equal((await engine.authorize(request(ROOT, 'encrypt', undefined, { mfa: true }))).allowed, true);
});

test('an evaluation error denies, although Cedar would skip the erroring forbid', async (t) => {
  const storage = await unsealedBarrier(t);
  let now = Date.parse('2026-03-02T00:30:00Z');
  const engine = new PolicyEngine(storage.barrier, trusted(KEY), { now: () => now });
  const s = await signed(KEY, {
    version: 1,
    policies: `@id("admins") permit(principal in Keyhold::Group::"admins", action, resource);
@id("overflowing-forbid") forbid(principal, action, resource) when { context.hourUtc * 9223372036854775807 > 1 };`,
  });
  await engine.push(s.bytes, s.signature);
  assert.deepEqual(await engine.authorize(request(alice, 'encrypt')), { allowed: true, reasons: ['admins'] }, 'hour 0: no overflow');
  now = Date.parse('2026-03-02T03:30:00Z');
  const d = await engine.authorize(request(alice, 'encrypt'));
  assert.equal(d.allowed, false);
  assert.equal(d.reasons[0], 'admins', 'Cedar alone would have allowed');
  assert.match(d.reasons[1]!, /^error in overflowing-forbid: .*overflow/);
});
