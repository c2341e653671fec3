/**
 * Property-based bad-input tests for every /v1/keys route, through
 * `app.api.inject()`, in an unsealed vault holding one key of every type
 * (plus a disabled, a deletion-pending and a trimmed key).
 *
 * The invariants: no 5xx; every error is exactly `{ error: { code, message,
 * requestId } }` with a registered code whose status is the HTTP status;
 * nothing internal (stack frames, source paths, "Error:") is shown; every
 * decryption failure says exactly "decryption failed", and any corruption of a
 * valid ciphertext is such a failure (no oracle); batches answer one result per
 * item, in order, each the item's output or `{ error: { code, message } }` with
 * the code the single-item route gives; a failed request changes no key; and a
 * model of create/rotate/encrypt/decrypt/rewrap/datakey/disable/enable/config/trim
 * agrees with the vault: every ciphertext stays decryptable to its plaintext
 * for as long as minDecryptionVersion (and trimming) allow its version.
 *
 * Methods a path does not have get 404 (HEAD mirrors GET). Inputs are drawn
 * from real outputs too (ciphertexts, signatures, MACs, KEM encapsulations,
 * public keys, material wrapped for import), so requests get past validation
 * into the handlers; `KH_FUZZ_STATS=1` prints what each route answered.
 *
 * The route table below must list every /v1/keys route (a test checks it
 * against `app.routes`), so a new route gets fuzzed as soon as it exists.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { METHODS } from 'node:http';
import { constants, createHash, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { aeskwp } from '@noble/ciphers/aes.js';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold, type KeyholdApp } from '../../src/api/keyhold-app.js';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { KEY_TYPES, KEY_TYPE_NAMES, type KeyType } from '../../src/keys/key-types.js';
import { MAX_BATCH_ITEMS } from '../../src/api/v1/operation-route.js';
import { bearer, initVault, unsealVault, unsealedVault } from '../helpers/keyhold.js';
import { injectWithin } from './inject-deadline.js';

// ---------------------------------------------------------------------------
// The route table
// ---------------------------------------------------------------------------

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** Every body field any /v1/keys route reads (of one item, for the operations). */
const FIELDS = [
  'name',
  'type',
  'description',
  'tags',
  'exportable',
  'legacy',
  'sealWrap',
  'autoRotatePeriodSeconds',
  'minDecryptionVersion',
  'minEncryptionVersion',
  'minAvailableVersion',
  'plaintext',
  'associatedData',
  'context',
  'version',
  'ciphertext',
  'bits',
  'input',
  'signature',
  'hmac',
  'hash',
  'prehashed',
  'signatureAlgorithm',
  'signatureFormat',
  'publicKey',
  'peerPublicKey',
  'output',
  'salt',
  'info',
] as const;
type Field = (typeof FIELDS)[number];

const QUERY_KEYS = ['limit', 'after', 'version', 'format', 'waitingDays'] as const;
type QueryKey = (typeof QUERY_KEYS)[number];

const OPS = ['encrypt', 'decrypt', 'rewrap', 'datakey', 'sign', 'verify', 'hmac', 'verify-hmac', 'derive', 'encapsulate', 'decapsulate'] as const;
type Op = (typeof OPS)[number];

const SIGN_OPTIONS: readonly Field[] = ['hash', 'prehashed', 'signatureAlgorithm', 'signatureFormat'];
const OP_FIELDS: Record<Op, readonly Field[]> = {
  encrypt: ['plaintext', 'associatedData', 'context', 'version'],
  decrypt: ['ciphertext', 'associatedData', 'context'],
  rewrap: ['ciphertext', 'associatedData', 'context', 'version'],
  datakey: ['bits', 'plaintext', 'associatedData', 'context'],
  sign: ['input', ...SIGN_OPTIONS, 'version'],
  verify: ['input', 'signature', ...SIGN_OPTIONS],
  hmac: ['input', 'version'],
  'verify-hmac': ['input', 'hmac'],
  derive: ['peerPublicKey', 'output', 'salt', 'info', 'version'],
  encapsulate: ['version'],
  decapsulate: ['ciphertext'],
};
const KEY_SETTINGS: readonly Field[] = ['type', 'description', 'tags', 'exportable', 'legacy', 'sealWrap', 'autoRotatePeriodSeconds'];

interface RouteSpec {
  readonly method: Method;
  /** As registered (and listed in `app.routes`). */
  readonly url: string;
  readonly fields: readonly Field[];
  readonly query: readonly QueryKey[];
  readonly op: Op | undefined;
  readonly batch: boolean;
  /** Changes keys when it succeeds. */
  readonly mutates: boolean;
}

const lifecycle = (method: Method, url: string, fields: readonly Field[], query: readonly QueryKey[], mutates: boolean): RouteSpec => ({ method, url, fields, query, op: undefined, batch: false, mutates });

const ROUTES: readonly RouteSpec[] = [
  lifecycle('POST', '/v1/keys', ['name', ...KEY_SETTINGS], [], true),
  lifecycle('GET', '/v1/keys', [], ['limit', 'after'], false),
  lifecycle('GET', '/v1/keys/:name', [], [], false),
  lifecycle('PATCH', '/v1/keys/:name', ['description', 'tags', 'minDecryptionVersion', 'minEncryptionVersion', 'autoRotatePeriodSeconds'], [], true),
  lifecycle('POST', '/v1/keys/:name/rotate', [], [], true),
  lifecycle('POST', '/v1/keys/:name/trim', ['minAvailableVersion'], [], true),
  lifecycle('POST', '/v1/keys/:name/enable', [], [], true),
  lifecycle('POST', '/v1/keys/:name/disable', [], [], true),
  lifecycle('DELETE', '/v1/keys/:name', [], ['waitingDays'], true),
  lifecycle('POST', '/v1/keys/:name/cancel-deletion', [], [], true),
  lifecycle('GET', '/v1/keys/:name/public-key', [], ['version', 'format'], false),
  lifecycle('POST', '/v1/keys/:name/import', [...KEY_SETTINGS, 'ciphertext', 'publicKey'], [], true),
  lifecycle('POST', '/v1/keys/:name/import-version', ['ciphertext', 'publicKey'], [], true),
  lifecycle('GET', '/v1/keys/:name/export', [], [], false),
  ...OPS.flatMap((op): RouteSpec[] => [
    { method: 'POST', url: `/v1/keys/:name/${op}`, fields: OP_FIELDS[op], query: [], op, batch: false, mutates: false },
    { method: 'POST', url: `/v1/keys/:name/${op}/batch`, fields: OP_FIELDS[op], query: [], op, batch: true, mutates: false },
  ]),
];

// ---------------------------------------------------------------------------
// Vaults and requests
// ---------------------------------------------------------------------------

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** An unsealed vault that lives for the whole file (closed by the file's `after`). */
async function fileVault(): Promise<{ app: KeyholdApp; rootToken: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-keys-fuzz-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = resolveConfig({ storage: { path: join(dir, 'keyhold.db') }, listeners: { api: { port: 0 }, health: { port: 0 } }, log: { level: 'silent' } });
  const app = await buildKeyhold(config, { logger: false });
  cleanups.push(() => app.close());
  const init = await initVault(app);
  await unsealVault(app, init.shares.slice(0, 2));
  return { app, rootToken: init.rootToken };
}

interface Sent {
  /** Mostly a route's method; any method Node knows for the method property. */
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly payload: string | undefined;
}

const HANG_MS = 10_000;

async function send(app: KeyholdApp, sent: Sent): Promise<LightMyRequestResponse> {
  const options: InjectOptions = { method: sent.method as NonNullable<InjectOptions['method']>, url: sent.url, headers: { ...sent.headers } };
  if (sent.payload !== undefined) options.payload = sent.payload;
  return injectWithin(app, options, HANG_MS);
}

function jsonRequest(method: Method, url: string, token: string, body?: unknown): Sent {
  return body === undefined
    ? { method, url, headers: bearer(token), payload: undefined }
    : { method, url, headers: { ...bearer(token), 'content-type': 'application/json' }, payload: JSON.stringify(body) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

function describe(sent: Sent, res: LightMyRequestResponse): string {
  const payload = sent.payload === undefined ? '' : ` ${sent.payload.slice(0, 300)}${sent.payload.length > 300 ? `… (${sent.payload.length} chars)` : ''}`;
  return `${sent.method} ${sent.url.slice(0, 300)}${payload} -> ${res.statusCode} ${res.body.slice(0, 400)}`;
}

// ---------------------------------------------------------------------------
// The answer invariants
// ---------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What an error must never show: stack frames, source locations, exception text. */
const INTERNALS: readonly RegExp[] = [/\bat [\w$.<>[\] ]+ \(/, /(?:^|\n|\\n)\s+at \S/, /\bat (?:file|node):/, /[/\\](?:src|test|dist|node_modules)[/\\]/, /Error:/, /\.[cm]?[jt]s:\d+/, /file:\/\//];
const DECRYPT_FAILED_MESSAGE = 'decryption failed';

/** What the caller sent (path decoded too): an error may echo it, so a match there is not a leak. */
function sentText(sent: Sent): string {
  let decoded = sent.url;
  try {
    decoded = decodeURIComponent(sent.url);
  } catch {
    // keep it raw
  }
  return [sent.url, decoded, sent.payload ?? ''].join('\n');
}

function assertNoInternals(text: string, sent: Sent, what: string): void {
  for (const pattern of INTERNALS) {
    if (pattern.test(text)) assert.ok(pattern.test(sentText(sent)), `${pattern} shows through: ${what}`);
  }
}

/** An error object as the API shows it: exact keys, registered code, the fixed decrypt message, nothing internal. */
function checkErrorObject(error: unknown, keys: readonly string[], sent: Sent, what: string): ErrorCode {
  assert.ok(isRecord(error), `not an error object: ${what}`);
  assert.deepEqual(Object.keys(error).sort(), [...keys].sort(), `not the error shape: ${what}`);
  const { code, message } = error;
  assert.ok(isErrorCode(code), `an unregistered code ${String(code)}: ${what}`);
  assert.equal(typeof message, 'string', what);
  if (code === 'KH_DECRYPT_FAILED') assert.equal(message, DECRYPT_FAILED_MESSAGE, `a decryption failure that says more than "${DECRYPT_FAILED_MESSAGE}": ${what}`);
  assertNoInternals(String(message), sent, what);
  return code;
}

/** A parsed success answer, or the code of an error answer. */
type Outcome = { readonly ok: true; readonly body: unknown } | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

/** The invariants of every answer of a /v1/keys route. */
function checkAnswer(sent: Sent, res: LightMyRequestResponse, route: RouteSpec | undefined): Outcome {
  const what = describe(sent, res);
  assert.ok(res.statusCode < 500, `a 5xx: ${what}`);
  assert.ok(res.statusCode === 200 || res.statusCode >= 400, `neither 200 nor an error: ${what}`);
  assert.match(String(res.headers['content-type']), /^application\/json\b/, `not JSON: ${what}`);
  let body: unknown;
  assert.doesNotThrow(() => {
    body = JSON.parse(res.body);
  }, `a body that is not JSON: ${what}`);
  if (res.statusCode === 200) {
    if (route?.batch === true) checkBatchAnswer(sent, body, what);
    return { ok: true, body };
  }
  assertNoInternals(res.body, sent, what);
  assert.ok(isRecord(body), `an error body that is not an object: ${what}`);
  assert.deepEqual(Object.keys(body), ['error'], `not the error shape: ${what}`);
  const code = checkErrorObject(body.error, ['code', 'message', 'requestId'], sent, what);
  const error = body.error as { message: string; requestId: unknown };
  assert.equal(res.statusCode, ERROR_CODES[code].status, `the status is not the one of ${code}: ${what}`);
  assert.ok(typeof error.requestId === 'string' && UUID.test(error.requestId), `the request id is not a UUID: ${what}`);
  assert.equal(error.requestId, res.headers['x-request-id'], `the request id differs from x-request-id: ${what}`);
  return { ok: false, code, message: error.message };
}

/** A 200 batch answer: one result per item, each an output or `{ error: { code, message } }` of a 4xx code. */
function checkBatchAnswer(sent: Sent, body: unknown, what: string): void {
  const items = (JSON.parse(sent.payload ?? 'null') as { items: unknown[] }).items;
  assert.ok(isRecord(body) && Array.isArray(body.results), `a batch answer without results: ${what}`);
  assert.deepEqual(Object.keys(body), ['results'], what);
  assert.equal(body.results.length, items.length, `a batch answer with ${body.results.length} results for ${items.length} items: ${what}`);
  for (const result of body.results) {
    assert.ok(isRecord(result), what);
    if (!('error' in result)) continue;
    assert.deepEqual(Object.keys(result), ['error'], `an item result mixing output and error: ${what}`);
    const code = checkErrorObject(result.error, ['code', 'message'], sent, what);
    assert.ok(ERROR_CODES[code].status < 500, `a per-item ${code}: ${what}`);
  }
}

// ---------------------------------------------------------------------------
// The vault under test: one key of each type, with material to feed back
// ---------------------------------------------------------------------------

type Kind = (typeof KEY_TYPES)[KeyType]['kind'];
const kindOf = (type: KeyType): Kind => KEY_TYPES[type].kind;
const isRsa = (type: KeyType): boolean => type.startsWith('rsa-');
/** Types whose generation takes long enough to matter when fuzzing creates and rotates them. */
const SLOW_TYPES: ReadonlySet<KeyType> = new Set(KEY_TYPE_NAMES.filter((t) => t === 'rsa-3072' || t === 'rsa-4096'));
const b64 = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64');

interface PoolCiphertext {
  readonly key: string;
  readonly type: KeyType;
  readonly ciphertext: string;
  readonly version: number;
  readonly plaintext: string;
  readonly associatedData?: string;
  readonly context?: Record<string, string>;
}
interface PoolSignature {
  readonly key: string;
  readonly input: string;
  readonly signature: string;
  readonly options: Readonly<Record<string, string | boolean>>;
}
interface PoolHmac {
  readonly key: string;
  readonly input: string;
  readonly hmac: string;
}
interface PoolEncapsulation {
  readonly key: string;
  readonly ciphertext: string;
  readonly sharedSecret: string;
}
interface PoolPublicKey {
  readonly type: KeyType;
  /** base64 (SPKI DER, or raw for ML-DSA/ML-KEM) and, where there is one, PEM. */
  readonly forms: readonly string[];
}
/** Key material wrapped for import with the vault's wrapping key, and the types it fits. */
interface PoolWrapped {
  readonly ciphertext: string;
  readonly fits: readonly KeyType[];
}

type IntendedState = 'enabled' | 'disabled' | 'pending-deletion';

interface Fixture {
  readonly app: KeyholdApp;
  readonly token: string;
  /** Fixture key name -> its type and the state it is kept in. */
  readonly keys: ReadonlyMap<string, { readonly type: KeyType; readonly state: IntendedState }>;
  readonly names: readonly string[];
  readonly ciphertexts: readonly PoolCiphertext[];
  readonly signatures: readonly PoolSignature[];
  readonly hmacs: readonly PoolHmac[];
  readonly encapsulations: readonly PoolEncapsulation[];
  readonly publicKeys: readonly PoolPublicKey[];
  readonly wrapped: readonly PoolWrapped[];
  request(method: Method, url: string, body?: unknown): Promise<LightMyRequestResponse>;
}

let fixturePromise: Promise<Fixture> | undefined;
const sharedFixture = (): Promise<Fixture> => (fixturePromise ??= buildFixture());

async function buildFixture(): Promise<Fixture> {
  const { app, rootToken } = await fileVault();
  const request = (method: Method, url: string, body?: unknown) => send(app, jsonRequest(method, url, rootToken, body));
  const ok = async (method: Method, url: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await request(method, url, body);
    assert.equal(res.statusCode, 200, `${method} ${url}: ${res.body}`);
    return res.json();
  };
  const keys = new Map<string, { type: KeyType; state: IntendedState }>();
  const ciphertexts: PoolCiphertext[] = [];
  const signatures: PoolSignature[] = [];
  const hmacs: PoolHmac[] = [];
  const encapsulations: PoolEncapsulation[] = [];
  const publicKeys: PoolPublicKey[] = [];
  let n = 0;
  /** Encrypts, signs and MACs with the key's current version, keeping what succeeds. */
  const harvest = async (name: string, type: KeyType): Promise<void> => {
    const kind = kindOf(type);
    for (const withAad of kind === 'aead' ? [false, true] : [false]) {
      const plaintext = b64(`plaintext ${++n} of ${name}`);
      const aad = withAad ? { associatedData: b64(`ad ${n}`), context: { tenant: `t${n}`, purpose: 'fuzz' } } : {};
      const res = await request('POST', `/v1/keys/${name}/encrypt`, { plaintext, ...aad });
      if (res.statusCode === 200) {
        const { ciphertext, version } = res.json<{ ciphertext: string; version: number }>();
        ciphertexts.push({ key: name, type, ciphertext, version, plaintext, ...aad });
      }
    }
    const input = b64(`message ${++n} to ${name}`);
    const digest = b64(createHash('sha256').update(`digest ${n}`).digest());
    for (const [signInput, options] of [
      [input, {}],
      [digest, { prehashed: true, hash: 'sha256', signatureAlgorithm: 'pkcs1v15' }],
      [digest, { prehashed: true, hash: 'sha256' }],
      [input, { signatureFormat: 'p1363', hash: 'sha384' }],
    ] as const) {
      const res = await request('POST', `/v1/keys/${name}/sign`, { input: signInput, ...options });
      if (res.statusCode === 200) signatures.push({ key: name, input: signInput, signature: res.json<{ signature: string }>().signature, options });
    }
    const mac = await request('POST', `/v1/keys/${name}/hmac`, { input });
    if (mac.statusCode === 200) hmacs.push({ key: name, input, hmac: mac.json<{ hmac: string }>().hmac });
    const kem = await request('POST', `/v1/keys/${name}/encapsulate`, {});
    if (kem.statusCode === 200) encapsulations.push({ key: name, ...kem.json<{ ciphertext: string; sharedSecret: string }>() });
    const forms: string[] = [];
    for (const format of ['raw', 'pem']) {
      const pub = await request('GET', `/v1/keys/${name}/public-key?format=${format}`);
      if (pub.statusCode === 200) forms.push(pub.json<{ publicKey: string }>().publicKey);
    }
    if (forms.length > 0) publicKeys.push({ type, forms });
  };

  for (const type of KEY_TYPE_NAMES) {
    const name = `fx-${type}`;
    await ok('POST', '/v1/keys', { name, type });
    keys.set(name, { type, state: 'enabled' });
    await harvest(name, type);
    if (!SLOW_TYPES.has(type)) {
      await ok('POST', `/v1/keys/${name}/rotate`);
      await harvest(name, type);
    }
  }
  // Keys in the other states: disabled, pending deletion, and one whose version 1 is retired and trimmed.
  await ok('POST', '/v1/keys', { name: 'fx-disabled', type: 'aes256-gcm' });
  await harvest('fx-disabled', 'aes256-gcm');
  await ok('POST', '/v1/keys/fx-disabled/disable');
  keys.set('fx-disabled', { type: 'aes256-gcm', state: 'disabled' });
  await ok('POST', '/v1/keys', { name: 'fx-pending', type: 'hmac-sha256' });
  await harvest('fx-pending', 'hmac-sha256');
  await ok('DELETE', '/v1/keys/fx-pending?waitingDays=7');
  keys.set('fx-pending', { type: 'hmac-sha256', state: 'pending-deletion' });
  await ok('POST', '/v1/keys', { name: 'fx-retired', type: 'chacha20-poly1305' });
  await harvest('fx-retired', 'chacha20-poly1305');
  await ok('POST', '/v1/keys/fx-retired/rotate');
  await harvest('fx-retired', 'chacha20-poly1305');
  await ok('POST', '/v1/keys/fx-retired/rotate');
  await ok('PATCH', '/v1/keys/fx-retired', { minDecryptionVersion: 2 });
  await ok('POST', '/v1/keys/fx-retired/trim', { minAvailableVersion: 2 });
  keys.set('fx-retired', { type: 'chacha20-poly1305', state: 'enabled' });

  // Material wrapped for import (RSA-OAEP-SHA256 of an AES key || AES-KWP of the material), as Vault transit's import.
  const wrappingKey = String((await ok('GET', '/v1/wrapping-key')).publicKey);
  const wrap = (material: Uint8Array): string => {
    const ephemeral = randomBytes(32);
    return b64(Buffer.concat([publicEncrypt({ key: wrappingKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, ephemeral), aeskwp(ephemeral).encrypt(material)]));
  };
  const wrapped: PoolWrapped[] = [
    { ciphertext: wrap(randomBytes(32)), fits: ['aes256-gcm', 'aes256-gcm-siv', 'chacha20-poly1305', 'xchacha20-poly1305', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512', 'ed25519', 'x25519', 'ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'] },
    { ciphertext: wrap(randomBytes(16)), fits: ['aes128-gcm', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512'] },
    { ciphertext: wrap(randomBytes(64)), fits: ['hmac-sha256', 'hmac-sha384', 'hmac-sha512', 'ml-kem-768', 'ml-kem-1024'] },
    { ciphertext: wrap(new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'der', type: 'pkcs8' }))), fits: ['ecdsa-p256', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512'] },
  ];

  return { app, token: rootToken, keys, names: [...keys.keys()], ciphertexts, signatures, hmacs, encapsulations, publicKeys, wrapped, request };
}

/** Everything a request could change about the keys (no key material: this text may end up in a failure message). */
async function keysState(app: KeyholdApp): Promise<string> {
  const keys = await app.services.keys.store.all();
  return JSON.stringify(
    keys
      .map((k) => {
        const r = k.record;
        return {
          name: r.name,
          state: r.state,
          deletionDate: r.deletionDate ?? null,
          latestVersion: r.latestVersion,
          minDecryptionVersion: r.minDecryptionVersion,
          minEncryptionVersion: r.minEncryptionVersion,
          minAvailableVersion: r.minAvailableVersion,
          versions: r.versions.map((v) => v.version),
          description: r.description,
          tags: r.tags,
          autoRotatePeriodSeconds: r.autoRotatePeriodSeconds,
          updatedAt: r.updatedAt,
        };
      })
      .sort((a, b) => (a.name < b.name ? -1 : 1)),
  );
}

/** After a successful lifecycle request, puts the fixture keys back in their intended state and version window. */
async function restoreFixture(fx: Fixture): Promise<void> {
  const manager = fx.app.services.keys;
  for (const [name, { state }] of fx.keys) {
    const key = await manager.store.get(name);
    if (key === undefined) continue;
    let r = key.record;
    if (r.state !== state) {
      if (r.state === 'pending-deletion') r = (await manager.cancelDeletion(name)).record;
      if (state === 'pending-deletion') r = (await manager.scheduleDeletion(name, 7)).record;
      else if (r.state !== state) r = (await manager.setEnabled(name, state === 'enabled')).record;
    }
    if (r.minEncryptionVersion !== 0 || r.minDecryptionVersion !== r.minAvailableVersion || r.autoRotatePeriodSeconds !== 0)
      await manager.update(name, { minEncryptionVersion: 0, minDecryptionVersion: r.minAvailableVersion, autoRotatePeriodSeconds: 0 });
  }
}

// ---------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------

/**
 * Values built only when serialised, so a counterexample prints as
 * `Huge(300000 × "A")` rather than the string itself.
 */
class Huge {
  constructor(
    readonly size: number,
    readonly unit: string,
  ) {}
  toJSON(): string {
    return this.unit.repeat(this.size);
  }
  [fc.toStringMethod](): string {
    return `Huge(${this.size} × ${JSON.stringify(this.unit)})`;
  }
}

class Deep {
  constructor(
    readonly depth: number,
    readonly shape: 'array' | 'object',
  ) {}
  toJSON(): unknown {
    let v: unknown = 'x';
    for (let i = 0; i < this.depth; i++) v = this.shape === 'array' ? [v] : { a: v };
    return v;
  }
  [fc.toStringMethod](): string {
    return `Deep(${this.depth}, ${this.shape})`;
  }
}

class Many {
  constructor(
    readonly count: number,
    readonly item: unknown,
  ) {}
  toJSON(): unknown[] {
    return Array.from({ length: this.count }, () => this.item);
  }
  [fc.toStringMethod](): string {
    return `Many(${this.count} × ${fc.stringify(this.item)})`;
  }
}

/** A body sent as is (not JSON-encoded). */
class Raw {
  constructor(readonly text: string) {}
  [fc.toStringMethod](): string {
    return `Raw(${JSON.stringify(this.text.slice(0, 200))})`;
  }
}

const NO_BODY = Symbol('no body');
type Body = unknown;

function materialise(body: Body): string | undefined {
  if (body === NO_BODY) return undefined;
  if (body instanceof Raw) return body.text;
  return JSON.stringify(body);
}

const range = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => String.fromCharCode(from + i));
const VISIBLE_ASCII = range(0x21, 0x7e);
const ALNUM = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'];
const NAME_CHARS = [...ALNUM, '.', '_', '-'];

const validName = (min: number, max: number): fc.Arbitrary<string> =>
  fc.tuple(fc.constantFrom(...ALNUM), fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: min - 1, maxLength: max - 1 })).map(([a, rest]) => a + rest);

const percentByte = fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, '0')}`);
const escapeAll = (s: string, upper: boolean): string =>
  [...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, '0')}`).map((e) => (upper ? e.toUpperCase() : e)).join('');

/** Key names in the path: the fixture's (mostly), absent, long, invalid, percent-escaped. */
function namePathArb(fx: Fixture, route: RouteSpec): fc.Arbitrary<string> {
  // Rotating a key of a slow type costs a second of key generation: leave those to the other routes.
  const fixtureName = fc.constantFrom(...fx.names.filter((n) => !(route.url.endsWith('/rotate') && SLOW_TYPES.has(fx.keys.get(n)!.type))));
  return fc.oneof(
    { weight: 20, arbitrary: fixtureName },
    { weight: 2, arbitrary: validName(1, 40) },
    { weight: 1, arbitrary: validName(100, 300) },
    { weight: 1, arbitrary: fc.constantFrom(127, 128, 129, 255, 256, 257).map((n) => `k${'0'.repeat(n - 1)}`) },
    { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...VISIBLE_ASCII.filter((c) => !'#?%/'.includes(c))), minLength: 1, maxLength: 30 }) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '.', '..', '-a', '_a', '.a', 'a%20b', '%C3%A9t%C3%A9', '%00', 'a%00', '%ZZ', '%', 'a%2', '%2e%2e', '%2E', 'a%2Fb', '%252F', 'a;b', 'a:b', 'a~b', 'a+b', '%E2%80%AE', '%FF', '%C0%AF', 'a%0Ab', '..%2F..%2Fetc', 'fx-aes256-gcm%2Fencrypt', '%66x-aes256-gcm', 'FX-AES256-GCM', 'fx-aes256-gcm.', ' fx-aes256-gcm',
      ),
    },
    // Escaping characters of a real name must reach the same key.
    { weight: 2, arbitrary: fc.tuple(fixtureName, fc.boolean()).map(([name, upper]) => escapeAll(name, upper)) },
    { weight: 1, arbitrary: fc.tuple(fixtureName, fc.nat(), percentByte).map(([name, at, escape]) => name.slice(0, at % (name.length + 1)) + escape + name.slice(at % (name.length + 1))) },
  );
}

const QUERY_VALUES = ['1', '2', '100', '1000', '1001', '0', '-1', '01', '1e3', '999999999', '9999999999', 'pem', 'jwk', 'raw', 'PEM', 'der', '7', '30', '31', '6', 'fx-aes256-gcm', '', '%00', '%ZZ', '[]', 'true'];
const queryValue = fc.oneof(fc.constantFrom(...QUERY_VALUES), fc.string({ unit: fc.oneof(fc.constantFrom(...VISIBLE_ASCII.filter((c) => !'#&='.includes(c))), percentByte), maxLength: 20 }));

function queryArb(route: RouteSpec): fc.Arbitrary<string> {
  const key = fc.oneof({ weight: 4, arbitrary: route.query.length > 0 ? fc.constantFrom(...route.query) : fc.constantFrom(...QUERY_KEYS) }, { weight: 1, arbitrary: fc.constantFrom(...QUERY_KEYS, 'x', '__proto__', 'constructor', 'limit[]', '') });
  return fc.oneof(
    { weight: 5, arbitrary: fc.constant('') },
    { weight: 4, arbitrary: fc.array(fc.tuple(key, queryValue), { minLength: 1, maxLength: 3 }).map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`) },
    { weight: 1, arbitrary: fc.string({ unit: fc.oneof(fc.constantFrom(...VISIBLE_ASCII.filter((c) => c !== '#')), percentByte), maxLength: 40 }).map((q) => `?${q}`) },
  );
}

const BASE64_ALPHABET = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'];
const b64Arb = fc.uint8Array({ maxLength: 96 }).map(b64);

/** Strings that are not strict standard base64. */
const invalidBase64 = fc.oneof(
  fc.constantFrom('AAA', 'AA=', 'A===', '=', '====', 'AAAA====', 'AA==AA==', 'AB-_', 'AB+/\n', ' AAAA', 'AAAA ', 'aGVsbG8', 'aGVsbG8=\n', '@@@@', 'AAAA=', 'AAA==', 'A', '\u0000AAA', 'QUJD\u00e9'),
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 48 }), fc.nat(), fc.constantFrom(' ', '-', '_', '.', '!', '*', '\n', '\t', '\u00e9', '=', '%')).map(([bytes, at, c]) => {
    const s = b64(bytes);
    const i = at % (s.length + 1);
    return s.slice(0, i) + c + s.slice(i);
  }).filter((s) => !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)),
  fc.uint8Array({ minLength: 1, maxLength: 48 }).map((bytes) => Buffer.from(bytes).toString('base64url')).filter((s) => /[-_]/.test(s) || s.length % 4 !== 0),
);

/** `keyhold:v<n>:<base64>` gone wrong, and real outputs mangled. */
function malformedVersioned(real: readonly string[]): fc.Arbitrary<string> {
  const version = fc.constantFrom('0', '00', '01', '-1', '1.0', '1e3', '999999999', '1000000000', '99999999999999999999', '', ' 1', 'a', '\u0661', '1 ');
  const payload = fc.oneof(b64Arb, invalidBase64, fc.constantFrom('', '=', 'AAAA==', 'AA'));
  const mangle = fc.tuple(fc.constantFrom(...real), fc.nat(), fc.constantFrom(...BASE64_ALPHABET, ':', '=', 'v', '\n')).map(([s, at, c]) => {
    const i = at % s.length;
    return s.slice(0, i) + c + s.slice(i + 1);
  });
  return fc.oneof(
    fc.tuple(version, payload).map(([v, p]) => `keyhold:v${v}:${p}`),
    fc.tuple(fc.integer({ min: 1, max: 5 }), fc.uint8Array({ minLength: 1, maxLength: 600 })).map(([v, bytes]) => `keyhold:v${v}:${b64(bytes)}`),
    fc.constantFrom('keyhold:v1:', 'keyhold:v1', 'keyhold:', 'keyhold:v:AAAA', 'KEYHOLD:v1:AAAA', 'keyhold:V1:AAAA', 'vault:v1:AAAA', 'keyhold:v1:AAAA:AAAA', 'keyhold:v1:AAAA\n', ' keyhold:v1:AAAA', 'keyhold:v1:AA==AA==', 'keyhold:v1:AAA'),
    mangle,
    fc.tuple(fc.constantFrom(...real), fc.nat()).map(([s, cut]) => s.slice(0, cut % s.length)),
    fc.tuple(fc.constantFrom(...real), fc.integer({ min: 1, max: 20 })).map(([s, v]) => s.replace(/^keyhold:v\d+:/, `keyhold:v${v}:`)),
  );
}

const randomVersion = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 1.5, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 2 ** 53 + 2, 1e300, -1e300, '1', '', null, true, [1], { v: 1 }),
);

const shortString = fc.string({ maxLength: 20 });
const randomContext = fc.oneof(
  fc.dictionary(shortString, shortString, { maxKeys: 6 }),
  fc.dictionary(shortString, fc.jsonValue({ maxDepth: 1 }), { minKeys: 1, maxKeys: 4 }),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.constant('v'), { minKeys: 65, maxKeys: 70 }),
  fc.constantFrom<unknown>([], 'ctx', 1, null, true, { '': '' }, { a: null }, { a: 1 }, { a: ['b'] }, { a: {} }),
  fc.constantFrom(257, 4097).map((n) => (n === 257 ? { [`k${'x'.repeat(n - 1)}`]: 'v' } : { k: new Huge(n, 'v') })),
);

/** Anything but what a field wants. */
function garbage(fx: Fixture): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    { weight: 2, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 2 ** 53, 1e308, -0, '', ' ', '0', '1', 'true', 'null', [], {}, [[]], { a: {} }, ['AAAA']) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 2, arbitrary: invalidBase64 },
    { weight: 2, arbitrary: malformedVersioned([...fx.ciphertexts.map((c) => c.ciphertext), ...fx.signatures.map((s) => s.signature)]) },
    { weight: 2, arbitrary: randomVersion },
    { weight: 2, arbitrary: randomContext },
    { weight: 1, arbitrary: fc.record({ size: fc.integer({ min: 60_000, max: 400_000 }), unit: fc.constantFrom('A', 'AAAA', 'é', '\u0000', '=', '/', '9') }).map(({ size, unit }) => new Huge(size, unit)) },
    { weight: 1, arbitrary: fc.record({ depth: fc.integer({ min: 10, max: 3000 }), shape: fc.constantFrom('array' as const, 'object' as const) }).map(({ depth, shape }) => new Deep(depth, shape)) },
  );
}

const CHEAP_TYPES = KEY_TYPE_NAMES.filter((t) => !SLOW_TYPES.has(t));

/** Values a field accepts (by schema at least), often taken from real outputs. */
function goodValue(field: Field, fx: Fixture, route: RouteSpec | undefined): fc.Arbitrary<unknown> {
  const digest = fc.constantFrom(32, 48, 64).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })).map(b64);
  switch (field) {
    case 'name':
      return fc.oneof(validName(1, 30).map((n) => `fz${n}`), fc.constantFrom(...fx.names));
    case 'type':
      return fc.constantFrom(...CHEAP_TYPES);
    case 'description':
      return fc.string({ maxLength: 60 });
    case 'tags':
      return fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 3 });
    case 'exportable':
    case 'legacy':
    case 'sealWrap':
    case 'prehashed':
      return fc.boolean();
    case 'autoRotatePeriodSeconds':
      return fc.constantFrom(0, 1, 3599, 3600, 86_400, 315_360_000, 315_360_001);
    case 'minDecryptionVersion':
    case 'minEncryptionVersion':
    case 'minAvailableVersion':
      return fc.integer({ min: 0, max: 5 });
    case 'plaintext':
      // encrypt reads base64, datakey a boolean
      return route === undefined ? fc.oneof(b64Arb, fc.boolean()) : route.op === 'datakey' ? fc.boolean() : b64Arb;
    case 'associatedData':
      return b64Arb;
    case 'context':
      return fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }), fc.constantFrom(...fx.ciphertexts.flatMap((c) => (c.context ? [c.context] : []))));
    case 'version':
      return fc.integer({ min: 1, max: 4 });
    case 'ciphertext':
      // decrypt/rewrap read keyhold ciphertexts, decapsulate KEM encapsulations, import wrapped material
      if (route?.op === 'decapsulate') return fc.constantFrom(...fx.encapsulations.map((c) => c.ciphertext));
      if (route?.url.includes('/import')) return fc.constantFrom(...fx.wrapped.map((w) => w.ciphertext));
      return fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...fx.ciphertexts.map((c) => c.ciphertext)) },
        { weight: 1, arbitrary: fc.constantFrom(...fx.encapsulations.map((c) => c.ciphertext)) },
        { weight: 1, arbitrary: fc.constantFrom(...fx.wrapped.map((w) => w.ciphertext)) },
      );
    case 'publicKey':
      return fc.constantFrom(...fx.publicKeys.map((p) => p.forms[0]!));
    case 'peerPublicKey': {
      const x25519 = fx.publicKeys.filter((p) => p.type === 'x25519').flatMap((p) => p.forms);
      const raw = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(b64);
      return x25519.length > 0 ? fc.oneof(fc.constantFrom(...x25519), raw, fc.constantFrom(...fx.publicKeys.flatMap((p) => p.forms))) : raw;
    }
    case 'output':
      return fc.constantFrom('shared-secret', 'aes256-key');
    case 'salt':
    case 'info':
      return b64Arb;
    case 'signature':
      return fc.constantFrom(...fx.signatures.map((s) => s.signature));
    case 'hmac':
      return fc.constantFrom(...fx.hmacs.map((h) => h.hmac));
    case 'input':
      return fc.oneof(b64Arb, digest, fc.constantFrom(...fx.signatures.map((s) => s.input)));
    case 'bits':
      return fc.constantFrom(128, 256, 512);
    case 'hash':
      return fc.constantFrom('sha256', 'sha384', 'sha512');
    case 'signatureAlgorithm':
      return fc.constantFrom('pss', 'pkcs1v15');
    case 'signatureFormat':
      return fc.constantFrom('der', 'p1363');
  }
}

/** The main field of each route is nearly always present; the others half the time. */
const MAIN_FIELDS: ReadonlySet<Field> = new Set(['name', 'plaintext', 'ciphertext', 'input', 'signature', 'hmac', 'minAvailableVersion', 'peerPublicKey']);

/** An object of (some of) `fields`; with `garbageWeight` 0, schema-valid values only and no stray field. */
function objectOf(fields: readonly Field[], fx: Fixture, garbageWeight: number, route?: RouteSpec): fc.Arbitrary<Record<string, unknown>> {
  const junk = garbage(fx);
  const entries = fields.map((f) =>
    // fc.option builds nil with probability 1/freq.
    fc.option(garbageWeight === 0 ? goodValue(f, fx, route) : fc.oneof({ weight: 6, arbitrary: goodValue(f, fx, route) }, { weight: garbageWeight, arbitrary: junk }), { nil: undefined, freq: MAIN_FIELDS.has(f) ? 10 : 2 }).map((v) => [f, v] as const),
  );
  const stray = fc.tuple(fc.oneof(fc.constantFrom<string>(...FIELDS, 'items', 'key', 'extra', '__proto__', 'constructor'), fc.string({ maxLength: 10 })), fc.jsonValue({ maxDepth: 1 }));
  const extra = garbageWeight === 0 ? fc.constant(undefined) : fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: stray });
  return fc.tuple(fc.tuple(...entries), extra).map(([pairs, more]) => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of pairs) if (v !== undefined) o[k] = v;
    if (more !== undefined) Object.defineProperty(o, more[0], { value: more[1], enumerable: true, writable: true, configurable: true });
    return o;
  });
}

/** Items copied from real outputs, so some requests succeed and reach the handlers' later checks. */
/** Items copied from real outputs (of key `of` only, if given), so some requests succeed and reach the handlers' later checks. */
function realItem(route: RouteSpec, fx: Fixture, of?: string): fc.Arbitrary<Record<string, unknown>> | undefined {
  const op = route.op;
  const mine = <T extends { key: string }>(pool: readonly T[]): T[] => pool.filter((x) => of === undefined || x.key === of);
  const from = <T>(pool: readonly T[], f: (x: T) => Record<string, unknown>) => (pool.length === 0 ? undefined : fc.constantFrom(...pool).map(f));
  if (route.url === '/v1/keys/:name/import') return fc.constantFrom(...fx.wrapped).chain((w) => fc.constantFrom(...w.fits).map((type) => ({ type, ciphertext: w.ciphertext })));
  if (op === 'decrypt' || op === 'rewrap')
    return from(mine(fx.ciphertexts), (c) => ({ ciphertext: c.ciphertext, ...(c.associatedData !== undefined ? { associatedData: c.associatedData } : {}), ...(c.context !== undefined ? { context: c.context } : {}) }));
  if (op === 'verify') return from(mine(fx.signatures), (x) => ({ input: x.input, signature: x.signature, ...x.options }));
  if (op === 'verify-hmac') return from(mine(fx.hmacs), (h) => ({ input: h.input, hmac: h.hmac }));
  if (op === 'decapsulate') return from(mine(fx.encapsulations), (e) => ({ ciphertext: e.ciphertext }));
  return undefined;
}

/** One item (or single-route body): schema-valid, nearly valid, or copied from real outputs. */
function itemArb(route: RouteSpec, fx: Fixture): fc.Arbitrary<Record<string, unknown>> {
  const near = fc.oneof({ weight: 2, arbitrary: objectOf(route.fields, fx, 0, route) }, { weight: 3, arbitrary: objectOf(route.fields, fx, 1, route) });
  const real = realItem(route, fx);
  return real === undefined ? near : fc.oneof({ weight: 2, arbitrary: near }, { weight: 1, arbitrary: real });
}

function bodyArb(route: RouteSpec, fx: Fixture): fc.Arbitrary<Body> {
  const junk = garbage(fx);
  const invalidJson = fc.oneof(
    fc.constantFrom('{', '[', '{"a":}', "{'a':1}", 'NaN', '{"a":1,}', '\u0000', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '', ' ', 'null', '"x"', '1', '[]'),
    fc.json({ maxDepth: 2 }).map((s) => `${s}}`),
  );
  const generic = [
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<unknown> },
    { weight: 1, arbitrary: objectOf(FIELDS, fx, 2) as fc.Arbitrary<unknown> },
    { weight: 1, arbitrary: junk },
    { weight: 1, arbitrary: invalidJson.map((t) => new Raw(t)) as fc.Arbitrary<unknown> },
    { weight: 1, arbitrary: fc.constant<unknown>(NO_BODY) },
  ];
  if (!route.batch) {
    const own = route.fields.length === 0 ? fc.constantFrom<unknown>(NO_BODY, {}, NO_BODY) : itemArb(route, fx);
    return fc.oneof({ weight: 18, arbitrary: own as fc.Arbitrary<unknown> }, ...generic);
  }
  const item = itemArb(route, fx);
  const validItem = fc.oneof({ weight: 2, arbitrary: objectOf(route.fields, fx, 0, route) }, { weight: 1, arbitrary: realItem(route, fx) ?? objectOf(route.fields, fx, 0, route) });
  const items = fc.oneof(
    { weight: 4, arbitrary: fc.array(item, { minLength: 1, maxLength: 6 }) as fc.Arbitrary<unknown> },
    { weight: 8, arbitrary: fc.array(validItem, { minLength: 1, maxLength: 6 }) as fc.Arbitrary<unknown> },
    { weight: 1, arbitrary: fc.constant<unknown>([]) },
    { weight: 1, arbitrary: fc.tuple(item, fc.constantFrom(MAX_BATCH_ITEMS + 1, MAX_BATCH_ITEMS + 2, 5000)).map(([i, n]) => new Many(n, i)) as fc.Arbitrary<unknown> },
    { weight: 1, arbitrary: fc.array(junk, { minLength: 1, maxLength: 3 }) },
    { weight: 1, arbitrary: junk },
  );
  return fc.oneof(
    { weight: 18, arbitrary: items.map((i) => ({ items: i })) as fc.Arbitrary<unknown> },
    { weight: 1, arbitrary: fc.tuple(items, fc.constantFrom('item', 'extra', 'results', ...FIELDS), fc.jsonValue({ maxDepth: 1 })).map(([i, k, v]) => ({ items: i, [k]: v })) as fc.Arbitrary<unknown> },
    { weight: 2, arbitrary: item as fc.Arbitrary<unknown> },
    ...generic,
  );
}

const contentTypeArb = fc.oneof(
  { weight: 20, arbitrary: fc.constant<string | undefined>('application/json') },
  { weight: 1, arbitrary: fc.constantFrom<string | undefined>('application/json; charset=utf-8', undefined, 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream') },
);

type AuthChoice = 'token' | 'none' | 'wrong';
const authArb = fc.oneof({ weight: 20, arbitrary: fc.constant<AuthChoice>('token') }, { weight: 1, arbitrary: fc.constantFrom<AuthChoice>('none', 'wrong') });

interface FuzzCase {
  readonly route: RouteSpec;
  readonly name: string;
  readonly query: string;
  readonly body: Body;
  readonly contentType: string | undefined;
  readonly auth: AuthChoice;
}

function fuzzCaseArb(fx: Fixture): fc.Arbitrary<FuzzCase> {
  return fc.constantFrom(...ROUTES).chain((route) =>
    fc.record({
      route: fc.constant(route),
      name: route.url.includes(':name') ? namePathArb(fx, route) : fc.constant(''),
      query: queryArb(route),
      body: bodyArb(route, fx),
      contentType: contentTypeArb,
      auth: authArb,
    }),
  );
}

/** One well-formed request per route, run before the random ones, so every route is seen answering past validation. */
function routeExamples(fx: Fixture): FuzzCase[] {
  const aadOf = (c: PoolCiphertext) => ({ ...(c.associatedData !== undefined ? { associatedData: c.associatedData } : {}), ...(c.context !== undefined ? { context: c.context } : {}) });
  const ct = fx.ciphertexts.find((c) => c.key === 'fx-aes256-gcm')!;
  const sig = fx.signatures.find((x) => x.key === 'fx-ed25519')!;
  const mac = fx.hmacs.find((x) => x.key === 'fx-hmac-sha256')!;
  const kem = fx.encapsulations[0]!;
  const x25519 = fx.publicKeys.find((p) => p.type === 'x25519')!;
  const items: Record<Op, { name: string; item: Record<string, unknown> }> = {
    encrypt: { name: 'fx-aes256-gcm', item: { plaintext: 'AAAA' } },
    decrypt: { name: ct.key, item: { ciphertext: ct.ciphertext, ...aadOf(ct) } },
    rewrap: { name: ct.key, item: { ciphertext: ct.ciphertext, ...aadOf(ct) } },
    datakey: { name: 'fx-aes256-gcm', item: { bits: 256 } },
    sign: { name: 'fx-ed25519', item: { input: 'AAAA' } },
    verify: { name: sig.key, item: { input: sig.input, signature: sig.signature, ...sig.options } },
    hmac: { name: 'fx-hmac-sha256', item: { input: 'AAAA' } },
    'verify-hmac': { name: mac.key, item: { input: mac.input, hmac: mac.hmac } },
    derive: { name: 'fx-x25519', item: { peerPublicKey: x25519.forms[0]!, output: 'aes256-key' } },
    encapsulate: { name: kem.key, item: {} },
    decapsulate: { name: kem.key, item: { ciphertext: kem.ciphertext } },
  };
  const lifecycleExamples: Record<string, { name: string; query?: string; body: Body }> = {
    'POST /v1/keys': { name: '', body: { name: 'fz-example', type: 'aes256-gcm' } },
    'GET /v1/keys': { name: '', query: '?limit=5', body: NO_BODY },
    'GET /v1/keys/:name': { name: 'fx-aes256-gcm', body: NO_BODY },
    'PATCH /v1/keys/:name': { name: 'fx-aes256-gcm', body: { description: 'example' } },
    'POST /v1/keys/:name/rotate': { name: 'fx-hmac-sha256', body: NO_BODY },
    'POST /v1/keys/:name/trim': { name: 'fx-aes256-gcm', body: { minAvailableVersion: 1 } },
    'POST /v1/keys/:name/enable': { name: 'fx-aes256-gcm', body: NO_BODY },
    'POST /v1/keys/:name/disable': { name: 'fx-aes256-gcm', body: NO_BODY },
    'DELETE /v1/keys/:name': { name: 'fx-aes128-gcm', query: '?waitingDays=7', body: NO_BODY },
    'POST /v1/keys/:name/cancel-deletion': { name: 'fx-pending', body: NO_BODY },
    'GET /v1/keys/:name/public-key': { name: 'fx-ed25519', query: '?format=jwk', body: NO_BODY },
    'POST /v1/keys/:name/import': { name: 'fz-imported', body: { ciphertext: fx.wrapped[0]!.ciphertext } },
    'POST /v1/keys/:name/import-version': { name: 'fx-aes256-gcm', body: { ciphertext: fx.wrapped[0]!.ciphertext } },
    'GET /v1/keys/:name/export': { name: 'fx-aes256-gcm', body: NO_BODY },
  };
  return ROUTES.map((route) => {
    const base = { route, query: '', contentType: 'application/json', auth: 'token' as const };
    if (route.op !== undefined) {
      const { name, item } = items[route.op];
      return { ...base, name, body: route.batch ? { items: [item, item] } : item };
    }
    const example = lifecycleExamples[`${route.method} ${route.url}`];
    assert.ok(example !== undefined, `no example request for ${route.method} ${route.url}`);
    return { ...base, name: example.name, query: example.query ?? '', body: example.body };
  });
}

function toSent(c: FuzzCase, token: string): Sent {
  const headers: Record<string, string> = {};
  if (c.auth === 'token') Object.assign(headers, bearer(token));
  if (c.auth === 'wrong') Object.assign(headers, bearer(`${token.slice(0, -2)}xx`));
  const payload = materialise(c.body);
  if (c.contentType !== undefined && payload !== undefined) headers['content-type'] = c.contentType;
  return { method: c.route.method, url: c.route.url.replace(':name', c.name) + c.query, headers, payload };
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

test('the route table lists every /v1/keys route of the app, and nothing else', async () => {
  const fx = await sharedFixture();
  const actual = fx.app.routes.filter((r) => r.url === '/v1/keys' || r.url.startsWith('/v1/keys/')).map((r) => `${r.method} ${r.url}`);
  const listed = ROUTES.map((r) => `${r.method} ${r.url}`);
  assert.deepEqual(
    actual.filter((r) => !listed.includes(r)),
    [],
    'routes missing from ROUTES in this file: add them (fields, query, op) so they are fuzzed',
  );
  assert.deepEqual(
    listed.filter((r) => !actual.includes(r)),
    [],
    'ROUTES lists routes the app does not have',
  );
  assert.equal(new Set(listed).size, listed.length);
  for (const r of fx.app.routes.filter((x) => x.url.startsWith('/v1/keys'))) assert.equal(r.auth, 'token', `${r.method} ${r.url}`);
});

test('any request to a /v1/keys route: no 5xx, the one error shape with registered codes, batch results per item, and no key changes unless it succeeded', async () => {
  const fx = await sharedFixture();
  let state = await keysState(fx.app);
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(fuzzCaseArb(fx), async (c) => {
      const sent = toSent(c, fx.token);
      const res = await send(fx.app, sent);
      const outcome = checkAnswer(sent, res, c.route);
      const tag = `${c.route.method} ${c.route.url} ${outcome.ok ? 'ok' : outcome.code}`;
      seen.set(tag, (seen.get(tag) ?? 0) + 1);
      if (c.auth !== 'token') assert.ok(!outcome.ok && (outcome.code === 'KH_AUTH_TOKEN_MISSING' || outcome.code === 'KH_AUTH_TOKEN_INVALID' || outcome.code === 'KH_NOT_FOUND' || outcome.code === 'KH_BAD_REQUEST'), describe(sent, res));
      const now = await keysState(fx.app);
      if (outcome.ok && c.route.mutates) {
        await restoreFixture(fx);
        state = await keysState(fx.app);
      } else {
        assert.equal(now, state, `the keys changed: ${describe(sent, res)}`);
      }
    }),
    { numRuns: 800, examples: routeExamples(fx).map((c): [FuzzCase] => [c]) },
  );
  // KH_FUZZ_STATS=1 prints how often each route answered what, to tune the arbitraries.
  if (process.env.KH_FUZZ_STATS) console.log([...seen].sort().map(([k, v]) => `${v}\t${k}`).join('\n'));
  // The fuzzer got past validation into the handlers, on every route.
  for (const route of ROUTES) {
    const tags = [...seen.keys()].filter((t) => t.startsWith(`${route.method} ${route.url} `));
    assert.ok(tags.some((t) => !t.endsWith(' KH_BAD_REQUEST') && !t.endsWith(' KH_NOT_FOUND')), `${route.method} ${route.url} was never answered past validation: ${tags.join(', ')}`);
  }
});

test('a method a /v1/keys path does not have gets 404 KH_NOT_FOUND; HEAD answers as GET does, without a body; neither changes a key', async () => {
  const fx = await sharedFixture();
  const state = await keysState(fx.app);
  const methodsOf = (url: string): Set<string> => new Set(ROUTES.filter((r) => r.url === url).map((r) => r.method));
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...ROUTES).chain((route) =>
        fc.record({
          route: fc.constant(route),
          name: route.url.includes(':name') ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...fx.names) }, { weight: 1, arbitrary: namePathArb(fx, route) }) : fc.constant(''),
          method: fc.constantFrom(...METHODS.filter((m) => m !== 'CONNECT')),
          body: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
        }),
      ),
      async ({ route, name, method, body }) => {
        const url = route.url.replace(':name', name);
        // The route's own methods are the other properties' business.
        if (methodsOf(route.url).has(method)) return;
        const sent: Sent = { method, url, headers: { ...bearer(fx.token), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, payload: body === undefined ? undefined : JSON.stringify(body) };
        const res = await send(fx.app, sent);
        const what = describe(sent, res);
        assert.ok(res.statusCode < 500, what);
        if (method === 'HEAD') {
          const asGet = await send(fx.app, { method: 'GET', url, headers: bearer(fx.token), payload: undefined });
          assert.equal(res.statusCode, asGet.statusCode, what);
          assert.equal(res.body, '', what);
        } else {
          // KH_BAD_REQUEST: a path the router refuses before it looks for a route (bad escapes, over-long parameters).
          const outcome = checkAnswer(sent, res, undefined);
          assert.ok(!outcome.ok && (outcome.code === 'KH_NOT_FOUND' || outcome.code === 'KH_BAD_REQUEST'), what);
        }
        assert.equal(await keysState(fx.app), state, `the keys changed: ${what}`);
      },
    ),
    { numRuns: 200 },
  );
});

/** Ciphertexts of the pool whose key would decrypt them (enabled, version in range). */
async function decryptable(fx: Fixture): Promise<PoolCiphertext[]> {
  const out: PoolCiphertext[] = [];
  for (const c of fx.ciphertexts) {
    const key = await fx.app.services.keys.store.get(c.key);
    const r = key?.record;
    if (r !== undefined && r.state === 'enabled' && c.version >= Math.max(r.minDecryptionVersion, r.minAvailableVersion) && c.version <= r.latestVersion) out.push(c);
  }
  return out;
}

test('every corruption of a valid ciphertext, or a change of its associated data or context, fails decrypt and rewrap with exactly "decryption failed"', async () => {
  const fx = await sharedFixture();
  const valid = await decryptable(fx);
  assert.ok(valid.length >= 10, 'the pool has decryptable ciphertexts');
  type Corruption =
    | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
    | { readonly kind: 'truncate'; readonly length: number }
    | { readonly kind: 'extend'; readonly bytes: Uint8Array }
    | { readonly kind: 'replace'; readonly bytes: Uint8Array }
    | { readonly kind: 'ad'; readonly ad: Uint8Array | undefined }
    | { readonly kind: 'context'; readonly context: Record<string, string> | undefined }
    | { readonly kind: 'other-key'; readonly pick: number };
  const corruption: fc.Arbitrary<Corruption> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), length: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('replace' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('ad' as const), ad: fc.option(fc.uint8Array({ minLength: 1, maxLength: 16 }), { nil: undefined }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('context' as const), context: fc.option(fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { minKeys: 1, maxKeys: 3 }), { nil: undefined }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('other-key' as const), pick: fc.nat() }) },
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...valid), corruption, fc.constantFrom('decrypt', 'rewrap'), fc.boolean(), async (c, k, op, batch) => {
      const [, version, payload] = /^keyhold:v(\d+):(.*)$/.exec(c.ciphertext)!;
      const bytes = Buffer.from(payload!, 'base64');
      let target = c.key;
      let item: Record<string, unknown> = { ciphertext: c.ciphertext, ...(c.associatedData !== undefined ? { associatedData: c.associatedData } : {}), ...(c.context !== undefined ? { context: c.context } : {}) };
      const withBytes = (b: Uint8Array) => ({ ...item, ciphertext: `keyhold:v${version}:${b64(b)}` });
      switch (k.kind) {
        case 'flip': {
          const copy = Buffer.from(bytes);
          const at = k.at % copy.length;
          copy[at] = copy[at]! ^ (1 << k.bit);
          item = withBytes(copy);
          break;
        }
        case 'truncate':
          item = withBytes(bytes.subarray(0, 1 + (k.length % Math.max(1, bytes.length - 1))));
          break;
        case 'extend':
          item = withBytes(Buffer.concat([bytes, k.bytes]));
          break;
        case 'replace':
          item = withBytes(k.bytes);
          break;
        case 'ad': {
          // RSA-OAEP takes no associated data (a different refusal), so only AEAD keys get this one.
          if (isRsa(c.type)) return;
          const { associatedData: _ad, ...rest } = item;
          if (k.ad !== undefined && b64(k.ad) === c.associatedData) return;
          if (k.ad === undefined && c.associatedData === undefined) return;
          item = k.ad === undefined ? rest : { ...rest, associatedData: b64(k.ad) };
          break;
        }
        case 'context': {
          if (isRsa(c.type)) return;
          const { context: _ctx, ...rest } = item;
          if (JSON.stringify(k.context ?? {}) === JSON.stringify(c.context ?? {})) return;
          if (k.context !== undefined && c.context !== undefined && Object.keys(k.context).length === 0 && Object.keys(c.context).length === 0) return;
          item = k.context === undefined ? rest : { ...rest, context: k.context };
          break;
        }
        case 'other-key': {
          // Another key that accepts this version and the same kind of input, so only the key differs.
          const others = valid.filter((o) => o.key !== c.key && isRsa(o.type) === isRsa(c.type) && o.version === c.version);
          if (others.length === 0) return;
          target = others[k.pick % others.length]!.key;
          break;
        }
      }
      const url = `/v1/keys/${target}/${op}${batch ? '/batch' : ''}`;
      const sent = jsonRequest('POST', url, fx.token, batch ? { items: [item] } : item);
      const res = await send(fx.app, sent);
      const outcome = checkAnswer(sent, res, batch ? ROUTES.find((r) => r.url === `/v1/keys/:name/${op}/batch`) : undefined);
      const failure = batch && outcome.ok ? (outcome.body as { results: { error?: { code: string; message: string } }[] }).results[0]!.error : outcome.ok ? undefined : outcome;
      assert.deepEqual(failure && { code: failure.code, message: failure.message }, { code: 'KH_DECRYPT_FAILED', message: DECRYPT_FAILED_MESSAGE }, describe(sent, res));
    }),
    { numRuns: 250 },
  );
});

test('batches answer one result per item in item order, each what the single-item route answers for it', async () => {
  const fx = await sharedFixture();
  const enabledNames = fx.names.filter((n) => fx.keys.get(n)!.state === 'enabled');
  const opRoutes = ROUTES.filter((r) => r.op !== undefined && r.batch);
  // The keys each operation works with, so most items get past the key type to the per-item checks.
  const x25519 = fx.publicKeys.find((p) => p.type === 'x25519')!.forms[0]!;
  const probe: Partial<Record<Op, Record<string, unknown>>> = { encrypt: { plaintext: 'AAAA' }, datakey: {}, sign: { input: 'AAAA' }, hmac: { input: 'AAAA' }, derive: { peerPublicKey: x25519 }, encapsulate: {} };
  const capable = new Map<Op, string[]>();
  for (const route of opRoutes) {
    const op = route.op!;
    const names: string[] = [];
    for (const name of enabledNames) {
      const item = probe[op];
      if (item === undefined ? realItem(route, fx, name) !== undefined : (await fx.request('POST', `/v1/keys/${name}/${op}`, item)).statusCode === 200) names.push(name);
    }
    assert.ok(names.length > 0, `no fixture key can ${op}`);
    capable.set(op, names);
  }
  /** The parts of a single answer that must equal the batch's per-item result. */
  const comparable = (op: Op, outcome: Outcome): unknown => {
    if (!outcome.ok) return { error: outcome.code };
    const body = outcome.body as Record<string, unknown>;
    // Randomised outputs (nonces, signature randomness, fresh data keys): compare the deterministic fields.
    if (op === 'encrypt' || op === 'rewrap' || op === 'datakey' || op === 'sign' || op === 'encapsulate') return { version: body.version };
    return body;
  };
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...opRoutes).chain((route) =>
        fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...capable.get(route.op!)!) }, { weight: 1, arbitrary: fc.constantFrom(...enabledNames) }).chain((name) => {
          const own = realItem(route, fx, name);
          const item = fc.oneof(
            { weight: 1, arbitrary: itemArb(route, fx) },
            { weight: 2, arbitrary: objectOf(route.fields, fx, 0, route) },
            ...(own === undefined ? [] : [{ weight: 3, arbitrary: own }]),
          );
          return fc.record({ route: fc.constant(route), name: fc.constant(name), items: fc.array(item, { minLength: 1, maxLength: 8 }) });
        }),
      ),
      async ({ route, name, items }) => {
        const op = route.op!;
        const sent = jsonRequest('POST', route.url.replace(':name', name), fx.token, { items });
        const res = await send(fx.app, sent);
        const outcome = checkAnswer(sent, res, route);
        if (!outcome.ok) {
          // Only a request-level problem fails a whole batch: a schema-invalid item (or a key-level refusal),
          // or a body nested past the depth limit (a batch wraps each item two levels deeper than the
          // single-item route, so an item that passes alone may make the batch too deep).
          assert.ok(outcome.code === 'KH_BAD_REQUEST' || outcome.code === 'KH_PAYLOAD_TOO_LARGE' || outcome.code === 'KH_BODY_TOO_DEEP', describe(sent, res));
          return;
        }
        const results = (outcome.body as { results: Record<string, unknown>[] }).results;
        for (const [i, item] of items.entries()) {
          const single = jsonRequest('POST', `/v1/keys/${name}/${op}`, fx.token, item);
          const singleRes = await send(fx.app, single);
          const expected = comparable(op, checkAnswer(single, singleRes, undefined));
          const result = results[i]!;
          const actual = 'error' in result ? { error: (result.error as { code: string }).code } : comparable(op, { ok: true, body: result });
          assert.deepEqual(actual, expected, `item ${i} of ${describe(sent, res)}\nalone: ${describe(single, singleRes)}`);
          if ('error' in result) continue;
          // The randomised outputs belong to their own item: they decrypt or verify against it.
          if (op === 'encrypt' || op === 'rewrap') {
            const back = await send(fx.app, jsonRequest('POST', `/v1/keys/${name}/decrypt`, fx.token, { ciphertext: result.ciphertext, associatedData: item.associatedData, context: item.context }));
            const plaintext = op === 'encrypt' ? item.plaintext : fx.ciphertexts.find((c) => c.ciphertext === item.ciphertext)?.plaintext;
            assert.equal(back.statusCode, 200, `item ${i}: ${back.body}`);
            if (plaintext !== undefined) assert.equal(back.json<{ plaintext: string }>().plaintext, plaintext, `item ${i} is not the item's: ${describe(sent, res)}`);
          }
          if (op === 'datakey') assert.equal(Buffer.from(String(result.plaintext ?? ''), 'base64').length * 8, item.plaintext === false ? 0 : Number(item.bits ?? 256), `item ${i}`);
          if (op === 'sign') {
            const { version: _v, ...options } = item;
            const check = await send(fx.app, jsonRequest('POST', `/v1/keys/${name}/verify`, fx.token, { ...options, signature: result.signature }));
            assert.equal(check.json<{ valid: boolean }>().valid, true, `item ${i}'s signature does not verify against it: ${describe(sent, res)}`);
          }
          if (op === 'encapsulate') {
            const check = await send(fx.app, jsonRequest('POST', `/v1/keys/${name}/decapsulate`, fx.token, { ciphertext: result.ciphertext }));
            assert.equal(check.json<{ sharedSecret: string }>().sharedSecret, result.sharedSecret, `item ${i}'s encapsulation does not decapsulate to its secret: ${describe(sent, res)}`);
          }
        }
      },
    ),
    { numRuns: 120 },
  );
});

test('batch edges: empty and oversized batches, a disabled, pending or absent key, fail the whole request with their code', async () => {
  const fx = await sharedFixture();
  const opRoutes = ROUTES.filter((r) => r.op !== undefined && r.batch);
  const sample: Record<Op, Record<string, unknown>> = {
    encrypt: { plaintext: 'AAAA' },
    decrypt: { ciphertext: fx.ciphertexts[0]!.ciphertext },
    rewrap: { ciphertext: fx.ciphertexts[0]!.ciphertext },
    datakey: { bits: 128 },
    sign: { input: 'AAAA' },
    verify: { input: 'AAAA', signature: fx.signatures[0]!.signature },
    hmac: { input: 'AAAA' },
    'verify-hmac': { input: 'AAAA', hmac: fx.hmacs[0]!.hmac },
    derive: { peerPublicKey: b64(new Uint8Array(32).fill(9)) },
    encapsulate: {},
    decapsulate: { ciphertext: fx.encapsulations[0]!.ciphertext },
  };
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...opRoutes),
      fc.constantFrom(...fx.names, 'no-such-key'),
      fc.constantFrom<'empty' | 'too-many' | 'one'>('empty', 'too-many', 'one'),
      async (route, name, size) => {
        const op = route.op!;
        const count = size === 'empty' ? 0 : size === 'too-many' ? MAX_BATCH_ITEMS + 1 : 1;
        const sent = jsonRequest('POST', route.url.replace(':name', name), fx.token, { items: Array.from({ length: count }, () => sample[op]) });
        const res = await send(fx.app, sent);
        const outcome = checkAnswer(sent, res, route);
        const state = fx.keys.get(name)?.state;
        const expected: ErrorCode | 'ok' =
          size === 'empty' ? 'KH_BATCH_EMPTY' : size === 'too-many' ? 'KH_BATCH_TOO_LARGE' : state === undefined ? 'KH_KEY_NOT_FOUND' : state === 'disabled' ? 'KH_KEY_DISABLED' : state === 'pending-deletion' ? 'KH_KEY_PENDING_DELETION' : 'ok';
        assert.equal(outcome.ok ? 'ok' : outcome.code, expected, describe(sent, res));
      },
    ),
    { numRuns: 80 },
  );
});

// ---------------------------------------------------------------------------
// Model-based: the lifecycle against a model of versions and states
// ---------------------------------------------------------------------------

const MODEL_TYPES = [...KEY_TYPE_NAMES.filter((t) => kindOf(t) === 'aead'), 'rsa-2048' as KeyType];
const SLOTS = 3;

interface KeyModel {
  readonly type: KeyType;
  latest: number;
  minDec: number;
  minEnc: number;
  minAvail: number;
  state: 'enabled' | 'disabled';
}
interface Aad {
  readonly associatedData?: string;
  readonly context?: Record<string, string>;
}
interface CtModel {
  readonly slot: number;
  readonly version: number;
  readonly plaintext: string;
  readonly aad: Aad;
  readonly ciphertext: string;
}
interface Model {
  readonly types: readonly KeyType[];
  readonly keys: (KeyModel | undefined)[];
  readonly cts: CtModel[];
}
interface Real {
  readonly app: KeyholdApp;
  readonly token: string;
  readonly prefix: string;
}

const keyName = (r: Real, slot: number) => `${r.prefix}-${slot}`;
const decryptRange = (k: KeyModel): [number, number] => [Math.max(k.minDec, k.minAvail), k.latest];
const encryptRange = (k: KeyModel): [number, number] => [Math.max(k.minEnc === 0 ? k.latest : k.minEnc, k.minAvail), k.latest];
const within = (v: number, [lo, hi]: [number, number]) => v >= lo && v <= hi;
const hasAad = (a: Aad) => a.associatedData !== undefined || (a.context !== undefined && Object.keys(a.context).length > 0);
/** Equal as AEAD associated data: the same bytes and the same context pairs in any order. */
const sameAad = (a: Aad, b: Aad) => {
  const pairs = (x: Aad) => JSON.stringify(Object.entries(x.context ?? {}).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)));
  return a.associatedData === b.associatedData && pairs(a) === pairs(b);
};

async function modelCall(r: Real, method: Method, url: string, body?: unknown): Promise<{ sent: Sent; res: LightMyRequestResponse; outcome: Outcome }> {
  const sent = jsonRequest(method, url, r.token, body);
  const res = await send(r.app, sent);
  return { sent, res, outcome: checkAnswer(sent, res, undefined) };
}

function expectOutcome(call: { sent: Sent; res: LightMyRequestResponse; outcome: Outcome }, expected: ErrorCode | 'ok'): Record<string, unknown> {
  const { sent, res, outcome } = call;
  assert.equal(outcome.ok ? 'ok' : outcome.code, expected, `the model expected ${expected}: ${describe(sent, res)}`);
  return outcome.ok ? (outcome.body as Record<string, unknown>) : {};
}

/** Decryption as the model sees it: the code (or 'ok') for ciphertext `ct` sent to `slot` with `aad`. */
function expectedDecrypt(m: Model, slot: number, ct: CtModel, aad: Aad): ErrorCode | 'ok' {
  const k = m.keys[slot];
  if (k === undefined) return 'KH_KEY_NOT_FOUND';
  if (k.state === 'disabled') return 'KH_KEY_DISABLED';
  if (!within(ct.version, decryptRange(k))) return 'KH_KEY_VERSION_INVALID';
  if (isRsa(k.type) && hasAad(aad)) return 'KH_KEY_OPTION_UNSUPPORTED';
  if (slot !== ct.slot || !sameAad(aad, ct.aad)) return 'KH_DECRYPT_FAILED';
  return 'ok';
}

function expectedEncrypt(m: Model, slot: number, aad: Aad, version: number | undefined): ErrorCode | 'ok' {
  const k = m.keys[slot];
  if (k === undefined) return 'KH_KEY_NOT_FOUND';
  if (k.state === 'disabled') return 'KH_KEY_DISABLED';
  if (version !== undefined && !within(version, encryptRange(k))) return 'KH_KEY_VERSION_INVALID';
  if (isRsa(k.type) && hasAad(aad)) return 'KH_KEY_OPTION_UNSUPPORTED';
  return 'ok';
}

function recordCiphertext(m: Model, slot: number, body: Record<string, unknown>, plaintext: string, aad: Aad, version: number): void {
  assert.equal(body.version, version);
  assert.match(String(body.ciphertext), new RegExp(`^keyhold:v${version}:[A-Za-z0-9+/]+=*$`));
  m.cts.push({ slot, version, plaintext, aad, ciphertext: String(body.ciphertext) });
}

const aadArb: fc.Arbitrary<Aad> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => ({ associatedData: b64(b) })) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 }), { minKeys: 1, maxKeys: 2 }).map((context) => ({ context })) },
);

type ModelCommand = fc.AsyncCommand<Model, Real, false>;
const always = () => true;

class Create implements ModelCommand {
  constructor(readonly slot: number) {}
  check = always;
  async run(m: Model, r: Real): Promise<void> {
    const exists = m.keys[this.slot] !== undefined;
    const body = expectOutcome(await modelCall(r, 'POST', '/v1/keys', { name: keyName(r, this.slot), type: m.types[this.slot] }), exists ? 'KH_KEY_EXISTS' : 'ok');
    if (!exists) {
      assert.equal(body.exportable, false);
      m.keys[this.slot] = { type: m.types[this.slot]!, latest: 1, minDec: 1, minEnc: 0, minAvail: 1, state: 'enabled' };
    }
  }
  toString = () => `create(${this.slot})`;
}

class Rotate implements ModelCommand {
  constructor(readonly slot: number) {}
  check = always;
  async run(m: Model, r: Real): Promise<void> {
    const k = m.keys[this.slot];
    // A disabled key is not rotated (as KMS); re-enable it first.
    const expected = k === undefined ? 'KH_KEY_NOT_FOUND' : k.state === 'disabled' ? 'KH_KEY_DISABLED' : 'ok';
    expectOutcome(await modelCall(r, 'POST', `/v1/keys/${keyName(r, this.slot)}/rotate`), expected);
    if (expected === 'ok') k!.latest += 1;
  }
  toString = () => `rotate(${this.slot})`;
}

class SetEnabled implements ModelCommand {
  constructor(
    readonly slot: number,
    readonly enabled: boolean,
  ) {}
  check = always;
  async run(m: Model, r: Real): Promise<void> {
    const k = m.keys[this.slot];
    expectOutcome(await modelCall(r, 'POST', `/v1/keys/${keyName(r, this.slot)}/${this.enabled ? 'enable' : 'disable'}`), k === undefined ? 'KH_KEY_NOT_FOUND' : 'ok');
    if (k !== undefined) k.state = this.enabled ? 'enabled' : 'disabled';
  }
  toString = () => `${this.enabled ? 'enable' : 'disable'}(${this.slot})`;
}

class Configure implements ModelCommand {
  constructor(
    readonly slot: number,
    readonly minDec: number | undefined,
    readonly minEnc: number | undefined,
  ) {}
  check = always;
  async run(m: Model, r: Real): Promise<void> {
    const body: Record<string, number> = {};
    if (this.minDec !== undefined) body.minDecryptionVersion = this.minDec;
    if (this.minEnc !== undefined) body.minEncryptionVersion = this.minEnc;
    const k = m.keys[this.slot];
    let expected: ErrorCode | 'ok' = 'ok';
    const next = k === undefined ? undefined : { ...k };
    if (Object.keys(body).length === 0 || this.minDec === 0) expected = 'KH_BAD_REQUEST';
    else if (next === undefined) expected = 'KH_KEY_NOT_FOUND';
    else {
      if (this.minDec !== undefined) {
        if (this.minDec < next.minAvail || this.minDec > next.latest) expected = 'KH_KEY_CONFIG_INVALID';
        next.minDec = this.minDec;
      }
      if (expected === 'ok' && this.minEnc !== undefined) {
        if (this.minEnc !== 0 && (this.minEnc < next.minDec || this.minEnc > next.latest)) expected = 'KH_KEY_CONFIG_INVALID';
        next.minEnc = this.minEnc;
      }
      if (expected === 'ok' && next.minEnc !== 0 && next.minEnc < next.minDec) expected = 'KH_KEY_CONFIG_INVALID';
    }
    expectOutcome(await modelCall(r, 'PATCH', `/v1/keys/${keyName(r, this.slot)}`, body), expected);
    if (expected === 'ok') m.keys[this.slot] = next;
  }
  toString = () => `config(${this.slot}, minDecryptionVersion ${String(this.minDec)}, minEncryptionVersion ${String(this.minEnc)})`;
}

class Trim implements ModelCommand {
  constructor(
    readonly slot: number,
    readonly minAvail: number,
  ) {}
  check = always;
  async run(m: Model, r: Real): Promise<void> {
    const k = m.keys[this.slot];
    const expected: ErrorCode | 'ok' =
      this.minAvail === 0 ? 'KH_BAD_REQUEST' : k === undefined ? 'KH_KEY_NOT_FOUND' : this.minAvail < k.minAvail || this.minAvail > k.minDec ? 'KH_KEY_CONFIG_INVALID' : 'ok';
    expectOutcome(await modelCall(r, 'POST', `/v1/keys/${keyName(r, this.slot)}/trim`, { minAvailableVersion: this.minAvail }), expected);
    if (expected === 'ok') k!.minAvail = this.minAvail;
  }
  toString = () => `trim(${this.slot}, ${this.minAvail})`;
}

class Encrypt implements ModelCommand {
  constructor(
    readonly slot: number,
    readonly plaintext: Uint8Array,
    readonly aad: Aad,
    readonly version: number | undefined,
  ) {}
  check = always;
  async run(m: Model, r: Real): Promise<void> {
    const plaintext = b64(this.plaintext);
    const expected = expectedEncrypt(m, this.slot, this.aad, this.version);
    const body = expectOutcome(await modelCall(r, 'POST', `/v1/keys/${keyName(r, this.slot)}/encrypt`, { plaintext, ...this.aad, ...(this.version !== undefined ? { version: this.version } : {}) }), expected);
    if (expected === 'ok') recordCiphertext(m, this.slot, body, plaintext, this.aad, this.version ?? m.keys[this.slot]!.latest);
  }
  toString = () => `encrypt(${this.slot}, ${this.plaintext.length} bytes, ${JSON.stringify(this.aad)}, version ${String(this.version)})`;
}

class DataKey implements ModelCommand {
  constructor(
    readonly slot: number,
    readonly bits: 128 | 256 | 512,
    readonly aad: Aad,
  ) {}
  check = always;
  async run(m: Model, r: Real): Promise<void> {
    const expected = expectedEncrypt(m, this.slot, this.aad, undefined);
    const body = expectOutcome(await modelCall(r, 'POST', `/v1/keys/${keyName(r, this.slot)}/datakey`, { bits: this.bits, ...this.aad }), expected);
    if (expected !== 'ok') return;
    assert.equal(Buffer.from(String(body.plaintext), 'base64').length, this.bits / 8);
    recordCiphertext(m, this.slot, body, String(body.plaintext), this.aad, m.keys[this.slot]!.latest);
  }
  toString = () => `datakey(${this.slot}, ${this.bits}, ${JSON.stringify(this.aad)})`;
}

/** Decrypt (or rewrap) a recorded ciphertext: with its own key and AAD, or another key, or other AAD. */
class Decrypt implements ModelCommand {
  constructor(
    readonly pick: number,
    readonly otherSlot: number | undefined,
    readonly otherAad: Aad | undefined,
    readonly rewrapTo: { version: number | undefined } | undefined,
  ) {}
  check = (m: Readonly<Model>) => m.cts.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const ct = m.cts[this.pick % m.cts.length]!;
    const slot = this.otherSlot ?? ct.slot;
    const aad = this.otherAad ?? ct.aad;
    let expected = expectedDecrypt(m, slot, ct, aad);
    const op = this.rewrapTo === undefined ? 'decrypt' : 'rewrap';
    const version = this.rewrapTo?.version;
    if (expected === 'ok' && this.rewrapTo !== undefined) expected = expectedEncrypt(m, slot, aad, version);
    const body = expectOutcome(await modelCall(r, 'POST', `/v1/keys/${keyName(r, slot)}/${op}`, { ciphertext: ct.ciphertext, ...aad, ...(version !== undefined ? { version } : {}) }), expected);
    if (expected !== 'ok') return;
    if (this.rewrapTo === undefined) {
      assert.deepEqual(body, { plaintext: ct.plaintext, version: ct.version }, `decrypt(${ct.ciphertext.slice(0, 20)}…) is not what was encrypted`);
    } else {
      recordCiphertext(m, slot, body, ct.plaintext, aad, version ?? m.keys[slot]!.latest);
    }
  }
  toString = () =>
    `${this.rewrapTo === undefined ? 'decrypt' : `rewrap(version ${String(this.rewrapTo.version)})`}(ct #${this.pick}${this.otherSlot !== undefined ? `, key ${this.otherSlot}` : ''}${this.otherAad !== undefined ? `, aad ${JSON.stringify(this.otherAad)}` : ''})`;
}

const slotArb = fc.integer({ min: 0, max: SLOTS - 1 });
/** An explicit version for encrypt/rewrap now and then (only versions from minEncryptionVersion up are accepted). */
const optionalVersion = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 }) });
/** Versions for configuration: mostly inside the few versions a key has, sometimes outside (0 is refused by the schema). */
const smallVersion = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 6 }) });
const modelCommands = fc.commands<Model, Real, false>(
  [
    slotArb.map((s) => new Create(s)),
    slotArb.map((s) => new Rotate(s)),
    slotArb.map((s) => new Rotate(s)),
    fc.tuple(slotArb, fc.boolean()).map(([s, e]) => new SetEnabled(s, e)),
    fc.tuple(slotArb, fc.option(smallVersion, { nil: undefined }), fc.option(smallVersion, { nil: undefined })).map(([s, d, e]) => new Configure(s, d, e)),
    fc.tuple(slotArb, smallVersion).map(([s, d]) => new Configure(s, d, undefined)),
    fc.tuple(slotArb, smallVersion).map(([s, n]) => new Trim(s, n)),
    fc.tuple(slotArb, fc.uint8Array({ maxLength: 64 }), aadArb, optionalVersion).map(([s, p, a, v]) => new Encrypt(s, p, a, v)),
    fc.tuple(slotArb, fc.uint8Array({ maxLength: 64 }), aadArb).map(([s, p, a]) => new Encrypt(s, p, a, undefined)),
    fc.tuple(slotArb, fc.constantFrom<128 | 256 | 512>(128, 256, 512), aadArb).map(([s, b, a]) => new DataKey(s, b, a)),
    fc.nat().map((i) => new Decrypt(i, undefined, undefined, undefined)),
    fc.nat().map((i) => new Decrypt(i, undefined, undefined, undefined)),
    fc.tuple(fc.nat(), slotArb).map(([i, s]) => new Decrypt(i, s, undefined, undefined)),
    fc.tuple(fc.nat(), aadArb).map(([i, a]) => new Decrypt(i, undefined, a, undefined)),
    fc.tuple(fc.nat(), optionalVersion).map(([i, v]) => new Decrypt(i, undefined, undefined, { version: v })),
  ],
  { maxCommands: 40, size: 'max' },
);

/** The vault's view of every key agrees with the model, and every ciphertext decrypts as the model says, in one batch per key. */
async function checkAgainstModel(m: Model, r: Real): Promise<void> {
  for (let slot = 0; slot < SLOTS; slot++) {
    const k = m.keys[slot];
    if (k === undefined) continue;
    const meta = expectOutcome(await modelCall(r, 'GET', `/v1/keys/${keyName(r, slot)}`), 'ok');
    const versions = Array.from({ length: k.latest - k.minAvail + 1 }, (_, i) => k.minAvail + i);
    assert.deepEqual(
      {
        state: meta.state,
        latestVersion: meta.latestVersion,
        minDecryptionVersion: meta.minDecryptionVersion,
        minEncryptionVersion: meta.minEncryptionVersion,
        minAvailableVersion: meta.minAvailableVersion,
        versions: (meta.versions as { version: number }[]).map((v) => v.version),
      },
      { state: k.state, latestVersion: k.latest, minDecryptionVersion: k.minDec, minEncryptionVersion: k.minEnc, minAvailableVersion: k.minAvail, versions },
      `key ${slot}`,
    );
    if (k.state === 'disabled') {
      expectOutcome(await modelCall(r, 'POST', `/v1/keys/${keyName(r, slot)}/enable`), 'ok');
      k.state = 'enabled';
    }
    const own = m.cts.filter((c) => c.slot === slot);
    if (own.length === 0) continue;
    const call = await modelCall(r, 'POST', `/v1/keys/${keyName(r, slot)}/decrypt/batch`, { items: own.map((c) => ({ ciphertext: c.ciphertext, ...c.aad })) });
    const { results } = expectOutcome(call, 'ok') as { results: Record<string, unknown>[] };
    assert.equal(results.length, own.length);
    for (const [i, c] of own.entries()) {
      const expected: unknown = within(c.version, decryptRange(k)) ? { plaintext: c.plaintext, version: c.version } : { error: 'KH_KEY_VERSION_INVALID' };
      const result = results[i]!;
      assert.deepEqual('error' in result ? { error: (result.error as { code: string }).code } : result, expected, `ciphertext ${i} of key ${slot} (v${c.version}, window ${decryptRange(k).join('..')})`);
    }
  }
}

test('model: ciphertexts stay decryptable to their plaintext until minDecryptionVersion or trimming passes their version, whatever the lifecycle does', async (t) => {
  const { app, rootToken } = await unsealedVault(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.tuple(...Array.from({ length: SLOTS }, (_, i) => (i === 0 ? fc.constantFrom(...MODEL_TYPES.filter((x) => !isRsa(x))) : fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...MODEL_TYPES.filter((x) => !isRsa(x))) }, { weight: 1, arbitrary: fc.constantFrom(...MODEL_TYPES) })))),
      modelCommands,
      async (types, commands) => {
        const model: Model = { types, keys: Array.from({ length: SLOTS }, () => undefined), cts: [] };
        const real: Real = { app, token: rootToken, prefix: `m${++run}` };
        // Two keys exist from the start (so most commands have something to act on); the third is up to Create.
        for (const slot of [0, 1]) await new Create(slot).run(model, real);
        await fc.asyncModelRun(() => ({ model, real }), commands);
        await checkAgainstModel(model, real);
      },
    ),
    { numRuns: 100 },
  );
});

test('issue 15: oversized, huge and deep batch bodies are refused before any item runs (KH_BATCH_TOO_LARGE, 413, KH_BODY_TOO_DEEP), and change no key', async () => {
  const fx = await sharedFixture();
  const opRoutes = ROUTES.filter((r) => r.op !== undefined && r.batch);
  const before = await keysState(fx.app);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...opRoutes),
      fc.constantFrom(...fx.names),
      fc.oneof(
        fc.integer({ min: MAX_BATCH_ITEMS + 1, max: 200_000 }).map((n) => ({ kind: 'items' as const, n })),
        fc.integer({ min: 33, max: 5_000 }).map((n) => ({ kind: 'deep' as const, n })),
      ),
      async (route, name, shape) => {
        const url = route.url.replace(':name', name);
        const payload =
          shape.kind === 'items' ? `{"items":[${Array(shape.n).fill('{"plaintext":"AAAA"}').join(',')}]}` : `{"items":[${'['.repeat(shape.n)}${']'.repeat(shape.n)}]}`;
        const sent: Sent = { method: 'POST', url, headers: { ...bearer(fx.token), 'content-type': 'application/json' }, payload };
        const t0 = performance.now();
        const res = await send(fx.app, sent);
        const outcome = checkAnswer(sent, res, route);
        assert.ok(!outcome.ok, describe(sent, res));
        const allowed: ErrorCode[] = shape.kind === 'deep' ? ['KH_BODY_TOO_DEEP'] : ['KH_BATCH_TOO_LARGE', 'KH_PAYLOAD_TOO_LARGE'];
        assert.ok(allowed.includes(outcome.code), `${outcome.code}: ${describe(sent, res)}`);
        assert.ok(performance.now() - t0 < 5_000, 'refused without per-item work');
      },
    ),
    { numRuns: 40 },
  );
  assert.equal(await keysState(fx.app), before, 'no key changed');
});
