/**
 * Fastify's own schema compilers (Ajv for request validation,
 * fast-json-stringify for responses), shared by every app this process builds.
 *
 * Fastify gives each app fresh compilers, so every build compiles every route
 * schema again: about 1.4 s of CPU for Keyhold's few hundred schemas, paid
 * again whenever an app is rebuilt in the same process (an in-process restart,
 * and most of the test suite's CPU before this). Here each distinct schema is
 * compiled once per process and the compiled function reused: a validator or
 * serializer is a pure function of its schema, the shared schemas
 * (`addSchema`) and the compiler options, and all three are part of the key.
 *
 * Only the caching is ours; the compilers are Fastify's defaults, called with
 * the same arguments. Passing them as `compilersFactory` marks them "custom"
 * to Fastify, which then leaves a route's `headers` schema as written instead
 * of lower-casing its keys (Node's request.headers are lower case): a headers
 * schema naming an upper-case field is refused when its route is registered.
 */
import AjvCompiler from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';

/** Compiled functions of one compiler (one set of shared schemas and options), by schema text. */
type Compiled = Map<string, unknown>;

// Schemas are keyed by their JSON text, not their identity: routes build many
// of their schemas when they are registered, so the objects differ per app.
function memoised<R extends { readonly schema?: unknown }, T>(compiled: Compiled, compile: (route: R) => T): (route: R) => T {
  return (route) => {
    const key = JSON.stringify(route.schema);
    let fn = compiled.get(key) as T | undefined;
    if (fn === undefined) {
      fn = compile(route);
      compiled.set(key, fn);
    }
    return fn;
  };
}

const serializerPool = SerializerSelector();
// @fastify/ajv-compiler's declarations give the compiler it returns the schema itself as argument; Fastify (and
// its runtime) call it with the route definition ({ schema, method, url, httpPart }), as for serializers.
const validatorPool = AjvCompiler() as unknown as (...args: Parameters<typeof serializerPool>) => (route: { readonly schema: unknown }) => unknown;
const validators = new Map<string, Compiled>();
const serializers = new Map<string, Compiled>();

// Options are keyed by their JSON text: Keyhold passes Ajv no plugins or hooks (functions, which JSON would drop).
function compiledFor(table: Map<string, Compiled>, externalSchemas: unknown, options: unknown): Compiled {
  const key = `${JSON.stringify(externalSchemas)}\n${JSON.stringify(options)}`;
  let compiled = table.get(key);
  if (compiled === undefined) {
    compiled = new Map();
    table.set(key, compiled);
  }
  return compiled;
}

/** A headers schema whose field names are not all lower case would never match (see above). */
function checkHeadersSchema(route: { readonly schema: unknown; readonly httpPart?: string; readonly url?: string }): void {
  if (route.httpPart !== 'headers') return;
  const properties = (route.schema as { properties?: Record<string, unknown> } | null)?.properties ?? {};
  const upper = Object.keys(properties).filter((name) => name !== name.toLowerCase());
  if (upper.length > 0) throw new Error(`the headers schema of ${route.url ?? 'a route'} names ${upper.join(', ')}: header names must be lower case`);
}

const buildValidator = (externalSchemas: unknown, options: unknown) => {
  const compile = memoised(compiledFor(validators, externalSchemas, options), validatorPool(externalSchemas, options as object));
  return (route: { readonly schema: unknown; readonly httpPart?: string; readonly url?: string }) => {
    checkHeadersSchema(route);
    return compile(route);
  };
};

const buildSerializer: typeof serializerPool = (externalSchemas, options) =>
  memoised(compiledFor(serializers, externalSchemas, options), serializerPool(externalSchemas, options));

/** For Fastify's `schemaController` option. */
export const sharedSchemaCompilers = {
  compilersFactory: { buildValidator: buildValidator as unknown as ReturnType<typeof AjvCompiler>, buildSerializer },
};
