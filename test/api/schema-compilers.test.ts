import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { sharedSchemaCompilers } from '../../src/api/schema-compilers.js';

/** Keyhold's Ajv options: nothing coerced, nothing removed (src/api/keyhold-app.ts). */
const ajv = { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } } as const;

/** An app whose route schema objects are built afresh, as Keyhold's routes build theirs at registration. */
function app(shared?: { $id: string; type: string }): FastifyInstance {
  const api = Fastify({ logger: false, ajv, schemaController: sharedSchemaCompilers });
  if (shared !== undefined) api.addSchema(shared);
  api.post(
    '/echo',
    {
      schema: {
        body: Type.Object({ name: Type.String({ maxLength: 8 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ name: Type.String() }) },
      },
    },
    async (request) => ({ ...(request.body as object), secret: 'never serialised' }),
  );
  if (shared !== undefined) api.post('/ref', { schema: { body: { $ref: `${shared.$id}#` } } }, async () => ({ ok: true }));
  return api;
}

test('apps built in one process reuse each compiled validator and serializer, and every app still validates and filters', async (t) => {
  const first = app();
  const second = app();
  t.after(() => Promise.all([first.close(), second.close()]));
  const fns = new Map<FastifyInstance, unknown>();
  for (const api of [first, second]) {
    api.addHook('preValidation', async (request) => {
      fns.set(api, request.getValidationFunction('body'));
    });
  }
  for (const api of [first, second]) {
    const good = await api.inject({ method: 'POST', url: '/echo', payload: { name: 'ok' } });
    assert.equal(good.statusCode, 200);
    assert.deepEqual(good.json(), { name: 'ok' }, 'an undeclared response field is not serialised');
    const long = await api.inject({ method: 'POST', url: '/echo', payload: { name: 'far too long' } });
    assert.equal(long.statusCode, 400);
    const extra = await api.inject({ method: 'POST', url: '/echo', payload: { name: 'ok', more: 1 } });
    assert.equal(extra.statusCode, 400);
  }
  assert.equal(typeof fns.get(first), 'function');
  assert.equal(fns.get(first), fns.get(second), 'the second app reused the first one’s compiled body validator');
});

test('a different set of shared schemas compiles apart: the same $ref means what each app declared', async (t) => {
  const strings = app({ $id: 'thing', type: 'string' });
  const numbers = app({ $id: 'thing', type: 'number' });
  t.after(() => Promise.all([strings.close(), numbers.close()]));
  const post = (api: FastifyInstance, payload: unknown) => api.inject({ method: 'POST', url: '/ref', payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
  assert.equal((await post(strings, 'text')).statusCode, 200);
  assert.equal((await post(strings, 7)).statusCode, 400);
  assert.equal((await post(numbers, 7)).statusCode, 200);
  assert.equal((await post(numbers, 'text')).statusCode, 400);
});

test('a headers schema naming an upper-case field is refused when its route is registered (it could never match)', async (t) => {
  const api = Fastify({ logger: false, ajv, schemaController: sharedSchemaCompilers });
  t.after(() => api.close());
  api.get('/h', { schema: { headers: Type.Object({ 'X-Custom': Type.String() }) } }, async () => ({}));
  await assert.rejects(async () => api.ready(), /X-Custom: header names must be lower case/);
  const lower = Fastify({ logger: false, ajv, schemaController: sharedSchemaCompilers });
  t.after(() => lower.close());
  lower.get('/h', { schema: { headers: Type.Object({ 'x-custom': Type.String() }) } }, async () => ({}));
  await lower.ready();
  assert.equal((await lower.inject({ method: 'GET', url: '/h' })).statusCode, 400);
  assert.equal((await lower.inject({ method: 'GET', url: '/h', headers: { 'X-Custom': 'v' } })).statusCode, 200);
});
