/** The login throttle's units (issue 15 M1/M2): address grouping, up-front counting and refunds, bounded memory. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginThrottle, throttleAddress } from '../../src/auth/login-throttle.js';
import { KeyholdError } from '../../src/errors.js';
import { HashingLimit } from '../../src/auth/hashing-limit.js';
import fc from 'fast-check';

test('addresses are grouped as allocated: IPv4 as is, IPv6 by /64, IPv4-mapped IPv6 as IPv4', () => {
  assert.equal(throttleAddress('192.0.2.1'), '192.0.2.1');
  assert.equal(throttleAddress('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(throttleAddress('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  assert.equal(throttleAddress('2001:DB8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(throttleAddress('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(throttleAddress('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(throttleAddress('::1'), '0:0:0:0::/64');
  assert.equal(throttleAddress('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  assert.equal(throttleAddress(undefined), 'unknown');
});

test('an attempt is counted before the check runs: the fourth concurrent guess is refused without running', async () => {
  const throttle = new LoginThrottle();
  let ran = 0;
  const never = new Promise<never>(() => {});
  for (let i = 0; i < 3; i++) void throttle.attempt({ account: 'user:a', address: '192.0.2.1' }, () => { ran++; return never; });
  await assert.rejects(throttle.attempt({ account: 'user:a', address: '192.0.2.1' }, async () => { ran++; }), { code: 'KH_AUTH_LOCKED' });
  assert.equal(ran, 3);
  // Another address, same account: untouched.
  assert.equal(await throttle.attempt({ account: 'user:a', address: '192.0.2.2' }, async () => 'ok'), 'ok');
});

test('success clears the pair and refunds the address; busy and second-factor prompts are refunded; failures stay counted', async () => {
  const throttle = new LoginThrottle();
  const at = { account: 'user:a', address: '192.0.2.9' };
  const fail = () => throttle.attempt(at, async () => { throw new KeyholdError('KH_AUTH_LOGIN_FAILED'); });
  await assert.rejects(fail());
  await assert.rejects(fail());
  for (let i = 0; i < 5; i++) await assert.rejects(throttle.attempt(at, async () => { throw new KeyholdError('KH_AUTH_BUSY'); }), { code: 'KH_AUTH_BUSY' });
  for (let i = 0; i < 5; i++) await assert.rejects(throttle.attempt(at, async () => { throw new KeyholdError('KH_AUTH_MFA_REQUIRED'); }), { code: 'KH_AUTH_MFA_REQUIRED' });
  await throttle.attempt(at, async () => undefined);
  await assert.rejects(fail());
  await assert.rejects(fail());
  await assert.rejects(fail(), { code: 'KH_AUTH_LOGIN_FAILED' }, 'the success reset the pair: three fresh failures are allowed');
  await assert.rejects(fail(), { code: 'KH_AUTH_LOCKED' });
});

test('one address guessing many accounts is locked after 20 failures; a lock lapses and doubles', async () => {
  const throttle = new LoginThrottle();
  const now = Date.now();
  for (let i = 0; i < 20; i++) await assert.rejects(throttle.attempt({ account: `user:u${i}`, address: '192.0.2.7' }, async () => { throw new KeyholdError('KH_AUTH_LOGIN_FAILED'); }, now));
  assert.throws(() => throttle.check({ account: 'user:fresh', address: '192.0.2.7' }, now), (e: KeyholdError & { retryAfterSeconds?: number }) => e.code === 'KH_AUTH_LOCKED' && e.retryAfterSeconds === 1);
  throttle.check({ account: 'user:fresh', address: '192.0.2.7' }, now + 1001);
  throttle.check({ account: 'user:fresh', address: '192.0.2.8' }, now);
});

test('password hashing is bounded: extra work waits in a short queue, past it KH_AUTH_BUSY at once', async () => {
  const limit = new HashingLimit(2, 3);
  let running = 0;
  let peak = 0;
  const work = () => limit.run(async () => { running++; peak = Math.max(peak, running); await new Promise((r) => setTimeout(r, 20)); running--; return 'done'; });
  const results = await Promise.allSettled(Array.from({ length: 10 }, work));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
  assert.ok(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason.code === 'KH_AUTH_BUSY'));
  assert.equal(peak, 2);
  assert.equal(await work(), 'done', 'slots are given back');
});

test('property: whatever hostile attempts arrive at one instant, each (account, address) gets at most 3 checks, each address at most 20, and the owner at a fresh address is never refused', async () => {
  const address = fc.oneof(
    fc.constantFrom('192.0.2.1', '::ffff:192.0.2.1', '192.0.2.2'),
    fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([a, b]) => `2001:db8:7:1:${a.toString(16)}::${b.toString(16)}`),
  );
  const attempt = fc.record({ account: fc.constantFrom('user:ops', 'user:alice', 'machine:m', 'user:vssm-admin'), address, outcome: fc.constantFrom('fail', 'busy', 'mfa') });
  await fc.assert(
    fc.asyncProperty(fc.array(attempt, { maxLength: 120 }), async (attempts) => {
      const throttle = new LoginThrottle();
      const now = 1_700_000_000_000;
      const checks = new Map<string, number>();
      const perAddress = new Map<string, number>();
      const codes = { fail: 'KH_AUTH_LOGIN_FAILED', busy: 'KH_AUTH_BUSY', mfa: 'KH_AUTH_MFA_REQUIRED' } as const;
      await Promise.allSettled(
        attempts.map((a) =>
          throttle.attempt({ account: a.account, address: a.address }, async () => {
            const unit = throttleAddress(a.address);
            checks.set(`${a.account}@${unit}`, (checks.get(`${a.account}@${unit}`) ?? 0) + (a.outcome === 'fail' ? 1 : 0));
            perAddress.set(unit, (perAddress.get(unit) ?? 0) + (a.outcome === 'fail' ? 1 : 0));
            throw new KeyholdError(codes[a.outcome]);
          }, now),
        ),
      );
      for (const [k, n] of checks) assert.ok(n <= 3, `${k}: ${n} counted checks`);
      for (const [k, n] of perAddress) assert.ok(n <= 20, `${k}: ${n} counted checks`);
      for (const account of ['user:ops', 'user:alice', 'machine:m', 'user:vssm-admin']) throttle.check({ account, address: '198.51.100.77' }, now);
    }),
    { numRuns: 200 },
  );
});

test('property (review finding 2): whatever wrong second factors arrive at one instant from any addresses, each account gets at most 5 checks, and a right one after the lock lapses clears it', async () => {
  const attempt = fc.record({ account: fc.constantFrom('user:ops', 'user:alice', 'user:bob'), right: fc.boolean() });
  const log = { warn: () => undefined };
  await fc.assert(
    fc.asyncProperty(fc.array(attempt, { maxLength: 120 }), async (attempts) => {
      const throttle = new LoginThrottle();
      const now = 1_700_000_000_000;
      const wrong = new Map<string, number>();
      const answers = await Promise.allSettled(
        attempts.map((a) =>
          throttle.secondFactor(a.account, async () => {
            await Promise.resolve();
            if (a.right) return ['otp', 'mfa'];
            wrong.set(a.account, (wrong.get(a.account) ?? 0) + 1);
            return undefined;
          }, log, now),
        ),
      );
      assert.ok(answers.every((r) => r.status === 'fulfilled' || (r.reason as KeyholdError).code === 'KH_AUTH_MFA_LOCKED'));
      for (const [k, n] of wrong) assert.ok(n <= 5, `${k}: ${n} wrong codes checked`);
      for (const account of ['user:ops', 'user:alice', 'user:bob']) assert.deepEqual(await throttle.secondFactor(account, async () => ['mfa'], log, now + 16 * 60_000), ['mfa']);
    }),
    { numRuns: 200 },
  );
});
