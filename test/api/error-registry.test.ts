import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '../../src/errors.js';
import { REPO_ROOT } from '../helpers/vectors.js';

const doc = readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

test('every error code is documented in docs/errors.md with its HTTP status', () => {
  for (const [code, { status }] of Object.entries(ERROR_CODES)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
    assert.ok(row, `${code} is not documented in docs/errors.md`);
    assert.ok(row.includes(`| ${status} |`), `${code} is documented with the wrong status`);
  }
});

test('docs/errors.md documents no code that does not exist', () => {
  const documented = [...doc.matchAll(/^\| `(KH_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]!);
  for (const code of documented) assert.ok(code in ERROR_CODES, `${code} is documented but not defined`);
  assert.equal(new Set(documented).size, documented.length, 'a code is documented twice');
});

test('every KH_ code used in src/ is registered (CLI, SDK and agent codes are documented too)', () => {
  for (const file of sourceFiles(join(REPO_ROOT, 'src'))) {
    // A code ends in a letter or digit; "KH_HSM_*" in a comment names a family, not a code.
    for (const [code] of readFileSync(file, 'utf8').matchAll(/\bKH_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])/g)) {
      if (code.startsWith('KH_CLI_') || code.startsWith('KH_CLIENT_') || code.startsWith('KH_AGENT_')) assert.ok(doc.includes(`\`${code}\``), `${code} (in ${file}) is not documented`);
      else assert.ok(code in ERROR_CODES, `${code} used in ${file} is not in ERROR_CODES`);
    }
  }
});

test('statuses are client or server errors and codes follow KH_UPPER_SNAKE', () => {
  for (const [code, { status, summary }] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^KH_[A-Z0-9_]+$/);
    assert.ok(status >= 400 && status < 600, code);
    assert.ok(summary.length > 10, code);
  }
});
