/** The built-in bundle: root and admins may act, destructive actions need MFA, everyone else is denied. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { compilePolicySet } from '../../src/policy/policy-set.js';
import { DEFAULT_BUNDLE_BYTES, DEFAULT_POLICIES } from '../../src/policy/default-bundle.js';
import { bundleSha256 } from '../../src/policy/bundle.js';
import { request, ROOT, unsealedBarrier } from './policy-fixtures.js';

async function engine(t: Parameters<typeof unsealedBarrier>[0]) {
  const { barrier } = await unsealedBarrier(t);
  return new PolicyEngine(barrier, []);
}

test('the default bundle is version 0 and validates against the schema', async (t) => {
  const e = await engine(t);
  const active = await e.active();
  assert.equal(active.version, 0);
  assert.equal(active.source, 'default');
  assert.equal(active.policies, DEFAULT_POLICIES);
  assert.equal(active.sha256, bundleSha256(DEFAULT_BUNDLE_BYTES));
  assert.deepEqual(Object.keys(compilePolicySet({ policies: DEFAULT_POLICIES, entities: [] }).policies), ['root', 'admins', 'destructive-needs-mfa', 'self-service', 'workloads-read-own-namespace', 'vssm-clients', 'vssm-admin']);
});

test('root may do everything, destructive actions included (the root token counts as MFA)', async (t) => {
  const e = await engine(t);
  assert.deepEqual(await e.authorize(request(ROOT, 'encrypt', undefined, { mfa: true, authMethods: ['root', 'mfa'] })), { allowed: true, reasons: ['root'] });
  assert.equal((await e.authorize(request(ROOT, 'seal', undefined, { mfa: true }))).allowed, true);
  assert.equal((await e.authorize(request(ROOT, 'scheduleKeyDeletion', undefined, { mfa: true }))).allowed, true);
});

test('admins may act; destructive actions need mfa', async (t) => {
  const e = await engine(t);
  const alice = { id: 'alice', groups: ['admins'] };
  assert.deepEqual(await e.authorize(request(alice, 'encrypt')), { allowed: true, reasons: ['admins'] });
  assert.deepEqual(await e.authorize(request(alice, 'createKey', { type: 'System', id: 'keys' })), { allowed: true, reasons: ['admins'] });
  assert.deepEqual(await e.authorize(request(alice, 'seal')), { allowed: false, reasons: ['destructive-needs-mfa'] });
  assert.deepEqual(await e.authorize(request(alice, 'trimKey')), { allowed: false, reasons: ['destructive-needs-mfa'] });
  assert.deepEqual(await e.authorize(request(alice, 'seal', undefined, { mfa: true, authMethods: ['pwd', 'otp', 'mfa'] })), { allowed: true, reasons: ['admins'] });
  // Machines and workloads in admins too.
  assert.equal((await e.authorize(request({ type: 'Machine', id: 'ci', groups: ['admins'] }, 'sign'))).allowed, true);
  assert.equal((await e.authorize(request({ type: 'Workload', id: 'enclave-1', groups: ['admins'], attrs: { pcr0: 'ab', debug: false } }, 'decrypt'))).allowed, true);
});

test('anyone else is denied by default, root without mfa cannot act destructively', async (t) => {
  const e = await engine(t);
  assert.deepEqual(await e.authorize(request({ id: 'mallory' }, 'encrypt', undefined, { mfa: true })), { allowed: false, reasons: [] });
  assert.equal((await e.authorize(request({ id: 'bob', groups: ['devs'] }, 'listKeys', { type: 'System', id: 'keys' }))).allowed, false);
  // A machine named root is not the root user.
  assert.equal((await e.authorize(request({ type: 'Machine', id: 'root' }, 'encrypt'))).allowed, false);
  assert.equal((await e.authorize(request(ROOT, 'seal', undefined, { mfa: false }))).allowed, false);
});

test('root may always show and push policy (break-glass), whatever the bundle', async (t) => {
  const e = await engine(t);
  const push = request(ROOT, 'pushPolicy', { type: 'System', id: 'policy' }, { mfa: false });
  assert.deepEqual(await e.authorize(push), { allowed: true, reasons: ['break-glass: root may always show and push policy'] });
  assert.equal((await e.authorize(request({ id: 'alice', groups: ['admins'] }, 'pushPolicy', { type: 'System', id: 'policy' }))).allowed, false);
});

test('IPv4-mapped IPv6 and zoned addresses reach Cedar as plain addresses', async (t) => {
  const e = await engine(t);
  for (const sourceIp of ['::ffff:10.0.0.1', 'fe80::1%eth0', '::1', '192.168.1.1']) {
    assert.equal((await e.authorize(request({ id: 'alice', groups: ['admins'] }, 'encrypt', undefined, { sourceIp }))).allowed, true, sourceIp);
  }
});

test('misuse is a TypeError: unknown action, wrong resource type, bad attributes, bad address', async (t) => {
  const e = await engine(t);
  const alice = { id: 'alice', groups: ['admins'] };
  await assert.rejects(e.authorize(request(alice, 'encryptBatch')), TypeError);
  await assert.rejects(e.authorize(request(alice, 'frobnicate')), TypeError);
  await assert.rejects(e.authorize(request(alice, 'encrypt', { type: 'System', id: 'keys' })), /applies to Key/);
  await assert.rejects(e.authorize(request(alice, 'seal', { type: 'Key', id: 'k' })), /applies to System/);
  await assert.rejects(e.authorize(request({ ...alice, attrs: { pcr0: 'x' } }, 'encrypt')), /User principal has no attribute pcr0/);
  await assert.rejects(e.authorize(request({ ...alice, type: 'Workload', attrs: { debug: 'false' } }, 'encrypt')), /debug must be a Boolean/);
  await assert.rejects(e.authorize(request({ ...alice, type: 'Workload', attrs: { color: 'red' } }, 'encrypt')), TypeError);
  await assert.rejects(e.authorize(request(alice, 'encrypt', undefined, { sourceIp: 'localhost' })), /not an IP address/);
});

test('decisions are cached: the same request returns the same frozen answer', async (t) => {
  const e = await engine(t);
  const r = request({ id: 'alice', groups: ['admins'] }, 'encrypt');
  const first = await e.authorize(r);
  assert.equal(await e.authorize({ ...r, principal: { ...r.principal, groups: ['admins'] } }), first);
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.reasons));
  // Any field that matters gives another entry.
  assert.notEqual(await e.authorize({ ...r, context: { ...r.context, batch: true } }), first);
});

test('a full cache is cleared and keeps answering correctly', async (t) => {
  const { barrier } = await unsealedBarrier(t);
  const e = new PolicyEngine(barrier, [], { cacheLimit: 3 });
  for (let i = 0; i < 10; i++) {
    assert.equal((await e.authorize(request({ id: `u${i}`, groups: i % 2 === 0 ? ['admins'] : [] }, 'encrypt'))).allowed, i % 2 === 0);
  }
});

test('context.hourUtc and weekday come from the clock (0 = Sunday)', async (t) => {
  const { barrier } = await unsealedBarrier(t);
  let now = Date.parse('2026-03-01T23:30:00Z'); // a Sunday
  const e = new PolicyEngine(barrier, [], { now: () => now });
  // The default bundle does not read the clock; the cache key does, so a new hour is a new decision.
  const r = request({ id: 'alice', groups: ['admins'] }, 'encrypt');
  const a = await e.authorize(r);
  assert.equal(await e.authorize(r), a);
  now += 3_600_000;
  assert.notEqual(await e.authorize(r), a);
});

test('the engine needs an unsealed barrier', async (t) => {
  const { barrier } = await unsealedBarrier(t);
  const e = new PolicyEngine(barrier, []);
  assert.equal((await e.authorize(request(ROOT, 'encrypt', undefined, { mfa: true }))).allowed, true);
  barrier.seal();
  await assert.rejects(e.authorize(request(ROOT, 'encrypt', undefined, { mfa: true })), { code: 'KH_SEALED' });
  await assert.rejects(e.active(), { code: 'KH_SEALED' });
});
