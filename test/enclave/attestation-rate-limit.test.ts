/** Fresh attestation documents are limited per source address: a burst, then a steady rate. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttestationRateLimit } from '../../src/api/enclave/attestation-rate-limit.js';
import { KeyholdError } from '../../src/errors.js';
import { runningVault } from '../helpers/keyhold.js';

const limited = (e: unknown) => e instanceof KeyholdError && e.code === 'KH_ATTESTATION_RATE_LIMITED' && e.status === 429;

test('the bucket allows a burst, then refills at its rate, per source', () => {
  const limit = new AttestationRateLimit({ burst: 3, perSecond: 2 });
  for (let i = 0; i < 3; i++) limit.take('a', 1000);
  assert.throws(() => limit.take('a', 1000), limited);
  limit.take('b', 1000); // another address has its own bucket
  assert.throws(() => limit.take('a', 1400), limited); // 0.8 of a token
  limit.take('a', 1500); // one token after 0.5 s at 2/s
  assert.throws(() => limit.take('a', 1500), limited);
  for (let i = 0; i < 3; i++) limit.take('a', 10_000); // refilled up to the burst, not beyond
  assert.throws(() => limit.take('a', 10_000), limited);
});

test('GET /v1/enclave/attestation answers 429 past the burst; GET /v1/enclave (cached) does not', async (t) => {
  const { server } = await runningVault(t, { enclave: { provider: 'simulated', attestationRateLimit: { burst: 5, perSecond: 1 } } });
  // All at once: far more than the burst plus what refills while they are answered.
  const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => fetch(`${server.apiUrl}/v1/enclave/attestation?nonce=0${i % 10}`)));
  const ok = answers.filter((r) => r.status === 200).length;
  assert.ok(ok >= 5 && ok < 30, `${ok} of 30 answered`);
  const refused = answers.find((r) => r.status === 429)!;
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'KH_ATTESTATION_RATE_LIMITED');
  assert.equal((await fetch(`${server.apiUrl}/v1/enclave`)).status, 200);
});
