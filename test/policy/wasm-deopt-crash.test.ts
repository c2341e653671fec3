/**
 * Regression: tens of thousands of uncached decisions in one process. On
 * Node 20 (V8 11.3) this aborted the process about one run in two until
 * cedar-wasm.ts turned off V8's inlining of JS->Wasm calls; two runs at once
 * make a regression very likely to show.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnRaw } from '../helpers/cli.js';
import { fixturePath } from '../helpers/vectors.js';
import { nodeArgsFor } from '../helpers/ts-entry.js';

// Absolute paths, so the child starts the same from any working directory.
// Node's default tiers: the crash was in V8's optimising compiler, which the runner's test flags turn off.
const LOOP = nodeArgsFor(fixturePath(import.meta.url, 'fixtures/authorize-loop.ts'), { nodeDefaults: true });

test('many uncached decisions do not crash V8', async () => {
  const runs = await Promise.all([1, 2].map(() => spawnRaw(process.execPath, [...LOOP, '30000'], {})));
  for (const r of runs) {
    assert.equal(r.code, 0, r.stderr.slice(0, 2000));
    // i even -> admins; of those, seal (i % 5 == 0) also needs mfa (i % 4 == 0).
    let expected = 0;
    for (let i = 0; i < 30000; i++) if (i % 2 === 0 && (i % 5 !== 0 || i % 4 === 0)) expected++;
    assert.equal(r.stdout.toString().trim(), `ok 30000 ${expected}`);
  }
});
