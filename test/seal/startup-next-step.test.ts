/**
 * The server's startup line never tells the operator to unseal a node that
 * unsealed itself (HSM and enclave seals), and says why an automatic seal
 * is still sealed; a Shamir node is told to unseal. Statuses come from real
 * seals: SoftHSM2 and the simulated enclave.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold, type KeyholdApp } from '../../src/api/keyhold-app.js';
import { nextStep } from '../../src/cli/next-step.js';
import { softHsmToken, type SoftHsmToken } from '../helpers/softhsm.js';
import { tempDir } from '../helpers/temp-dir.js';

const PIN_ENV = 'KEYHOLD_TEST_HSM_PIN';

function hsmConfig(db: string, token: SoftHsmToken) {
  process.env[PIN_ENV] = token.pin;
  return resolveConfig({
    storage: { path: db },
    log: { level: 'silent' },
    seal: { type: 'pkcs11', pkcs11: { module: token.module, tokenLabel: token.tokenLabel, pinEnv: PIN_ENV, keyLabel: 'root-wrap', generateKey: true } },
  });
}

async function open(t: TestContext, config: ReturnType<typeof resolveConfig>): Promise<KeyholdApp> {
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  return app;
}

async function init(app: KeyholdApp): Promise<void> {
  const res = await app.api.inject({ method: 'POST', url: '/v1/sys/init', payload: { shares: 1, threshold: 1 } });
  assert.equal(res.statusCode, 200, res.body);
}

const line = async (app: KeyholdApp) => nextStep(await app.services.seal.status());

test('an HSM-sealed node that unsealed itself is not told to unseal; one whose token is away says it retries', async (t) => {
  const token = softHsmToken(t);
  if (!token) return;
  const db = join(tempDir(t), 'k.db');
  const first = await open(t, hsmConfig(db, token));
  assert.match(await line(first), /^not initialized: run `keyhold operator init`/);
  await init(first);
  await first.close();

  const restarted = await open(t, hsmConfig(db, token));
  const said = await line(restarted);
  assert.equal(said, 'unsealed by the pkcs11 seal; it unseals itself at every start');
  await restarted.close();

  const away = join(token.dir, `away-${token.tokenLabel}`);
  renameSync(token.tokenPath, away);
  t.after(() => renameSync(away, token.tokenPath));
  const tokenless = await open(t, hsmConfig(db, token));
  const sealed = await line(tokenless);
  assert.match(sealed, /^sealed: automatic unseal by the pkcs11 seal failed \(KH_HSM_\w+\) and is retried/);
  assert.ok(!sealed.includes('operator unseal'), sealed);
});

test('an enclave-sealed node that unsealed itself is not told to unseal; a Shamir node is', async (t) => {
  const dir = tempDir(t);
  const config = resolveConfig({
    storage: { path: join(dir, 'k.db') },
    log: { level: 'silent' },
    seal: { type: 'enclave' },
    enclave: { provider: 'simulated', simulated: { rootDir: join(dir, 'enclave-sim') } },
  });
  const first = await open(t, config);
  await init(first);
  await first.close();
  assert.equal(await line(await open(t, config)), 'unsealed by the enclave seal; it unseals itself at every start');

  const shamir = resolveConfig({ storage: { path: join(tempDir(t), 'k.db') }, log: { level: 'silent' } });
  const plain = await open(t, shamir);
  await init(plain);
  await plain.close();
  assert.equal(await line(await open(t, shamir)), 'sealed: run `keyhold operator unseal`');
});
