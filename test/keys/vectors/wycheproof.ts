/**
 * Shared loader and bookkeeping for the Wycheproof vector tests.
 *
 * Vectors are published data this repository does not carry: they are read
 * in place from the folder test/helpers/vectors.ts names (KEYHOLD_TEST_VECTORS),
 * and a test whose file is absent is skipped with one line (a failure under
 * CI): pass `wycheproof(file).skip` to node:test. Each test file keeps a tally
 * of vectors run and vectors not applicable (by reason), and asserts both
 * counts, so a changed vector file or a routing mistake that skips everything
 * is noticed. Failures are collected (file and tcId in every message) and
 * reported together at the end rather than stopping at the first.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { memoryBarrier } from '../../helpers/memory-barrier.js';
import { KeyManager } from '../../../src/keys/key-manager.js';
import { KeyholdError, type ErrorCode } from '../../../src/errors.js';
import { WYCHEPROOF_SOURCE, assertPresent, publishedVectors, type PublishedVectors } from '../../helpers/vectors.js';

/** One Wycheproof file (by name, e.g. 'aes_gcm_test.json'); its `skip` goes to node:test. */
export function wycheproof(file: string): PublishedVectors {
  return publishedVectors(`wycheproof/${file}`, WYCHEPROOF_SOURCE);
}

export type WycheproofResult = 'valid' | 'invalid' | 'acceptable';

export interface WycheproofTest {
  readonly tcId: number;
  readonly comment: string;
  readonly flags: readonly string[];
  readonly result: WycheproofResult;
}

export interface WycheproofGroup<T extends WycheproofTest> {
  readonly type: string;
  readonly tests: readonly T[];
}

export interface WycheproofFile<G> {
  /** The file name, for failure messages. */
  readonly file: string;
  readonly algorithm: string;
  readonly numberOfTests: number;
  readonly testGroups: readonly G[];
}

export interface AeadTest extends WycheproofTest {
  readonly key: string;
  readonly iv: string;
  readonly aad: string;
  readonly msg: string;
  readonly ct: string;
  readonly tag: string;
}
export interface AeadGroup extends WycheproofGroup<AeadTest> {
  readonly keySize: number;
  readonly ivSize: number;
  readonly tagSize: number;
}

export interface SignatureTest extends WycheproofTest {
  readonly msg: string;
  readonly sig: string;
}
export interface SignatureGroup extends WycheproofGroup<SignatureTest> {
  readonly publicKeyDer: string;
  readonly sha?: string;
  readonly keySize?: number;
  /** RSA-PSS only. */
  readonly mgf?: string;
  readonly mgfSha?: string;
  readonly sLen?: number;
}

export interface OaepTest extends WycheproofTest {
  readonly msg: string;
  readonly ct: string;
  readonly label: string;
}
export interface OaepGroup extends WycheproofGroup<OaepTest> {
  readonly keySize: number;
  readonly sha: string;
  readonly mgf: string;
  readonly mgfSha: string;
  readonly privateKeyPkcs8: string;
}

export interface MacTest extends WycheproofTest {
  readonly key: string;
  readonly msg: string;
  readonly tag: string;
}
export interface MacGroup extends WycheproofGroup<MacTest> {
  readonly keySize: number;
  readonly tagSize: number;
}

const RESULTS: readonly string[] = ['valid', 'invalid', 'acceptable'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a published JSON vector file; absent, it throws the one-line reason (what is missing, where it is published). */
export function readVectorJson(vectors: PublishedVectors): unknown {
  return JSON.parse(readFileSync(assertPresent(vectors), 'utf8')) as unknown;
}

/**
 * Loads wycheproof/<file> and checks its outer shape: every group has tests,
 * every test a unique numeric tcId and a known result, and the number of
 * tests equals the header's numberOfTests (so a truncated copy is noticed).
 * The per-field shape is the caller's type argument; fields are hex strings.
 */
export function loadWycheproof<G extends WycheproofGroup<WycheproofTest>>(file: string): WycheproofFile<G> {
  const raw = readVectorJson(wycheproof(file));
  assert.ok(isRecord(raw), `${file}: not a JSON object`);
  const { algorithm, numberOfTests, testGroups } = raw;
  assert.equal(typeof algorithm, 'string', `${file}: no algorithm`);
  assert.equal(typeof numberOfTests, 'number', `${file}: no numberOfTests`);
  assert.ok(Array.isArray(testGroups) && testGroups.length > 0, `${file}: no testGroups`);
  const seen = new Set<number>();
  for (const g of testGroups as unknown[]) {
    assert.ok(isRecord(g) && Array.isArray(g.tests), `${file}: a group without tests`);
    for (const tc of g.tests as unknown[]) {
      assert.ok(isRecord(tc) && typeof tc.tcId === 'number', `${file}: a test without tcId`);
      assert.ok(RESULTS.includes(String(tc.result)), `${file} tcId ${tc.tcId}: unknown result ${String(tc.result)}`);
      assert.ok(!seen.has(tc.tcId), `${file}: duplicate tcId ${tc.tcId}`);
      seen.add(tc.tcId);
    }
  }
  assert.equal(seen.size, numberOfTests, `${file}: ${seen.size} tests but the header says ${String(numberOfTests)}`);
  return { file, algorithm: algorithm as string, numberOfTests: numberOfTests as number, testGroups: testGroups as G[] };
}

export const hex = (s: string): Uint8Array => {
  assert.match(s, /^(?:[0-9a-fA-F]{2})*$/, `not hex: ${s.slice(0, 40)}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
};
export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;

/** An unsealed in-memory barrier (SQLite :memory:) and a KeyManager on it. */
export async function vaultKeys(t: Pick<TestContext, 'after'>): Promise<KeyManager> {
  const { barrier } = await memoryBarrier(t);
  return new KeyManager(barrier);
}

/** Fresh key names for one KeyManager. */
export function keyNames(prefix: string): () => string {
  let n = 0;
  return () => `${prefix}-${++n}`;
}

export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** Runs fn, capturing a throw instead of propagating it. */
export function attempt<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

export async function attemptAsync<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

export function isKeyholdCode(e: unknown, ...codes: ErrorCode[]): e is KeyholdError {
  return e instanceof KeyholdError && codes.includes(e.code);
}

export function describeError(e: unknown): string {
  if (e instanceof KeyholdError) return `KeyholdError ${e.code} (${e.message})`;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

export interface ExpectedCounts {
  /** Vectors run through Keyhold's code. */
  readonly run: number;
  /** Vectors not applicable, by reason. */
  readonly skipped: Readonly<Record<string, number>>;
}

/**
 * Run/skip counts and failures of one vector file. `known` lists tcIds that
 * fail because of a confirmed product bug (with the reason): they are
 * reported but do not fail the test, and a listed tcId that passes fails it,
 * so the list is kept current.
 */
export class VectorTally {
  readonly file: string;
  /** How a vector is named in messages: Wycheproof's tcId, or the ordinal of a CAVP record (whose messages add its section, Count and line). */
  readonly idLabel: string;
  run = 0;
  readonly skipped = new Map<string, number>();
  readonly failures = new Map<number, string[]>();

  constructor(file: string, idLabel = 'tcId') {
    this.file = file;
    this.idLabel = idLabel;
  }

  ran(): void {
    this.run++;
  }

  skip(reason: string, count = 1): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + count);
  }

  /** Records a failed check of one vector (several checks of one vector may each fail). */
  fail(tcId: number, message: string): void {
    const list = this.failures.get(tcId) ?? [];
    list.push(`${this.file} ${this.idLabel} ${tcId}: ${message}`);
    this.failures.set(tcId, list);
  }

  /** Records a failure when `ok` is false. */
  check(ok: boolean, tcId: number, message: () => string): void {
    if (!ok) this.fail(tcId, message());
  }

  get skippedTotal(): number {
    let n = 0;
    for (const v of this.skipped.values()) n += v;
    return n;
  }

  summary(): string {
    const reasons = [...this.skipped].map(([r, n]) => `${n} ${r}`).join('; ');
    return `${this.file}: ${this.run} run, ${this.skippedTotal} not applicable${reasons ? ` (${reasons})` : ''}`;
  }

  /** Asserts no unexpected failures, the known-failure list is current, and the counts are as expected. */
  finish(t: Pick<TestContext, 'diagnostic'>, expected: ExpectedCounts, known: ReadonlyMap<number, string> = new Map()): void {
    t.diagnostic(this.summary());
    for (const [tcId, why] of known) {
      if (this.failures.has(tcId)) t.diagnostic(`known product bug, ${this.file} tcId ${tcId}: ${why}`);
    }
    const unexpected = [...this.failures].filter(([tcId]) => !known.has(tcId)).flatMap(([, m]) => m);
    assert.deepEqual(unexpected, [], `${this.file}: ${unexpected.length} failed checks:\n${unexpected.join('\n')}`);
    const fixed = [...known.keys()].filter((tcId) => !this.failures.has(tcId));
    assert.deepEqual(fixed, [], `${this.file}: tcIds listed as known product bugs now pass; remove them from the list: ${fixed.join(', ')}`);
    assert.deepEqual(
      { run: this.run, skipped: Object.fromEntries(this.skipped) },
      { run: expected.run, skipped: expected.skipped },
      `${this.file}: the counts of vectors run and not applicable changed: ${this.summary()}`,
    );
  }
}
