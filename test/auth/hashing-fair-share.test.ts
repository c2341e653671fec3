/**
 * Review finding 3 (issue 15): the global password-hashing bound was first
 * come, first served, so 40 concurrent wrong logins from fresh /64s kept it
 * full and the owner's login got 503 KH_AUTH_BUSY 34 times out of 34. Now a
 * stranger's address block holds at most one hash, running or queued, and
 * (account, address) pairs that logged in before have reserved slots.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asHashingCaller, HashingLimit } from '../../src/auth/hashing-limit.js';
import { hashingBlock } from '../../src/auth/login-throttle.js';
import { bearer, unsealedVault } from '../helpers/keyhold.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('address blocks: IPv4 per /24, IPv6 per /48, IPv4-mapped as IPv4', () => {
  assert.equal(hashingBlock('198.51.100.7'), '198.51.100.0/24');
  assert.equal(hashingBlock('::ffff:198.51.100.200'), '198.51.100.0/24');
  assert.equal(hashingBlock('2001:db8:0:1234::9'), '2001:db8:0::/48');
  assert.equal(hashingBlock('2001:db8:0:ffff:1::9'), hashingBlock('2001:db8::1'));
  assert.notEqual(hashingBlock('2001:db8:1::1'), hashingBlock('2001:db8:2::1'));
  assert.equal(hashingBlock(undefined), 'unknown');
});

test('one running-or-queued hash per stranger block; known callers keep reserved slots the flood cannot take', async () => {
  const limit = new HashingLimit(2, 4, { running: 1, queued: 2 });
  let running = 0;
  let peak = 0;
  const work = () => limit.run(async () => ((running++, (peak = Math.max(peak, running))), await sleep(30), running--, 'done'));
  const as = (block: string, known: boolean) => asHashingCaller({ block, known }, work);
  // One block floods: one place at a time, and a short line of its own (1 + 3 get through, one after another).
  const sameBlock = await Promise.allSettled(Array.from({ length: 10 }, () => as('2001:db8:0::/48', false)));
  assert.equal(sameBlock.filter((r) => r.status === 'fulfilled').length, 4);
  assert.equal(peak, 1, 'one block never runs two hashes at once');
  assert.ok(sameBlock.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason.code === 'KH_AUTH_BUSY'));
  // Many blocks fill the general share (2 running + 4 queued); a known caller still gets in, and first.
  const flood = Array.from({ length: 20 }, (_, i) => as(`10.${i}.0.0/24`, false));
  const owner = as('198.51.100.0/24', true);
  const results = await Promise.allSettled([...flood, owner]);
  assert.equal(results.at(-1)!.status, 'fulfilled');
  assert.equal(results.slice(0, 20).filter((r) => r.status === 'fulfilled').length, 6);
  assert.equal(peak, 3, 'two general slots and the reserved one');
  assert.equal(await work(), 'done', 'slots are given back');
});

test('the owner logs in while 40 strangers keep logins in flight from fresh /64s (the review probe, 6 s)', async (t) => {
  const v = await unsealedVault(t);
  const created = await v.app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: bearer(v.rootToken), payload: { name: 'alice', password: 'alice-password', groups: [] } });
  assert.equal(created.statusCode, 200, created.body);
  let n = 0;
  const owner: number[] = [];
  const stop = Date.now() + 6_000;
  const attacker = async () => {
    while (Date.now() < stop) {
      const i = n++;
      await v.app.api.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::9`, payload: { username: `u${i}`, password: 'x' } });
    }
  };
  const legitimate = async () => {
    while (Date.now() < stop) {
      const r = await v.app.api.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: '198.51.100.7', payload: { username: 'alice', password: 'alice-password' } });
      owner.push(r.statusCode);
      await sleep(500);
    }
  };
  await Promise.all([...Array.from({ length: 40 }, attacker), legitimate()]);
  const ok = owner.filter((s) => s === 200).length;
  t.diagnostic(`attacker requests ${n}; owner logins ${ok}/${owner.length} succeeded`);
  assert.ok(owner.length >= 3);
  // The very first login may wait behind the flood as any stranger; every one after it is a known pair.
  assert.ok(ok >= owner.length - 1, JSON.stringify(owner));
});
