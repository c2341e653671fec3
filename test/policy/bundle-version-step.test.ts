/**
 * A push may step at most MAX_VERSION_STEP past the highest accepted version
 * (issue 15, review 14): a bundle signed at 2^53-1 with a leaked key would
 * otherwise be unbeatable by any later push.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { MAX_VERSION_STEP } from '../../src/policy/bundle.js';
import { signed, signingKey, trusted, unsealedBarrier } from './policy-fixtures.js';

const KEY = signingKey('ops-2026');
const POLICIES = 'permit(principal == Keyhold::User::"root", action, resource);';

test('a push past the highest version by more than MAX_VERSION_STEP is refused (KH_POLICY_VERSION_JUMP), the active bundle stays', async (t) => {
  const { barrier } = await unsealedBarrier(t);
  const engine = new PolicyEngine(barrier, trusted(KEY));
  const first = await signed(KEY, { version: 5, policies: POLICIES });
  assert.equal((await engine.push(first.bytes, first.signature)).version, 5);
  for (const version of [Number.MAX_SAFE_INTEGER, 5 + MAX_VERSION_STEP + 1]) {
    const huge = await signed(KEY, { version, policies: 'permit(principal, action, resource);' });
    await assert.rejects(engine.push(huge.bytes, huge.signature), { code: 'KH_POLICY_VERSION_JUMP' }, `version ${version}`);
    assert.equal((await engine.active()).version, 5);
  }
  const edge = await signed(KEY, { version: 5 + MAX_VERSION_STEP, policies: POLICIES });
  assert.equal((await engine.push(edge.bytes, edge.signature)).version, 5 + MAX_VERSION_STEP);
});
