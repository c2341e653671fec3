/**
 * fast-check over PolicyEngine.push: whatever the bundle bytes and signature
 * text, a push either succeeds or throws a KeyholdError with a 4xx status and
 * a registered code (never a TypeError, a Cedar/wasm error or a 5xx), and a
 * refused push leaves the active bundle as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KeyholdError, ERROR_CODES } from '../../src/errors.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { signed, signingKey, trusted, unsealedBarrier } from './policy-fixtures.js';

const KEY = signingKey('fuzz');

async function expectClean(engine: PolicyEngine, push: () => Promise<unknown>): Promise<void> {
  const before = await engine.active();
  try {
    await push();
  } catch (e) {
    assert.ok(e instanceof KeyholdError, `not a KeyholdError: ${String(e)}`);
    assert.ok(e.code in ERROR_CODES);
    assert.ok(e.status >= 400 && e.status < 500, `${e.code} ${e.status}`);
    assert.ok(e.code.startsWith('KH_POLICY_'), e.code);
    assert.deepEqual(await engine.active(), before);
  }
}

const header = (h: unknown) => Buffer.from(JSON.stringify(h) ?? 'null').toString('base64url');

const signatureText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ maxLength: 5000 }),
  fc.tuple(fc.base64String(), fc.base64String()).map(([a, b]) => `${a}..${b}`.replace(/[+/=]/g, '_')),
  fc.tuple(fc.anything(), fc.base64String({ maxLength: 100 })).map(([h, s]) => `${header(h)}..${s.replace(/[+/=]/g, '-')}`),
  fc.tuple(fc.constantFrom('EdDSA', 'none', 'HS256', 'ES256'), fc.oneof(fc.constant('fuzz'), fc.string()), fc.base64String({ minLength: 4, maxLength: 120 })).map(
    ([alg, kid, s]) => `${header({ alg, kid })}..${s.replace(/[+/=]/g, 'A')}`,
  ),
);

const bundleText = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }),
  fc.json().map((j) => new TextEncoder().encode(j)),
  fc.anything().map((a) => new TextEncoder().encode(JSON.stringify(a) ?? 'undefined')),
);

test('arbitrary bytes and signatures: only KH_POLICY_* 4xx errors', async (t) => {
  const { barrier } = await unsealedBarrier(t);
  const engine = new PolicyEngine(barrier, trusted(KEY));
  await fc.assert(
    fc.asyncProperty(bundleText, signatureText, (bytes, signature) => expectClean(engine, () => engine.push(bytes, signature))),
    { numRuns: 300 },
  );
});

const CEDAR_TOKENS = [
  'permit', 'forbid', '(', ')', 'principal', 'action', 'resource', ',', ';', 'when', 'unless', '{', '}', 'in', '==', '!=', 'is', 'has', 'like', '&&', '||', '!',
  'Keyhold::Group::"admins"', 'Keyhold::Action::"use"', 'Keyhold::Action::"seal"', 'Keyhold::User', 'Keyhold::Key::"k"', 'Keyhold::Nope::"x"',
  'context.mfa', 'context.sourceIp', 'ip("10.0.0.0/8")', '.isInRange(', 'principal.pcr0', '"x"', '"*"', '1', '-9223372036854775808', '@id("a")', '?principal', '[', ']',
];

const cedarText = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.array(fc.constantFrom(...CEDAR_TOKENS), { maxLength: 40 }).map((t) => t.join(' ')),
  fc.constantFrom('permit(principal, action, resource);', 'forbid(principal, action in Keyhold::Action::"use", resource) unless { context.mfa };'),
);

const entity = fc.oneof(
  fc.anything(),
  fc.record({
    uid: fc.oneof(fc.anything(), fc.record({ type: fc.constantFrom('Keyhold::User', 'Keyhold::Group', 'Keyhold::Workload', 'Keyhold::Action', 'Nope', ''), id: fc.string({ maxLength: 20 }) })),
    attrs: fc.oneof(fc.constant({}), fc.dictionary(fc.constantFrom('pcr0', 'debug', 'x'), fc.oneof(fc.string(), fc.boolean(), fc.integer(), fc.anything()))),
    parents: fc.oneof(fc.constant([]), fc.array(fc.record({ type: fc.constantFrom('Keyhold::Group', 'Keyhold::User', 'X'), id: fc.string({ maxLength: 10 }) }), { maxLength: 3 }), fc.anything()),
  }),
);

const bundleObject = fc.record(
  {
    version: fc.oneof(fc.integer({ min: -2, max: 1_000_000 }), fc.double(), fc.anything()),
    issuedAt: fc.oneof(fc.constant('2026-01-01T00:00:00Z'), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string({ maxLength: 30 })),
    policies: fc.oneof(cedarText, fc.anything()),
    entities: fc.oneof(fc.array(entity, { maxLength: 4 }), fc.anything()),
    schema: fc.oneof(fc.string({ maxLength: 50 }), fc.anything()),
    extra: fc.anything(),
  },
  { requiredKeys: ['version', 'issuedAt', 'policies', 'entities'] },
);

// Well-shaped bundles, so most runs reach Cedar.
let nextVersion = 1;
const wellShaped = fc.record({
  version: fc.constant(0).map(() => nextVersion++),
  issuedAt: fc.constant('2026-01-01T00:00:00Z'),
  policies: cedarText,
  entities: fc.array(entity, { maxLength: 4 }),
});

test('validly signed arbitrary bundles: accepted, or refused with a KH_POLICY_* 4xx', async (t) => {
  const { barrier } = await unsealedBarrier(t);
  const engine = new PolicyEngine(barrier, trusted(KEY));
  await fc.assert(
    fc.asyncProperty(fc.oneof(bundleObject, wellShaped), async (b) => {
      const { bytes, signature } = await signed(KEY, new TextEncoder().encode(JSON.stringify(b)));
      await expectClean(engine, () => engine.push(bytes, signature));
    }),
    { numRuns: 200 },
  );
});
