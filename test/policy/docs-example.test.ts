/** The example bundle and the default bundle shown in docs/policy.md are valid and current. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilePolicySet } from '../../src/policy/policy-set.js';
import { DEFAULT_POLICIES } from '../../src/policy/default-bundle.js';
import { REPO_ROOT } from '../helpers/vectors.js';

const doc = readFileSync(join(REPO_ROOT, 'docs', 'policy.md'), 'utf8');

function blocks(section: string, lang: string): string[] {
  const start = doc.indexOf(`## ${section}`);
  assert.ok(start >= 0, section);
  const end = doc.indexOf('\n## ', start + 3);
  const text = doc.slice(start, end < 0 ? undefined : end);
  return [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

test('the example bundle validates against the schema', () => {
  const [policies] = blocks('Example bundle', 'cedar');
  const [entities] = blocks('Example bundle', 'json');
  const set = compilePolicySet({ policies: policies!, entities: JSON.parse(entities!) as unknown[] });
  assert.deepEqual(Object.keys(set.policies), ['root', 'admins', 'self-service', 'destructive-needs-mfa', 'payments-service', 'devs-use', 'prod-enclave', 'export-office-hours']);
});

test('the default bundle shown is the built-in one', () => {
  assert.equal(blocks('Default bundle', 'cedar')[0], DEFAULT_POLICIES);
});
