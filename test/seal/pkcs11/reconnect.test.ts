/**
 * Reconnecting after real faults, produced with SoftHSM2 itself (no mocks):
 *
 * - every session closed behind the client's back (C_CloseAllSessions from a
 *   second pkcs11js object on the same library: dlopen() shares the state);
 * - the library finalised behind its back (C_Finalize, "the module went away");
 * - the token itself going away and coming back (its directory moved out of
 *   SoftHSM2's token directory and back; SoftHSM2 rescans in C_Initialize).
 *
 * Contract (pkcs11-client.ts): the call that meets the fault fails with
 * KH_HSM_UNAVAILABLE; later calls re-initialise, find the token (same
 * serial) and log in again; keys are found again by label and CKA_ID.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pkcs11js from 'pkcs11js';
import { KeyholdError } from '../../../src/errors.js';
import { Pkcs11Client } from '../../../src/seal/pkcs11/pkcs11-client.js';
import { bytes, faultInjector, openTestHsm, rejectsWith, throwsWith } from './softhsm-client.js';

const P = pkcs11js;

test('after every session is closed behind its back, one call fails KH_HSM_UNAVAILABLE and the next reconnects', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client, token } = hsm;
  const key = await client.generateAesKey('rc-sessions');
  const sealed = await client.aesGcmEncrypt(key, bytes('before the fault'));
  const injector = faultInjector(token);
  for (let round = 0; round < 3; round++) {
    injector.api.C_CloseAllSessions(injector.slot);
    await rejectsWith(client.aesGcmDecrypt(key, sealed.iv, sealed.ciphertext), 'KH_HSM_UNAVAILABLE', /CKR_SESSION_HANDLE_INVALID/);
    assert.deepEqual(await client.aesGcmDecrypt(key, sealed.iv, sealed.ciphertext), bytes('before the fault'), `round ${round}`);
  }
});

test('after the library is finalised behind its back, the client initialises it again and logs in', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client, token } = hsm;
  const pair = await client.generateEcKeyPair('rc-finalize', 'P-256');
  const injector = faultInjector(token);
  injector.api.C_Finalize();
  await rejectsWith(client.sign(pair.privateKey, 'ECDSA-SHA256', bytes('m')), 'KH_HSM_UNAVAILABLE', /CKR_CRYPTOKI_NOT_INITIALIZED/);
  const sig = await client.sign(pair.privateKey, 'ECDSA-SHA256', bytes('m'));
  assert.equal(await client.verify(pair.publicKey, 'ECDSA-SHA256', bytes('m'), sig), true);
  // Keys made before the fault are found again, and new ones can be made.
  assert.ok(await client.findKey('rc-finalize', 'public'));
  assert.ok(await client.generateAesKey('rc-finalize-after'));
});

test('a token that goes away makes calls fail KH_HSM_UNAVAILABLE until it comes back; then old ciphertexts decrypt again', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client, token } = hsm;
  const key = await client.generateAesKey('rc-token');
  const sealed = await client.aesGcmEncrypt(key, bytes('the root key'), bytes('aad'));
  // Out of the token directory: SoftHSM2 loads every subdirectory of it,
  // whatever its name, so a rename inside it would not remove the token.
  const away = join(token.dir, 'token-away');
  renameSync(token.tokenPath, away);
  let back = false;
  t.after(() => {
    if (!back) renameSync(away, token.tokenPath);
  });
  // The cached key handle is stale, the key is not found, and the token no
  // longer answers C_GetTokenInfo: a fault, not "no such key".
  await rejectsWith(client.aesGcmDecrypt(key, sealed.iv, sealed.ciphertext, bytes('aad')), 'KH_HSM_UNAVAILABLE');
  // Reconnect attempts while it is away: re-initialised, token not found.
  for (let i = 0; i < 3; i++) {
    await rejectsWith(client.aesGcmDecrypt(key, sealed.iv, sealed.ciphertext, bytes('aad')), 'KH_HSM_UNAVAILABLE', /No initialised token/);
  }
  throwsWith(() => client.generateRandomSync(8), 'KH_HSM_UNAVAILABLE');
  renameSync(away, token.tokenPath);
  back = true;
  assert.deepEqual(await client.aesGcmDecrypt(key, sealed.iv, sealed.ciphertext, bytes('aad')), bytes('the root key'));
  assert.equal((await client.generateRandom(8)).length, 8);
  assert.equal(client.generateRandomSync(8).length, 8);
});

test('a second client on the same library recovers without an error of its own when the first one re-initialises', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client: a, token } = hsm;
  const b = await Pkcs11Client.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin });
  t.after(() => b.close());
  const key = await a.generateAesKey('rc-shared');
  const sealed = await b.aesGcmEncrypt(key, bytes('shared'));
  faultInjector(token).api.C_CloseAllSessions(faultInjector(token).slot);
  await rejectsWith(a.generateRandom(8), 'KH_HSM_UNAVAILABLE');
  // a re-initialises the library (C_Finalize + C_Initialize) on its next call...
  assert.equal((await a.generateRandom(8)).length, 8);
  // ...and b, idle meanwhile, sees the new generation and simply reopens its sessions.
  assert.deepEqual(await b.aesGcmDecrypt(key, sealed.iv, sealed.ciphertext), bytes('shared'));
  assert.deepEqual(await a.aesGcmDecrypt(key, sealed.iv, sealed.ciphertext), bytes('shared'));
});

test('a fault in the middle of many queued operations fails some of them; waiting callers recover and everything after works', async (t) => {
  const hsm = await openTestHsm(t, { maxSessions: 4 });
  if (!hsm) return;
  const { client, token } = hsm;
  const pair = await client.generateEcKeyPair('rc-parallel', 'P-384');
  const injector = faultInjector(token);
  // Only operations whose PKCS#11 calls are synchronous (find, attributes,
  // random) run here, so the injected C_CloseAllSessions never races a call
  // on a worker thread: SoftHSM2 frees a session that another thread is
  // still inside (a crash, seen with C_Sign). The client itself never closes
  // or finalises while a call is in flight (pkcs11-module.ts).
  const work = (i: number): Promise<unknown> =>
    i === 10
      ? client.withSession(() => injector.api.C_CloseAllSessions(injector.slot))
      : i % 3 === 0
        ? client.generateRandom(16)
        : i % 3 === 1
          ? client.findKey('rc-parallel', 'private')
          : client.publicKeySpki(pair.publicKey);
  const results = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => work(i)));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  for (const r of failed) {
    assert.ok(r.reason instanceof KeyholdError && r.reason.code === 'KH_HSM_UNAVAILABLE', `unexpected failure: ${String(r.reason)}`);
  }
  assert.ok(failed.length >= 1 && failed.length <= 4, `${failed.length} calls met the fault (at most one per pooled session)`);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 60 - failed.length);
  t.diagnostic(`${failed.length} of 60 calls met the fault`);
  const again = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => (i === 10 ? client.generateRandom(1) : work(i))));
  assert.deepEqual(
    again.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String(r.reason)),
    [],
  );
  const sig = await client.sign(pair.privateKey, 'ECDSA-SHA384', bytes('m'));
  assert.equal(await client.verify(pair.publicKey, 'ECDSA-SHA384', bytes('m'), sig), true);
});

test('a PIN refused during a reconnect is not tried again: the client fails KH_HSM_LOGIN_FAILED until reopened', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client, token } = hsm;
  const api = await client.withSession(({ api }) => api);
  const injector = faultInjector(token);
  // Change the user PIN behind the client's back (login state is shared, so
  // this session is already logged in as the user).
  const session = injector.api.C_OpenSession(injector.slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
  injector.api.C_SetPIN(session, token.pin, 'a-new-pin');
  injector.api.C_CloseAllSessions(injector.slot);
  let logins = 0;
  const login = api.C_Login.bind(api);
  api.C_Login = (...args: Parameters<typeof api.C_Login>) => {
    logins++;
    login(...args);
  };
  t.after(() => {
    delete (api as Partial<typeof api>).C_Login;
  });
  await rejectsWith(client.generateRandom(8), 'KH_HSM_UNAVAILABLE');
  const refused = await rejectsWith(client.generateRandom(8), 'KH_HSM_LOGIN_FAILED', /CKR_PIN_INCORRECT/);
  assert.ok(!refused.message.includes(token.pin) && !refused.message.includes('a-new-pin'));
  assert.equal(logins, 1);
  for (let i = 0; i < 5; i++) await rejectsWith(client.generateRandom(8), 'KH_HSM_LOGIN_FAILED');
  throwsWith(() => client.generateRandomSync(8), 'KH_HSM_LOGIN_FAILED');
  assert.equal(logins, 1, 'the refused PIN was tried again');
  const reopened = await Pkcs11Client.open({ module: token.module, tokenLabel: token.tokenLabel, pin: 'a-new-pin' });
  t.after(() => reopened.close());
  assert.equal((await reopened.generateRandom(8)).length, 8);
});

test('generateRandomSync, which cannot wait, fails while a reconnect is due and starts it in the background', async (t) => {
  const hsm = await openTestHsm(t);
  if (!hsm) return;
  const { client, token } = hsm;
  assert.equal(client.generateRandomSync(8).length, 8);
  const injector = faultInjector(token);
  injector.api.C_CloseAllSessions(injector.slot);
  throwsWith(() => client.generateRandomSync(8), 'KH_HSM_UNAVAILABLE', /CKR_SESSION_HANDLE_INVALID/);
  throwsWith(() => client.generateRandomSync(8), 'KH_HSM_UNAVAILABLE', /being re-established/);
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      assert.equal(client.generateRandomSync(8).length, 8);
      break;
    } catch (error) {
      assert.ok(error instanceof KeyholdError && error.code === 'KH_HSM_UNAVAILABLE', String(error));
      assert.ok(Date.now() < deadline, 'the background reconnect did not finish');
      await sleep(5);
    }
  }
});
