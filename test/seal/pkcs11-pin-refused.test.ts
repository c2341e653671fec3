/**
 * Issue 15 L7: a real HSM locks its user PIN after a few wrong tries, so a
 * PIN the HSM refused (CKR_PIN_INCORRECT, CKR_PIN_LOCKED, CKR_PIN_EXPIRED, ...)
 * is never presented again by the process: automatic unseal stops and says
 * so (log, seal-status, metric), and neither an operator's unseal nor the
 * entropy mixer logs in again. Against SoftHSM2, counting C_Login calls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold } from '../../src/api/keyhold-app.js';
import { LoadedModule } from '../../src/seal/pkcs11/pkcs11-module.js';
import { AutoUnsealer } from '../../src/seal/auto-unseal.js';
import type { SealManager } from '../../src/seal/seal-manager.js';
import { KeyholdError } from '../../src/errors.js';
import { tempDir } from '../helpers/temp-dir.js';
import { softHsmToken } from '../helpers/softhsm.js';

const PIN_ENV = 'KEYHOLD_TEST_PIN_REFUSED';

test('L7: a wrong HSM PIN is tried once: auto-unseal stops, says why in seal-status and metrics, and no later call logs in again', async (t) => {
  const token = softHsmToken(t);
  if (!token) return;
  const db = join(tempDir(t), 'k.db');
  const config = (pin: string) => {
    process.env[PIN_ENV] = pin;
    return resolveConfig({
      storage: { path: db },
      log: { level: 'silent' },
      seal: { type: 'pkcs11', pkcs11: { module: token.module, tokenLabel: token.tokenLabel, pinEnv: PIN_ENV, keyLabel: 'root-wrap', generateKey: true } },
    });
  };
  const good = await buildKeyhold(config(token.pin), { logger: false });
  const init = (await good.api.inject({ method: 'POST', url: '/v1/sys/init', payload: { shares: 1, threshold: 1 } })).json();
  await good.close();

  // Count every C_Login the process makes (one module object per library per process).
  const mod = LoadedModule.acquire(token.module);
  t.after(() => mod.release());
  let logins = 0;
  const login = mod.api.C_Login.bind(mod.api);
  mod.api.C_Login = (...args: Parameters<typeof mod.api.C_Login>) => {
    logins++;
    login(...args);
  };
  t.after(() => {
    delete (mod.api as Partial<typeof mod.api>).C_Login;
  });

  const app = await buildKeyhold(config('not-the-pin'), { logger: false });
  t.after(() => app.close());
  // The first automatic retry would come after 1 s, the next after 2 s more.
  await sleep(3500);
  assert.equal(logins, 1, 'auto-unseal presented the refused PIN again');
  const status = (await app.api.inject({ url: '/v1/sys/seal-status' })).json();
  assert.equal(status.sealed, true);
  assert.equal(status.autoUnseal?.state, 'stopped', JSON.stringify(status));
  assert.equal(status.autoUnseal?.code, 'KH_HSM_LOGIN_FAILED');
  assert.match(String(status.autoUnseal?.message), /CKR_PIN_INCORRECT/);
  assert.ok(!JSON.stringify(status).includes('not-the-pin') && !JSON.stringify(status).includes(token.pin), 'no PIN in the status');
  assert.match((await app.health.inject({ url: '/metrics' })).body, /keyhold_auto_unseal_failing 1/);
  // An operator's recovery share, or the entropy mixer, does not log in again either.
  const r = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: init.shares[0] } });
  assert.equal(r.json().error?.code, 'KH_HSM_LOGIN_FAILED', r.body);
  assert.equal(logins, 1, 'an unseal presented the refused PIN again');
  assert.equal((await app.api.inject({ url: '/v1/sys/seal-status' })).json().sealed, true);
});

test('L7: auto-unseal retries what may pass (an HSM away) but stops at a refused PIN, and logs it as an error', async () => {
  const logged: { level: string; obj: unknown; msg: string }[] = [];
  const log = {
    info: (msg: string) => logged.push({ level: 'info', obj: undefined, msg }),
    warn: (obj: unknown, msg: string) => logged.push({ level: 'warn', obj, msg }),
    error: (obj: unknown, msg: string) => logged.push({ level: 'error', obj, msg }),
  };
  const failures = [new KeyholdError('KH_HSM_UNAVAILABLE', 'PKCS#11 C_OpenSession failed: the HSM is unavailable (CKR_TOKEN_NOT_PRESENT)'), new KeyholdError('KH_HSM_LOGIN_FAILED', 'PKCS#11 C_Login failed: the HSM refused the PIN (CKR_PIN_LOCKED)')];
  let calls = 0;
  const reports: unknown[] = [];
  const seal = {
    sealed: true,
    configuredType: 'pkcs11',
    autoUnseal: () => {
      calls++;
      const e = failures.shift();
      return e === undefined ? Promise.resolve(true) : Promise.reject(e);
    },
    reportAutoUnseal: (r: unknown) => reports.push(r),
  } as unknown as SealManager;
  const unsealer = new AutoUnsealer(seal, log, { minDelayMs: 10, maxDelayMs: 20 });
  await unsealer.start();
  await sleep(300);
  await unsealer.stop();
  assert.equal(calls, 2, 'retried after KH_HSM_UNAVAILABLE, not after KH_HSM_LOGIN_FAILED');
  assert.equal(unsealer.lastError, 'KH_HSM_LOGIN_FAILED');
  assert.deepEqual(logged.map((l) => l.level), ['warn', 'error']);
  assert.match(logged[1]!.msg, /not retried/);
  assert.deepEqual(reports.at(-1), { state: 'stopped', code: 'KH_HSM_LOGIN_FAILED', message: 'PKCS#11 C_Login failed: the HSM refused the PIN (CKR_PIN_LOCKED)' });
});
