/**
 * Pkcs11Client.open(): finding the token by label or slot ID, logging in,
 * and the KH_HSM_* code of each way it can fail (pkcs11-client.ts contract).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { KeyholdError } from '../../../src/errors.js';
import { Pkcs11Client } from '../../../src/seal/pkcs11/pkcs11-client.js';
import { softHsmToken } from '../../helpers/softhsm.js';
import { rejectsWith } from './softhsm-client.js';

test('opens a token by label and by slot ID, and reports the same token', async (t) => {
  const token = softHsmToken(t);
  if (!token) return;
  const byLabel = await Pkcs11Client.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin });
  t.after(() => byLabel.close());
  const bySlot = await Pkcs11Client.open({ module: token.module, slot: token.slot, pin: token.pin });
  t.after(() => bySlot.close());
  assert.equal(byLabel.token.label, token.tokenLabel);
  assert.equal(byLabel.token.slotId, token.slot);
  assert.equal(byLabel.token.manufacturer, 'SoftHSM project');
  assert.match(byLabel.token.serialNumber, /^[0-9a-f]{16}$/);
  assert.deepEqual(bySlot.token, byLabel.token);
  // Both work at once: login state is shared per token, so the second login is "already logged in".
  assert.equal((await byLabel.generateRandom(16)).length, 16);
  assert.equal((await bySlot.generateRandom(16)).length, 16);
});

test('closing one client leaves another on the same token logged in', async (t) => {
  const token = softHsmToken(t);
  if (!token) return;
  const a = await Pkcs11Client.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin });
  const b = await Pkcs11Client.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin });
  t.after(() => b.close());
  const key = await b.generateAesKey('still-usable');
  await a.close();
  await a.close(); // idempotent
  const sealed = await b.aesGcmEncrypt(key, new Uint8Array([1, 2, 3]));
  assert.deepEqual(await b.aesGcmDecrypt(key, sealed.iv, sealed.ciphertext), new Uint8Array([1, 2, 3]));
  await rejectsWith(a.generateRandom(8), 'KH_HSM_UNAVAILABLE', /closed/);
});

test('a wrong PIN is KH_HSM_LOGIN_FAILED, the PIN appears nowhere in the error, and the right PIN still works', async (t) => {
  const token = softHsmToken(t);
  if (!token) return;
  const wrong = 'wrong-pin-7f3a9c';
  const err = await rejectsWith(Pkcs11Client.open({ module: token.module, tokenLabel: token.tokenLabel, pin: wrong }), 'KH_HSM_LOGIN_FAILED', /CKR_PIN_INCORRECT/);
  const everything = [err.message, err.stack, String(err.cause), (err.cause as Error).stack, JSON.stringify(err), JSON.stringify(err.cause)].join('\n');
  assert.ok(!everything.includes(wrong), 'the wrong PIN leaked into the error');
  assert.ok(!everything.includes(token.pin), 'the real PIN leaked into the error');
  const ok = await Pkcs11Client.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin });
  await ok.close();
});

test('an unknown label, an unknown slot and an uninitialised token are KH_HSM_TOKEN_NOT_FOUND', async (t) => {
  const token = softHsmToken(t);
  if (!token) return;
  await rejectsWith(Pkcs11Client.open({ module: token.module, tokenLabel: 'no-such-token', pin: token.pin }), 'KH_HSM_TOKEN_NOT_FOUND', /no-such-token/);
  await rejectsWith(Pkcs11Client.open({ module: token.module, slot: 987654321, pin: token.pin }), 'KH_HSM_TOKEN_NOT_FOUND', /slot 987654321/);
  // SoftHSM2 always offers one free slot with an uninitialised token.
  const show = spawnSync('softhsm2-util', ['--show-slots'], { encoding: 'utf8', env: { ...process.env, SOFTHSM2_CONF: token.conf } });
  const free = /Slot (\d+)\n(?:(?!Slot \d).*\n)*?\s+Initialized:\s+no/.exec(show.stdout)?.[1];
  assert.ok(free, `no free slot in:\n${show.stdout}`);
  await rejectsWith(Pkcs11Client.open({ module: token.module, slot: Number(free), pin: token.pin }), 'KH_HSM_TOKEN_NOT_FOUND');
});

test('a missing module, a relative path and libraries that are not PKCS#11 are KH_HSM_MODULE_INVALID', async (t) => {
  const token = softHsmToken(t);
  if (!token) return;
  const pin = token.pin;
  await rejectsWith(Pkcs11Client.open({ module: '/nonexistent/libpkcs11.so', tokenLabel: 'x', pin }), 'KH_HSM_MODULE_INVALID', /does not exist/);
  await rejectsWith(Pkcs11Client.open({ module: 'libsofthsm2.so', tokenLabel: 'x', pin }), 'KH_HSM_MODULE_INVALID', /absolute/);
  // A file that is not a shared object at all.
  await rejectsWith(Pkcs11Client.open({ module: token.conf, tokenLabel: 'x', pin }), 'KH_HSM_MODULE_INVALID', /not a loadable PKCS#11 library/);
  // Real shared objects without C_GetFunctionList. pkcs11js keeps a half-loaded
  // object for these that crashes the process if used: this process surviving
  // to the next line is part of the test.
  const libraries = ['/lib/x86_64-linux-gnu/libz.so.1', '/usr/lib/x86_64-linux-gnu/libz.so.1', '/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'].filter((p) => existsSync(p));
  assert.ok(libraries.length > 0, 'no libz or libc found to load');
  for (const module of libraries) {
    await rejectsWith(Pkcs11Client.open({ module, tokenLabel: 'x', pin }), 'KH_HSM_MODULE_INVALID', /not a loadable PKCS#11 library/);
  }
  const ok = await Pkcs11Client.open({ module: token.module, tokenLabel: token.tokenLabel, pin });
  assert.equal((await ok.generateRandom(4)).length, 4);
  await ok.close();
});

test('malformed options are TypeErrors, before anything is loaded', async () => {
  const module = '/usr/lib/softhsm/libsofthsm2.so';
  await assert.rejects(Pkcs11Client.open({ module, pin: '1234' }), TypeError);
  await assert.rejects(Pkcs11Client.open({ module, slot: 0, tokenLabel: 'a', pin: '1234' }), TypeError);
  await assert.rejects(Pkcs11Client.open({ module, tokenLabel: 'a', pin: '' }), TypeError);
  await assert.rejects(Pkcs11Client.open({ module, tokenLabel: '', pin: '1234' }), TypeError);
  await assert.rejects(Pkcs11Client.open({ module, tokenLabel: 'x'.repeat(33), pin: '1234' }), TypeError);
  await assert.rejects(Pkcs11Client.open({ module, slot: -1, pin: '1234' }), TypeError);
  await assert.rejects(Pkcs11Client.open({ module, slot: 1.5, pin: '1234' }), TypeError);
  await assert.rejects(Pkcs11Client.open({ module, tokenLabel: 'a', pin: '1234', maxSessions: 0 }), TypeError);
  const err = await Pkcs11Client.open({ module: '', tokenLabel: 'a', pin: '1234' }).catch((e: unknown) => e);
  assert.ok(err instanceof TypeError && !(err instanceof KeyholdError));
});
