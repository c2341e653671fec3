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
 *   compiled code into precompiled-schemas/ beside the compiled code
 *   (dist/precompiled-schemas) with the libraries' own standalone code
 *   generators (Ajv's standaloneCode, fast-json-stringify's standalone mode:
 *   their supported way to skip start-up compilation), and a start loads
 *   those instead of compiling. Run from source there is no such folder
 *   (src/ holds none), so nothing is loaded that the simulated PCR2, which
 *   measures the folder the code runs from, does not cover.
 * A compiled function is a pure function of its schema, the shared schemas
 * (`addSchema`), the compiler options and the versions of the libraries that
 * generate and run it, so all of these make its key (a SHA-256 for the
 * files): a stale or foreign file is never found, and a schema without one,
 * or a file that does not load as a function, is compiled as before.
 * A loaded validator differs from a compiled one in one way: it has no
 * `schemaEnv`, so Fastify does not let Ajv replace a whole parameter object
 * when coercing; Keyhold coerces nothing (coerceTypes: false).
 *
 * Passing compilers as `compilersFactory` marks them "custom" to Fastify,
 * which then leaves a route's `headers` schema as written instead of
 * lower-casing its keys (Node's request.headers are lower case): a headers
 * schema whose `properties` or `required` name an upper-case field is refused
 * when its route is registered.
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

/** precompiled-schemas/ beside the compiled code: dist/precompiled-schemas when built (this file is dist/api/). */
export const PRECOMPILED_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'precompiled-schemas');

/** Resolves as the precompiled modules do (their `require`s start from their folder). */
const requireFromPrecompiled = createRequire(join(PRECOMPILED_DIR, 'index.cjs'));

/** Versions of the packages that generate the code and that it requires at run time: part of what a key names. */
const LIBRARIES = ['ajv', 'ajv-formats', 'fast-json-stringify', '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler'].map((name) => {
  try {
    return `${name}@${(requireFromPrecompiled(`${name}/package.json`) as { version: string }).version}`;
  } catch {
    return `${name}@absent`;
  }
});

/** Set by precompileSchemas: the folder the build writes compiled code into. */
let storeInto: string | undefined;

const LIBRARIES_TEXT = JSON.stringify(LIBRARIES);

/**
 * The file name of a schema's compiled code: a SHA-256 of the library versions, the compiler's context
 * (kind, shared schemas, options: compilerFor's JSON text) and the schema's JSON text. JSON text has no raw
 * newlines, so the separators are unambiguous.
 */
function fileKey(context: string, schemaText: string): string {
  return createHash('sha256').update(`${LIBRARIES_TEXT}\n${context}\n${schemaText}`).digest('hex');
}

// @fastify/ajv-compiler's declarations give its compiler the schema itself as argument; Fastify calls it with
// the route definition ({ schema, method, url, httpPart }), as it calls serializers.
type Factory = (externalSchemas: unknown, options: object) => Compile;
const validatorPool = AjvCompiler() as unknown as Factory;
const serializerPool = SerializerSelector() as unknown as Factory;
const POOLS: Record<Kind, Factory> = { validator: validatorPool, serializer: serializerPool };

/** The build's compilers: compile as usual and also write each schema's code. */
function storingFactory(kind: Kind, dir: string, context: string): Factory {
  const store = (route: Route, code: string) => writeFileSync(join(dir, `${fileKey(context, JSON.stringify(route.schema))}.cjs`), code);
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

/** Compiled functions per (kind, shared schemas, options), each by schema text: as many as the route schemas of the configurations this process builds. */
const compiledByContext = new Map<string, Map<string, unknown>>();

/** A precompiled function for `key`, if the build wrote one that loads as a function. */
function loadPrecompiled(key: string): unknown {
  const file = join(PRECOMPILED_DIR, `${key}.cjs`);
  if (!existsSync(file)) return undefined;
  try {
    const fn = requireFromPrecompiled(file) as unknown;
    return typeof fn === 'function' ? fn : undefined;
  } catch {
    // A truncated or damaged file (an interrupted build): compile instead.
    return undefined;
  }
}

/** Options are keyed by their JSON text, so options JSON cannot express (Ajv plugins, hooks) are refused. */
function checkOptionsKeyable(options: object): void {
  const o = options as { plugins?: unknown[]; onCreate?: unknown };
  if ((o.plugins !== undefined && o.plugins.length > 0) || o.onCreate !== undefined) {
    throw new Error('schema compilers: Ajv plugins and onCreate hooks are not supported (options are keyed by their JSON text)');
  }
}

function compilerFor(kind: Kind, externalSchemas: unknown, options: object): Compile {
  checkOptionsKeyable(options);
  const context = `${kind}\n${JSON.stringify(externalSchemas)}\n${JSON.stringify(options)}`;
  const memo = compiledByContext.get(context) ?? new Map<string, unknown>();
  compiledByContext.set(context, memo);
  let compile: Compile | undefined;
  // Schemas are keyed by their JSON text, not their identity: routes build many of their schemas when they
  // are registered, so the objects differ per app. Options are keyed by JSON too: Keyhold gives Ajv no plugins
  // or hooks (functions, which JSON would drop).
  return (route) => {
    const text = JSON.stringify(route.schema);
    if (memo.has(text)) return memo.get(text);
    let fn: unknown;
    if (storeInto === undefined) {
      fn = loadPrecompiled(fileKey(context, text));
      if (fn !== undefined) stats.loaded++;
    }
    if (fn === undefined) {
      compile ??= (storeInto === undefined ? POOLS[kind] : storingFactory(kind, storeInto, context))(externalSchemas, options);
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
  const schema = route.schema as { properties?: Record<string, unknown>; required?: unknown[] } | null;
  const names = [...Object.keys(schema?.properties ?? {}), ...(schema?.required ?? []).filter((n): n is string => typeof n === 'string')];
  const upper = [...new Set(names.filter((name) => name !== name.toLowerCase()))];
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
