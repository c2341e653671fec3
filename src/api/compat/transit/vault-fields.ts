/**
 * Unknown request fields on the transit surface, as Vault treats them: Vault's
 * framework decodes only the fields a path declares and ignores the rest (in
 * batch items too), and clients rely on it (hvac sends `name` with verify).
 * The route schemas stay strict (`additionalProperties: false`, so OpenAPI
 * and the size bounds of json-limits.ts hold); before validation the fields
 * a schema does not declare are dropped, following the schema into objects
 * and array items. The walk follows the schema, not the body, so its depth is
 * the schema's.
 */
import type { FastifyInstance } from 'fastify';

interface ObjectSchema {
  type?: unknown;
  properties?: Record<string, unknown>;
  additionalProperties?: unknown;
  patternProperties?: unknown;
  items?: unknown;
  anyOf?: unknown[];
}

function dropUnknown(value: unknown, schema: unknown): void {
  if (schema === null || typeof schema !== 'object' || value === null || typeof value !== 'object') return;
  const s = schema as ObjectSchema;
  if (Array.isArray(value)) {
    if (s.items !== undefined) for (const item of value) dropUnknown(item, s.items);
    return;
  }
  if (s.properties === undefined) return;
  const record = value as Record<string, unknown>;
  const closed = s.additionalProperties === false && s.patternProperties === undefined;
  for (const name of Object.keys(record)) {
    if (Object.hasOwn(s.properties, name)) dropUnknown(record[name], s.properties[name]);
    else if (closed) delete record[name];
  }
}

/** Drops undeclared body fields on every route of `app` (the transit plugin's scope) before validation. */
export function ignoreUnknownFields(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const body = (request.routeOptions.schema as { body?: unknown } | undefined)?.body;
    if (body !== undefined) dropUnknown(request.body, body);
  });
}
