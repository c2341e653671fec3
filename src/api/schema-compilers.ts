/**
 * Fastify's own schema compilers (Ajv for request validation,
 * fast-json-stringify for responses), made cheap to start.
 *
 * Compiling Keyhold's few hundred route schemas took about 1.4 s of CPU at
 * every start (and again at every app build in the same process: the test
 * suite builds hundreds). Two layers avoid that work without changing what
 * runs:
 * - in the process, each distinct schema is compiled once and the compiled
 *   function shared by every app built later;
 * - the build (scripts/build.mjs, `precompileSchemas`) writes each schema's
 *   compiled code into dist/precompiled-schemas/ with the libraries' own
 *   standalone code generators (Ajv's standaloneCode, fast-json-stringify's
 *   standalone mode: their supported way to skip start-up compilation), and
 *   a start loads those instead of compiling.
 * A compiled function is a pure function of its schema, the shared schemas
 * (`addSchema`), the compiler options and the library versions, so all four
 * make its key (a SHA-256 for the files): a stale or foreign file is never
 * found, a schema without one is compiled as before. The files are part of
 * dist/ like the rest of the code (the simulated PCR2 measures them too).
 *
 * Passing compilers as `compilersFactory` marks them "custom" to Fastify,
 * which then leaves a route's `headers` schema as written instead of
 * lower-casing its keys (Node's request.headers are lower case): a headers
 * schema naming an upper-case field is refused when its route is registered.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import AjvCompiler, { StandaloneValidator } from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';

interface Route {
  readonly schema?: unknown;
  readonly httpPart?: string;
  readonly url?: string;
}
type Compile = (route: Route) => unknown;
type Kind = 'validator' | 'serializer';

const require = createRequire(import.meta.url);
/** Versions of the code generators: their output is part of what a key names. */
const LIBRARIES = (() => {
  const version = (from: string, name: string) => (createRequire(require.resolve(from))(`${name}/package.json`) as { version: string }).version;
  return [`ajv@${version('@fastify/ajv-compiler', 'ajv')}`, `fast-json-stringify@${version('@fastify/fast-json-stringify-compiler', 'fast-json-stringify')}`];
})();

/** dist/precompiled-schemas of this package (this file is src/api/ or dist/api/). */
export const PRECOMPILED_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'precompiled-schemas');

/** Set by precompileSchemas: the folder the build writes compiled code into. */
let storeInto: string | undefined;

function fileKey(kind: Kind, externalSchemas: unknown, options: unknown, schema: unknown): string {
  return createHash('sha256').update(JSON.stringify([kind, LIBRARIES, externalSchemas, options, schema])).digest('hex');
}

// @fastify/ajv-compiler's declarations give its compiler the schema itself as argument; Fastify calls it with
// the route definition ({ schema, method, url, httpPart }), as it calls serializers.
type Factory = (externalSchemas: unknown, options: object) => Compile;
const validatorPool = AjvCompiler() as unknown as Factory;
const serializerPool = SerializerSelector() as unknown as Factory;
const POOLS: Record<Kind, Factory> = { validator: validatorPool, serializer: serializerPool };

/** The build's compilers: compile as usual and also write each schema's code. */
function storingFactory(kind: Kind, dir: string, key: (schema: unknown) => string): Factory {
  const store = (route: Route, code: string) => writeFileSync(join(dir, `${key(route.schema)}.cjs`), code);
  if (kind === 'validator') {
    // Options copied: the standalone wrapper turns Ajv's code generation on in them.
    const factory = StandaloneValidator({ readMode: false, storeFunction: store }) as unknown as Factory;
    return (externalSchemas, options) => factory(externalSchemas, { ...options, customOptions: { ...(options as { customOptions?: object }).customOptions } });
  }
  // fast-json-stringify's standalone mode answers the module's code instead of a function.
  return (externalSchemas, options) => {
    const code = serializerPool(externalSchemas, { ...options, mode: 'standalone' });
    const compile = serializerPool(externalSchemas, options);
    return (route) => {
      store(route, code(route) as string);
      return compile(route);
    };
  };
}

const stats = { loaded: 0, compiled: 0 };

/** How many schemas this process loaded precompiled and how many it compiled (shared ones count once). */
export function schemaCompilerStats(): { readonly loaded: number; readonly compiled: number } {
  return { ...stats };
}

/** Compiled functions per (kind, shared schemas, options), each by schema text. */
const compiledByContext = new Map<string, Map<string, unknown>>();

function compilerFor(kind: Kind, externalSchemas: unknown, options: object): Compile {
  const context = `${kind}\n${JSON.stringify(externalSchemas)}\n${JSON.stringify(options)}`;
  let compiled = compiledByContext.get(context);
  if (compiled === undefined) {
    compiled = new Map();
    compiledByContext.set(context, compiled);
  }
  const memo = compiled;
  const key = (schema: unknown) => fileKey(kind, externalSchemas, options, schema);
  let compile: Compile | undefined;
  // Schemas are keyed by their JSON text, not their identity: routes build many of their schemas when they
  // are registered, so the objects differ per app. Options are keyed by JSON too: Keyhold gives Ajv no plugins
  // or hooks (functions, which JSON would drop).
  return (route) => {
    const text = JSON.stringify(route.schema);
    if (memo.has(text)) return memo.get(text);
    let fn: unknown;
    if (storeInto === undefined) {
      const file = join(PRECOMPILED_DIR, `${key(route.schema)}.cjs`);
      if (existsSync(file)) {
        fn = require(file) as unknown;
        stats.loaded++;
      }
    }
    if (fn === undefined) {
      compile ??= (storeInto === undefined ? POOLS[kind] : storingFactory(kind, storeInto, key))(externalSchemas, options);
      fn = compile(route);
      stats.compiled++;
    }
    memo.set(text, fn);
    return fn;
  };
}

/** A headers schema whose field names are not all lower case would never match (see above). */
function checkHeadersSchema(route: Route): void {
  if (route.httpPart !== 'headers') return;
  const properties = (route.schema as { properties?: Record<string, unknown> } | null)?.properties ?? {};
  const upper = Object.keys(properties).filter((name) => name !== name.toLowerCase());
  if (upper.length > 0) throw new Error(`the headers schema of ${route.url ?? 'a route'} names ${upper.join(', ')}: header names must be lower case`);
}

const buildValidator = (externalSchemas: unknown, options: object): Compile => {
  const compile = compilerFor('validator', externalSchemas, options);
  return (route) => {
    checkHeadersSchema(route);
    return compile(route);
  };
};

const buildSerializer = (externalSchemas: unknown, options: object = {}): Compile => compilerFor('serializer', externalSchemas, options);

/** For Fastify's `schemaController` option. */
export const sharedSchemaCompilers = {
  compilersFactory: {
    buildValidator: buildValidator as unknown as ReturnType<typeof AjvCompiler>,
    buildSerializer: buildSerializer as unknown as ReturnType<typeof SerializerSelector>,
  },
};

/**
 * The build's step: from now on every schema this process compiles (build
 * the apps after calling this) is also written into `dir` as a CommonJS
 * module. Nothing is read from `dir` meanwhile.
 */
export function precompileSchemas(dir: string): void {
  mkdirSync(dir, { recursive: true });
  storeInto = dir;
  compiledByContext.clear();
}
