#!/usr/bin/env node
/**
 * `npm run build`, and `prepare` (which `npm ci` runs on a fresh clone): the
 * TypeScript build into dist/, with a line before and after, then the route
 * schemas' compiled code (scripts/precompile-schemas.mjs). The compile
 * takes about a minute on a small machine and tsc prints nothing while it
 * works, so a first install used to look hung.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const started = Date.now();
process.stderr.write('keyhold: compiling TypeScript (about a minute)…\n');
const run = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
const seconds = ((Date.now() - started) / 1000).toFixed(1);
if (run.status !== 0) {
  process.stderr.write(`keyhold: the TypeScript build failed after ${seconds} s (errors above)\n`);
  process.exit(run.status ?? 1);
}
process.stderr.write(`keyhold: built dist/ in ${seconds} s\n`);
// The route schemas' compiled code, so that a start loads it instead of compiling (src/api/schema-compilers.ts).
const precompile = spawnSync(process.execPath, [join(root, 'scripts', 'precompile-schemas.mjs')], { cwd: root, stdio: 'inherit' });
if (precompile.status !== 0) {
  process.stderr.write('keyhold: precompiling the route schemas failed (errors above)\n');
  process.exit(precompile.status ?? 1);
}
