#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's test runner. The
// TypeScript is compiled first (scripts/build-test-tree.mjs, about 2 s) and the
// runner is given the compiled copies: through tsx each file's process spent
// about 2 s of CPU on the loader. Node 20's --test takes no globs, so we list
// the files here.
//   node scripts/run-tests.mjs                 every test file
//   node scripts/run-tests.mjs barrier seal    files whose path contains a word
//   node scripts/run-tests.mjs --fast [words]  the inner loop: no process, server, HSM or property file (isFast below)
// Files run KEYHOLD_TEST_CONCURRENCY at a time, by default 2 per core: most
// files wait on sockets, disks and child processes, and on 2 cores the CLI
// and audit files took 337 s at 4 against 649 s at 2 (issue 16).
// No test step may run longer than 60 s (test/helpers/step-timeout.mjs).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { buildTestTree } from './build-test-tree.mjs';

// --fast leaves out a file when it starts a child process, a Keyhold server,
// a listening socket or SoftHSM (directly or through a test helper that does),
// and the property tests (*.property.test.ts: many generated runs each).
const SLOW_FILE = /node:child_process|\.listen\(|startServer|runningVault|helpers\/(cli|keyhold|softhsm|workload|kms-signer)\.js|child-process\.js|softhsm|buildServer|createServer/i;
const isFast = (path) => !path.endsWith('.property.test.ts') && !SLOW_FILE.test(readFileSync(path, 'utf8'));

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const roots = [join(repo, 'src'), join(repo, 'test')];
const args = process.argv.slice(2);
const fast = args.includes('--fast');
const filters = args.filter((a) => a !== '--fast');
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts') && (filters.length === 0 || filters.some((f) => p.includes(f)))) {
      if (!fast || isFast(p)) files.push(p);
    }
  }
}
for (const r of roots) walk(r);
files.sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const { root: tree, remove } = await buildTestTree();
// The route schemas' compiled code for the tree, as the build makes it for dist/ (src/api/schema-compilers.ts):
// each test process that starts an app loads it instead of compiling (~0.7 s of CPU each).
const precompiled = spawnSync(process.execPath, [join(repo, 'scripts', 'precompile-schemas.mjs'), '--code', join(tree, 'src')], { cwd: repo, stdio: 'inherit' });
if (precompiled.status !== 0) {
  remove();
  console.error('precompiling the route schemas for the test tree failed (errors above)');
  process.exit(1);
}
const compiled = files.map((f) => join(tree, f.slice(repo.length + 1)).replace(/\.ts$/, '.js'));
const fromEnv = Number(process.env.KEYHOLD_TEST_CONCURRENCY);
const concurrency = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 2 * availableParallelism();
const result = spawnSync(
  process.execPath,
  [
    // The compiled files carry inline source maps: stack traces name the .ts lines.
    '--enable-source-maps',
    // V8 flags for the test files' processes, passed on to the servers and CLI runs they start
    // (test/helpers/ts-entry.ts), except where a test asks for Node's defaults (the wasm-deopt
    // regression, one dev-server start). Cedar is a 4 MB WebAssembly module: optimising it
    // costs each process about 1.5 s of CPU on background threads, more than most files' own work,
    // for code a test calls a few hundred times; the baseline compiler runs the same code. A larger
    // young generation spares short-lived processes most of their scavenges.
    '--liftoff-only',
    '--max-semi-space-size=32',
    '--import',
    pathToFileURL(join(repo, 'test', 'helpers', 'step-timeout.mjs')).href,
    '--test',
    '--test-reporter=spec',
    `--test-concurrency=${concurrency}`,
    // On Node 20 this bounds each test FILE (its process), a backstop for a
    // file that hangs after its tests; steps are bounded by step-timeout.mjs.
    '--test-timeout=900000',
    ...compiled,
  ],
  { cwd: repo, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
remove();
process.exit(result.status ?? 1);
