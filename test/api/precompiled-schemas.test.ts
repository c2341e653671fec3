/**
 * The build's precompiled route schemas (src/api/schema-compilers.ts,
 * scripts/precompile-schemas.mjs). In a file of its own: precompileSchemas
 * switches this process's compilers to writing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Type } from '@sinclair/typebox';
import { precompileSchemas, sharedSchemaCompilers } from '../../src/api/schema-compilers.js';
import { REPO_ROOT } from '../helpers/repo-root.js';

const ajv = { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } } as const;

test('the build writes each schema as a module that validates and serialises as the compiled function does', async (t) => {
  // Inside the repository: the generated modules require ajv and fast-json-stringify from its node_modules.
  const dir = join(REPO_ROOT, '.tmp', `precompiled-test-${process.pid}`);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  precompileSchemas(dir);
  const api = Fastify({ logger: false, ajv, schemaController: sharedSchemaCompilers });
  t.after(() => api.close());
  api.post(
    '/echo',
    { schema: { body: Type.Object({ name: Type.String({ maxLength: 8 }) }, { additionalProperties: false }), response: { 200: Type.Object({ name: Type.String() }) } } },
    async (request) => ({ ...(request.body as object), secret: 'never serialised' }),
  );
  await api.ready();
  const files = readdirSync(dir);
  assert.equal(files.length, 2, `one validator and one serializer: ${files.join(', ')}`);
  const load = createRequire(import.meta.url);
  const modules = files.map((f) => load(join(dir, f)) as (x: unknown) => unknown);
  const serialize = modules.find((m) => typeof m({ name: 'ok' }) === 'string')!;
  const validate = modules.find((m) => m !== serialize)!;
  assert.equal(validate({ name: 'ok' }), true);
  assert.equal(validate({ name: 'far too long' }), false);
  assert.equal(validate({ name: 'ok', more: 1 }), false);
  assert.equal(serialize({ name: 'ok', secret: 'x' }), '{"name":"ok"}');
  // The app built while writing serves with the same functions.
  assert.equal((await api.inject({ method: 'POST', url: '/echo', payload: { name: 'far too long' } })).statusCode, 400);
  assert.deepEqual((await api.inject({ method: 'POST', url: '/echo', payload: { name: 'ok' } })).json(), { name: 'ok' });
});

test('a start of the built server loads every route schema of the default configuration precompiled and compiles none', () => {
  // dist/'s code and dist/precompiled-schemas come from the same build, whatever src/ holds now.
  const script = `
    const { mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { resolveConfig } = await import('./dist/config/load-config.js');
    const { buildKeyhold } = await import('./dist/api/keyhold-app.js');
    const { schemaCompilerStats } = await import('./dist/api/schema-compilers.js');
    const dir = mkdtempSync(join(tmpdir(), 'keyhold-precompiled-'));
    const app = await buildKeyhold(resolveConfig({ storage: { path: join(dir, 'k.db') }, log: { level: 'silent' } }), { logger: false });
    await app.api.ready();
    await app.close();
    (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
    console.log(JSON.stringify(schemaCompilerStats()));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
  const stats = JSON.parse(out.trim().split('\n').at(-1)!) as { loaded: number; compiled: number };
  assert.ok(stats.loaded > 100, `loaded ${stats.loaded}`);
  assert.equal(stats.compiled, 0);
});
