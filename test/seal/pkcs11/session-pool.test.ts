/**
 * The session pool: concurrent operations never share a session, the pool
 * never grows past maxSessions, a session left with an active operation is
 * not reused, slow calls do not block the event loop; and the token RNG.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import pkcs11js from 'pkcs11js';
import type { GcmParams } from 'pkcs11js';
import { bytes, openTestHsm, rejectsWith, toHex } from './softhsm-client.js';

const P = pkcs11js;

test('many parallel operations of every kind succeed on a pool of 3 sessions', async (t) => {
  const hsm = await openTestHsm(t, { maxSessions: 3 });
  if (!hsm) return;
  const { client } = hsm;
  const aes = await client.generateAesKey('pool-aes');
  const ec = await client.generateEcKeyPair('pool-ec', 'P-256');
  const rsa = await client.generateRsaKeyPair('pool-rsa', 2048);
  const jobs = Array.from({ length: 90 }, async (_, i) => {
    const message = bytes(`job ${i}`);
    switch (i % 5) {
      case 0: {
        const sealed = await client.aesGcmEncrypt(aes, message, bytes(String(i)));
        assert.deepEqual(await client.aesGcmDecrypt(aes, sealed.iv, sealed.ciphertext, bytes(String(i))), message);
        return;
      }
      case 1: {
        const sig = await client.sign(ec.privateKey, 'ECDSA-SHA256', message);
        assert.equal(await client.verify(ec.publicKey, 'ECDSA-SHA256', message, sig), true);
        return;
      }
      case 2: {
        const ct = await client.rsaOaepEncrypt(rsa.publicKey, message, { hash: 'SHA-1' });
        assert.deepEqual(await client.rsaOaepDecrypt(rsa.privateKey, ct, { hash: 'SHA-1' }), message);
        return;
      }
      case 3:
        assert.equal((await client.generateRandom(32)).length, 32);
        return;
      default:
        assert.equal((await client.findKey('pool-aes', 'secret'))?.label, 'pool-aes');
    }
  });
  await Promise.all(jobs);
});

test('withSession lends each session to one caller at a time and opens at most maxSessions', async (t) => {
  const hsm = await openTestHsm(t, { maxSessions: 3 });
  if (!hsm) return;
  const { client } = hsm;
  let inFlight = 0;
  let peak = 0;
  const holders = new Map<string, number>();
  const seen = new Set<string>();
  await Promise.all(
    Array.from({ length: 24 }, () =>
      client.withSession(async ({ handle }) => {
        const id = toHex(handle);
        assert.equal(holders.get(id) ?? 0, 0, 'a session was lent twice at once');
        holders.set(id, 1);
        seen.add(id);
        inFlight++;
        peak = Math.max(peak, inFlight);
        await sleep(5);
        inFlight--;
        holders.set(id, 0);
      }),
    ),
  );
  assert.equal(peak, 3);
  assert.ok(seen.size <= 3, `${seen.size} sessions opened`);
});

test('a session whose caller failed mid-operation is closed, not handed to the next caller', async (t) => {
  const hsm = await openTestHsm(t, { maxSessions: 1 });
  if (!hsm) return;
  const { client } = hsm;
  const key = await client.generateAesKey('pool-poison');
  let poisoned: Buffer | undefined;
  await assert.rejects(
    client.withSession(({ api, handle }) => {
      poisoned = handle;
      const [object] = (() => {
        api.C_FindObjectsInit(handle, [{ type: P.CKA_LABEL, value: 'pool-poison' }]);
        const found = api.C_FindObjects(handle, 1);
        api.C_FindObjectsFinal(handle);
        return found;
      })();
      // Leaves an encrypt operation active in this session, then fails.
      const params: GcmParams = { type: P.CK_PARAMS_AES_GCM_v240, iv: Buffer.alloc(12), ivBits: 96, tagBits: 128 };
      api.C_EncryptInit(handle, { mechanism: P.CKM_AES_GCM, parameter: params }, object!);
      throw new Error('caller bug');
    }),
    /caller bug/,
  );
  // With one session in the pool, the next call would hit CKR_OPERATION_ACTIVE
  // had the session been reused.
  for (let i = 0; i < 3; i++) {
    const sealed = await client.aesGcmEncrypt(key, bytes('after'));
    assert.deepEqual(await client.aesGcmDecrypt(key, sealed.iv, sealed.ciphertext), bytes('after'));
  }
  const next = await client.withSession(({ handle }) => toHex(handle));
  assert.ok(poisoned);
  await client.withSession(({ api }) => assert.throws(() => api.C_GetSessionInfo(poisoned!), /CKR_SESSION_HANDLE_INVALID/));
  assert.equal(typeof next, 'string');
});

test('withSession turns raw pkcs11js errors into KeyholdErrors naming the function and return value', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  await rejectsWith(
    client.withSession(({ api, handle }) => api.C_GetAttributeValue(handle, Buffer.from([0xff, 0xff, 0, 0, 0, 0, 0, 0]), [{ type: P.CKA_LABEL }])),
    'KH_HSM_OPERATION_FAILED',
    /C_GetAttributeValue failed: .*CKR_OBJECT_HANDLE_INVALID/,
  );
  assert.equal((await client.generateRandom(8)).length, 8);
});

test('slow calls run off the event loop: timers keep firing during RSA key generation', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    const started = Date.now();
    await client.generateRsaKeyPair('pool-slow', 3072);
    t.diagnostic(`RSA-3072 generation took ${Date.now() - started} ms, ${ticks} timer ticks meanwhile`);
  } finally {
    clearInterval(timer);
  }
  // A synchronous call would have returned before any timer could run.
  assert.ok(ticks > 0, 'the event loop was blocked during key generation');
});

test('generateRandom and generateRandomSync return fresh bytes of the asked length and refuse bad lengths', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client } = hsm;
  for (const n of [1, 16, 32, 1000, 65536]) {
    assert.equal((await client.generateRandom(n)).length, n);
    assert.equal(client.generateRandomSync(n).length, n);
  }
  const draws = new Set<string>();
  for (let i = 0; i < 100; i++) {
    draws.add(toHex(await client.generateRandom(32)));
    draws.add(toHex(client.generateRandomSync(32)));
  }
  assert.equal(draws.size, 200);
  // Not a constant fill: 64 KiB of output has (nearly) every byte value.
  assert.ok(new Set(await client.generateRandom(65536)).size > 250);
  for (const bad of [0, -1, 1.5, 65537, Number.NaN]) {
    await assert.rejects(client.generateRandom(bad), TypeError, String(bad));
    assert.throws(() => client.generateRandomSync(bad), TypeError, String(bad));
  }
  // The synchronous path works while every pooled session is busy.
  const busy = Promise.all([client.withSession(() => sleep(20)), client.withSession(() => sleep(20)), client.withSession(() => sleep(20)), client.withSession(() => sleep(20))]);
  assert.equal(client.generateRandomSync(16).length, 16);
  await busy;
});
