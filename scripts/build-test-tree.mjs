// Compiles src/ and test/ to JavaScript once, for the test runner (scripts/run-tests.mjs).
//
// Why: every test file runs in its own Node process. Through tsx each process
// spent about 2 s of CPU on the loader (its start plus a round trip to the hooks
// thread for each of the ~1,000 modules a server test imports); on a 2-core
// machine 173 files paid about 6 minutes of CPU for it. esbuild (the compiler tsx
// itself uses, with the same tsconfig) compiles the whole tree in about 2 s.
//
// The tree (.tmp/test-build-<pid>/, one per run so that runs side by side do
// not pull each other's files away; removed when the run ends, and a dead
// run's tree at the next start) mirrors the repository: src/ and test/ hold the
// compiled .js beside a symbolic link to each original file (fixtures, scripts,
// .ts sources that tests read or hand to child processes), and every other
// top-level entry is a link to the real one. Paths a test derives from its own
// location therefore resolve as in the repository; test/helpers/repo-root.ts
// gives the real repository root for anything that must not be the mirror.
// The compiled files carry inline source maps and the runner enables them, so
// stack traces name the .ts lines.
import { build } from 'esbuild';
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const TREES = join(REPO, '.tmp');
const TREE_PREFIX = 'test-build-';
/** test/api/precompiled-schemas.test.ts writes into .tmp/precompiled-test-<pid>. */
const PRUNED_PREFIXES = [TREE_PREFIX, 'precompiled-test-'];
const COMPILED = ['src', 'test'];
/** Not mirrored: the mirror's own parent, and git's folder (tests run git from the real root). */
const SKIPPED = new Set(['.tmp', '.git', ...COMPILED]);

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Removes the folders of runs that are no longer running (killed before they could clean up). */
function pruneDeadTrees() {
  if (!existsSync(TREES)) return;
  for (const name of readdirSync(TREES)) {
    const prefix = PRUNED_PREFIXES.find((p) => name.startsWith(p));
    const pid = prefix === undefined ? NaN : Number(name.slice(prefix.length));
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) rmSync(join(TREES, name), { recursive: true, force: true });
  }
}

function mirror(dir, tree, sources) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const target = join(tree, relative(REPO, path));
    if (entry.isDirectory()) {
      mkdirSync(target, { recursive: true });
      mirror(path, tree, sources);
      continue;
    }
    symlinkSync(path, target);
    if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      // esbuild would write x.js through the link to a real x.js beside x.ts in the repository.
      if (existsSync(path.slice(0, -3) + '.js')) throw new Error(`${relative(REPO, path)} has a .js file beside it: the test tree cannot hold both`);
      sources.push(path);
    }
  }
}

/**
 * Builds this process's tree; returns its root, how many files were compiled,
 * and `remove` (call it when the run is over).
 */
export async function buildTestTree() {
  pruneDeadTrees();
  const tree = join(TREES, `${TREE_PREFIX}${process.pid}`);
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  for (const name of readdirSync(REPO)) if (!SKIPPED.has(name)) symlinkSync(join(REPO, name), join(tree, name));
  const sources = [];
  for (const dir of COMPILED) {
    if (!lstatSync(join(REPO, dir), { throwIfNoEntry: false })?.isDirectory()) continue;
    mkdirSync(join(tree, dir), { recursive: true });
    mirror(join(REPO, dir), tree, sources);
  }
  await build({
    entryPoints: sources,
    outdir: tree,
    outbase: REPO,
    tsconfig: join(REPO, 'tsconfig.json'),
    format: 'esm',
    platform: 'node',
    target: 'node20',
    bundle: false,
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  return { root: tree, files: sources.length, remove: () => rmSync(tree, { recursive: true, force: true }) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  // Run by hand, the tree is kept (for running one compiled file); the next run's prune removes it.
  const { root, files } = await buildTestTree();
  console.log(`compiled ${files} files into ${relative(process.cwd(), root) || '.'} in ${Date.now() - started} ms`);
}
