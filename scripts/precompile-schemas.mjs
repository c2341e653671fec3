#!/usr/bin/env node
// Part of the build (scripts/build.mjs), after the TypeScript compile: writes
// the compiled code of every route schema into dist/precompiled-schemas/, so
// that a start loads it instead of compiling (src/api/schema-compilers.ts).
// The apps built here are the default configuration and one with the AWS KMS
// surface (its routes exist only when configured); a schema of any other
// configuration is compiled at start as before.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRECOMPILED_DIR, precompileSchemas } from '../dist/api/schema-compilers.js';
import { buildKeyhold } from '../dist/api/keyhold-app.js';
import { resolveConfig } from '../dist/config/load-config.js';

const work = mkdtempSync(join(tmpdir(), 'keyhold-precompile-'));
try {
  rmSync(PRECOMPILED_DIR, { recursive: true, force: true });
  precompileSchemas(PRECOMPILED_DIR);
  const configs = [{}, { compat: { kms: { region: 'us-east-1' } } }];
  for (const [i, extra] of configs.entries()) {
    const config = resolveConfig({ ...extra, storage: { path: join(work, `${i}.db`) }, log: { level: 'silent' } });
    const app = await buildKeyhold(config, { logger: false });
    await app.api.ready();
    await app.health.ready();
    await app.close();
  }
  console.log(`keyhold: precompiled ${readdirSync(PRECOMPILED_DIR).length} route schemas into dist/precompiled-schemas`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
