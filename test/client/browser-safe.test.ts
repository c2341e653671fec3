/**
 * The SDK's channel code must run in browsers: nothing reachable from
 * src/client/index.ts through static value imports may import a Node builtin.
 * (Type-only imports are erased; request signing and the Nitro verifier are
 * loaded with dynamic import() only when a Node caller asks for them.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { REPO_ROOT } from '../helpers/vectors.js';

const STATIC_IMPORT = /^\s*(?:import|export)\s+(?!type\b)(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;

function walk(file: string, seen: Set<string>, offenders: string[]): void {
  if (seen.has(file)) return;
  seen.add(file);
  const source = readFileSync(file, 'utf8');
  for (const match of source.matchAll(STATIC_IMPORT)) {
    const spec = match[1] as string;
    if (spec.startsWith('node:') || ['crypto', 'fs', 'path', 'buffer', 'os', 'child_process'].includes(spec)) offenders.push(`${file} imports ${spec}`);
    else if (spec.startsWith('.')) walk(resolve(dirname(file), spec.replace(/\.js$/, '.ts')), seen, offenders);
  }
}

test('the client SDK reaches no Node builtin through static imports', () => {
  const seen = new Set<string>();
  const offenders: string[] = [];
  walk(join(REPO_ROOT, 'src', 'client', 'index.ts'), seen, offenders);
  assert.deepEqual(offenders, []);
  // The walk did reach the channel and the protocol.
  assert.ok([...seen].some((f) => f.endsWith('crypto/e2e/protocol.ts')));
  assert.ok([...seen].some((f) => f.endsWith('client/channel.ts')));
});
