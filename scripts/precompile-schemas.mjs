#!/usr/bin/env node
// Writes the compiled code of every route schema into precompiled-schemas/
// beside the compiled code, so that a start loads it instead of compiling
// (src/api/schema-compilers.ts). Part of the build (scripts/build.mjs, for
// dist/) and of the test runner (scripts/run-tests.mjs, for its compiled tree).
//   node scripts/precompile-schemas.mjs [--code DIR]   DIR: the compiled code (default dist)
// The apps built here are the default configuration and one with the AWS KMS
// surface (its routes exist only when configured); a schema of any other
// configuration is compiled at start as before. The folder is written beside
// and renamed into place, so a process starting meanwhile sees the old folder,
// none, or the new one, never a half-written file.
import { mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const flag = process.argv.indexOf('--code');
const code = resolve(flag === -1 ? join(import.meta.dirname, '..', 'dist') : process.argv[flag + 1]);
const load = (path) => import(pathToFileURL(join(code, path)).href);
const { PRECOMPILED_DIR, precompileSchemas } = await load('api/schema-compilers.js');
const { buildKeyhold } = await load('api/keyhold-app.js');
const { resolveConfig } = await load('config/load-config.js');

const work = mkdtempSync(join(tmpdir(), 'keyhold-precompile-'));
const partial = `${PRECOMPILED_DIR}.partial-${process.pid}`;
try {
  rmSync(partial, { recursive: true, force: true });
  precompileSchemas(partial);
  const configs = [{}, { compat: { kms: { region: 'us-east-1' } } }];
  for (const [i, extra] of configs.entries()) {
    const config = resolveConfig({ ...extra, storage: { path: join(work, `${i}.db`) }, log: { level: 'silent' } });
    const app = await buildKeyhold(config, { logger: false });
    await app.api.ready();
    await app.health.ready();
    await app.close();
  }
  rmSync(PRECOMPILED_DIR, { recursive: true, force: true });
  renameSync(partial, PRECOMPILED_DIR);
  if (flag === -1) console.log(`keyhold: precompiled ${readdirSync(PRECOMPILED_DIR).length} route schemas into dist/precompiled-schemas`);
} finally {
  rmSync(work, { recursive: true, force: true });
  rmSync(partial, { recursive: true, force: true });
}
