/** The entropy mixer: output depends on both sources, survives either being degraded, fails closed when required. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EntropyMixer } from '../../src/crypto/entropy-mixer.js';
import { hkdf } from '../../src/crypto/hkdf.js';
import { entropy, osEntropy, setEntropySource } from '../../src/crypto/random.js';

const fixed = (byte: number) => (n: number) => new Uint8Array(n).fill(byte);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('the output is HKDF-SHA-512 over OS bytes || external bytes, with the purpose as info', () => {
  const mixer = new EntropyMixer({ os: fixed(1), external: fixed(2), required: true });
  const expected = hkdf('sha512', new Uint8Array([...new Uint8Array(32).fill(1), ...new Uint8Array(32).fill(2)]), new TextEncoder().encode('keyhold-entropy-v1'), new TextEncoder().encode('root-key'), 32);
  assert.equal(hex(mixer.bytes(32, 'root-key')), hex(expected));
});

test('changing either input, or the purpose, changes the output', () => {
  const base = hex(new EntropyMixer({ os: fixed(1), external: fixed(2), required: true }).bytes(32, 'p'));
  assert.notEqual(hex(new EntropyMixer({ os: fixed(9), external: fixed(2), required: true }).bytes(32, 'p')), base);
  assert.notEqual(hex(new EntropyMixer({ os: fixed(1), external: fixed(9), required: true }).bytes(32, 'p')), base);
  assert.notEqual(hex(new EntropyMixer({ os: fixed(1), external: fixed(2), required: true }).bytes(32, 'q')), base);
});

test('a degraded OS source (constant bytes) still yields distinct outputs from a good external source', () => {
  const mixer = new EntropyMixer({ os: fixed(0), external: (n) => new Uint8Array(randomBytes(n)), required: true });
  const seen = new Set(Array.from({ length: 200 }, () => hex(mixer.bytes(16, 'k'))));
  assert.equal(seen.size, 200);
});

test('a failing external source: required fails closed, optional degrades to the OS and counts the failure', () => {
  const broken = () => {
    throw new Error('HSM gone');
  };
  const required = new EntropyMixer({ external: broken, required: true });
  assert.throws(() => required.bytes(32, 'key'), { code: 'KH_ENTROPY_UNAVAILABLE' });
  assert.equal(required.stats.externalFailures, 1);
  const failures: unknown[] = [];
  const optional = new EntropyMixer({ external: broken, required: false, onFailure: (e) => failures.push(e) });
  const seen = new Set(Array.from({ length: 100 }, () => hex(optional.bytes(16, 'k'))));
  assert.equal(seen.size, 100);
  assert.equal(optional.stats.externalFailures, 100);
  assert.equal(failures.length, 100);
  const short = new EntropyMixer({ external: (n) => new Uint8Array(n - 1), required: true });
  assert.throws(() => short.bytes(8, 'k'), { code: 'KH_ENTROPY_UNAVAILABLE' }, 'a short read counts as a failure');
});

test('large draws are produced in HKDF-sized chunks and counted', () => {
  const mixer = new EntropyMixer({ external: (n) => new Uint8Array(randomBytes(n)), required: true });
  const big = mixer.bytes(40_000, 'big');
  assert.equal(big.length, 40_000);
  assert.equal(mixer.stats.externalBytes, 40_000);
  assert.equal(mixer.bytes(0, 'none').length, 0);
});

test('the process-wide entropy() uses the installed source and passes the purpose', () => {
  const purposes: string[] = [];
  setEntropySource({ bytes: (n, purpose) => (purposes.push(purpose), new Uint8Array(n)) });
  try {
    entropy(4, 'totp-secret');
    entropy(4);
  } finally {
    setEntropySource(osEntropy);
  }
  assert.deepEqual(purposes, ['totp-secret', 'key-material']);
});
