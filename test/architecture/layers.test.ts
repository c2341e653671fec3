/**
 * Imports point downward only (docs/architecture.md, "Layers"). A file may import its own
 * layer, any lower layer, and the shared base (errors.ts, version.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../helpers/vectors.js';

const RANK: Record<string, number> = {
  crypto: 0,
  storage: 1,
  attestation: 1,
  barrier: 2,
  seal: 3,
  cluster: 4,
  mpc: 4,
  secrets: 4,
  keys: 4,
  audit: 4,
  policy: 4,
  auth: 5,
  config: 6,
  client: 6,
  api: 7,
  cli: 8,
};
const BASE = new Set(['errors.ts', 'version.ts']);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** src/ of this checkout, whatever the working directory. */
const SRC = join(REPO_ROOT, 'src');

function layerOf(file: string): string {
  return relative(SRC, file).split('/')[0]!;
}

test('every folder under src/ is a known layer', () => {
  for (const entry of readdirSync(SRC)) {
    if (statSync(join(SRC, entry)).isDirectory()) assert.ok(entry in RANK, `src/${entry} is not a layer of docs/architecture.md`);
  }
});

test('imports point downward only', () => {
  const violations: string[] = [];
  for (const path of files(SRC)) {
    const file = relative(REPO_ROOT, path);
    if (file.endsWith('.test.ts') || file === join('src', 'index.ts')) continue;
    const from = layerOf(path);
    const source = readFileSync(path, 'utf8');
    for (const m of source.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
      const target = relative(SRC, resolve(dirname(path), m[1]!));
      const to = target.split('/')[0]!;
      if (BASE.has(to.replace(/\.js$/, '.ts'))) continue;
      if (BASE.has(from)) {
        violations.push(`${file} (base) imports ${target}`);
        continue;
      }
      if (to === from) continue;
      if ((RANK[to] ?? 99) > (RANK[from] ?? -1)) violations.push(`${file} (${from}) imports ${target} (${to})`);
    }
  }
  assert.deepEqual(violations, []);
});
