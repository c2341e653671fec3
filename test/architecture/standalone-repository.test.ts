/**
 * The repository stands on its own: no tracked file points at the folder
 * that happens to sit beside some checkouts (the sibling "shared" folder,
 * by relative or absolute path). Code, docs, benchmarks and tests must work,
 * and make sense, in a fresh clone with nothing beside it.
 *
 * Two kinds of file may name it: fixtures under a test `fixtures/` folder
 * (data carried with a note of its origin), and test/helpers/vectors.ts, the
 * one place that names the default location of published test vectors
 * (KEYHOLD_TEST_VECTORS overrides it).
 *
 * Files are those git tracks (`git ls-files`, run from the repository root);
 * without git or a .git folder (an unpacked tarball), every file under the
 * root except node_modules/, dist/ and .git/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { REPO_ROOT } from '../helpers/vectors.js';

// Built from parts so that this file does not name the folder itself.
const SIBLING = ['..', 'shared'].join('/');
const ABSOLUTE = ['', 'work', 'shared'].join('/');
const MENTION = new RegExp(`${escape(SIBLING)}|${escape(ABSOLUTE)}`);

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The one file allowed to name the default vectors folder. */
const VECTORS_HELPER = 'test/helpers/vectors.ts';

/** Test fixtures: anything under a fixtures/ folder inside test/. */
function isTestFixture(path: string): boolean {
  return path.startsWith('test/') && path.split('/').includes('fixtures');
}

const WALK_EXCLUDED = new Set(['node_modules', 'dist', '.git']);

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (WALK_EXCLUDED.has(name)) return [];
    const p = join(dir, name);
    const st = statSync(p);
    return st.isDirectory() ? walk(p) : st.isFile() ? [relative(REPO_ROOT, p).split(sep).join('/')] : [];
  });
}

/** Repository-relative paths (forward slashes) of the files to check, and how they were found. */
function repositoryFiles(): { files: string[]; source: string } {
  if (existsSync(join(REPO_ROOT, '.git'))) {
    try {
      const out = execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      // A tracked file deleted in the working tree is not there to check.
      return { files: out.split('\0').filter((p) => p !== '' && existsSync(join(REPO_ROOT, p))), source: 'git ls-files' };
    } catch {
      // No git binary: fall back to the tree.
    }
  }
  return { files: walk(REPO_ROOT), source: 'the tree (no git)' };
}

test('no tracked file outside test fixtures refers to the sibling shared folder', (t) => {
  const { files, source } = repositoryFiles();
  // A listing that found almost nothing would pass vacuously.
  assert.ok(files.includes('package.json') && files.includes(VECTORS_HELPER) && files.length > 50, `${source} listed ${files.length} files`);
  const offences: string[] = [];
  let checked = 0;
  for (const path of files) {
    if (path === VECTORS_HELPER || isTestFixture(path)) continue;
    const bytes = readFileSync(join(REPO_ROOT, path));
    if (bytes.includes(0)) continue; // binary
    checked++;
    bytes
      .toString('utf8')
      .split('\n')
      .forEach((line, i) => {
        if (MENTION.test(line)) offences.push(`${path}:${i + 1}: ${line.trim().slice(0, 160)}`);
      });
  }
  t.diagnostic(`${checked} text files checked (listed by ${source})`);
  assert.deepEqual(offences, [], `${offences.length} lines refer to a folder outside the repository (name the repository's own files, or read published data through test/helpers/vectors.ts):\n${offences.join('\n')}`);
});

test('the check itself: it finds both spellings and spares only fixtures and the vectors helper', () => {
  assert.ok(MENTION.test(`see ${SIBLING}/vectors/README.md`));
  assert.ok(MENTION.test(`read ${ABSOLUTE}/PROTOCOLS.md`));
  assert.ok(!MENTION.test("the secrets under 'shared/' and test/helpers/shared-state.ts"));
  assert.ok(isTestFixture('test/api/compat/fixtures/vssm-readme-config.json'));
  assert.ok(isTestFixture('test/fixtures/crash-writer.ts'));
  assert.ok(!isTestFixture('docs/fixtures/x.md'));
  assert.ok(!isTestFixture('test/api/compat/vssm-config.test.ts'));
});
