/**
 * H1/L2 (issue 15): canonicalJson never emits a non-JSON token, and the audit
 * boundary (toAuditValue, behind redact) turns any value into one it accepts,
 * within bounds, without throwing. Properties over arbitrary values
 * (fc.anything() with every option that makes non-JSON values) and JSON data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson, MAX_CANONICAL_DEPTH, type AuditValue } from '../../src/audit/canonical-json.js';
import { DEEPER, MAX_AUDIT_DEPTH, MAX_AUDIT_NODES, TRUNCATED, toAuditValue } from '../../src/audit/audit-value.js';

/** Everything fast-check can build: undefined, NaN, ±Infinity, -0, BigInt, sparse arrays, null prototypes, boxed values, Dates, Maps, Sets, typed arrays. */
const anything = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
  maxDepth: 6,
});
/** Values JSON has no token for, nested anywhere. */
const poison = fc.constantFrom<unknown>(undefined, NaN, Infinity, -Infinity, 10n, () => 1, Symbol('s'), new Date(0), new Map());

/** The canonical-JSON contract: JSON.parse accepts it (so no bare undefined/NaN token), and a parse/serialise round trip gives it back. */
function assertCanonical(out: string): void {
  assert.equal(typeof out, 'string');
  const parsed = JSON.parse(out) as AuditValue;
  assert.equal(canonicalJson(parsed), out, 'stable');
}

test('canonicalJson: any value either gives JSON that parses back to the same canonical form, or a TypeError — never a bare token', () => {
  fc.assert(
    fc.property(fc.oneof(anything, fc.tuple(anything, poison).map(([a, p]) => ({ a, p })), fc.array(fc.oneof(anything, poison))), (value) => {
      let out: string;
      try {
        out = canonicalJson(value as AuditValue);
      } catch (e) {
        assert.ok(e instanceof TypeError, `only TypeError, got ${String(e)}`);
        return;
      }
      assertCanonical(out);
    }),
    { numRuns: 2000 },
  );
});

test('canonicalJson: JSON data always serialises, and parses back to equal data (keys sorted, key order irrelevant)', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
      const out = canonicalJson(value as AuditValue);
      assertCanonical(out);
      // JSON has one zero: -0 is written as 0.
      assert.deepEqual(JSON.parse(out), JSON.parse(JSON.stringify(value)));
      const reordered = JSON.parse(JSON.stringify(value), (_k, v: unknown) =>
        v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
      ) as AuditValue;
      assert.equal(canonicalJson(reordered), out);
    }),
    { numRuns: 1000 },
  );
});

test('canonicalJson refuses each non-JSON value, cycles and excessive depth with a TypeError', () => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  let deep: unknown = 1;
  for (let i = 0; i < MAX_CANONICAL_DEPTH + 1; i++) deep = [deep];
  // eslint-disable-next-line no-sparse-arrays
  for (const bad of [undefined, NaN, Infinity, -Infinity, 1n, () => 1, Symbol('x'), { a: undefined }, [1, , 2], new Date(0), new Uint8Array(2), cycle, deep])
    assert.throws(() => canonicalJson(bad as AuditValue), TypeError, String(bad));
  // A hostile deep value of 100,000 levels does not overflow the stack either.
  let huge: unknown = null;
  for (let i = 0; i < 100_000; i++) huge = { a: huge };
  assert.throws(() => canonicalJson(huge as AuditValue), TypeError);
});

test('toAuditValue: anything, cyclic, deep or huge becomes a value canonicalJson accepts, within the depth and size bounds', () => {
  const depthOf = (v: AuditValue): number => (v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);
  fc.assert(
    fc.property(fc.oneof(anything, fc.array(fc.oneof(anything, poison))), (value) => {
      const normal = toAuditValue(value);
      assertCanonical(canonicalJson(normal));
      assert.ok(depthOf(normal) <= MAX_AUDIT_DEPTH);
    }),
    { numRuns: 2000 },
  );
  const cycle: Record<string, unknown> = { name: 'x' };
  cycle.self = cycle;
  let deep: unknown = 'bottom';
  for (let i = 0; i < 200_000; i++) deep = [deep];
  const wide = Array.from({ length: 1_000_000 }, (_, i) => i);
  for (const v of [cycle, deep, wide, { __proto__: null, constructor: 'x' }]) assertCanonical(canonicalJson(toAuditValue(v)));
  assert.ok(canonicalJson(toAuditValue(deep)).includes(JSON.stringify(DEEPER)));
  const w = toAuditValue(wide) as AuditValue[];
  assert.equal(w.length, MAX_AUDIT_NODES);
  assert.equal(w.at(-1), TRUNCATED);
  // A member named __proto__ (JSON.parse makes it an own member) stays a member.
  assert.deepEqual(JSON.parse(canonicalJson(toAuditValue(JSON.parse('{"__proto__":{"x":1}}')))), JSON.parse('{"__proto__":{"x":1}}'));
});
