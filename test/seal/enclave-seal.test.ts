/**
 * The enclave seal with the simulated enclave: the root key is wrapped by
 * HKDF-SHA-256(sealing secret, PCR0 || PCR1 || PCR2, "keyhold enclave seal v1"),
 * so the node unseals itself at start; another build (other PCRs, injected
 * through BuildOptions.attestationProvider) stays sealed with
 * KH_SEAL_MEASUREMENT_MISMATCH until a recovery quorum re-binds the root key
 * or migrates it to Shamir; providers without a sealing key are refused.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold, type BuildOptions, type KeyholdApp } from '../../src/api/keyhold-app.js';
import { createSimulatedProvider } from '../../src/attestation/simulated/simulated-provider.js';
import { measureBuild } from '../../src/attestation/simulated/measure.js';
import { ROOT_KEY_FILE } from '../../src/attestation/simulated/simulated-root.js';
import { SEALING_SECRET_FILE } from '../../src/attestation/simulated/sealing-secret.js';
import type { AttestationProvider } from '../../src/attestation/provider.js';
import { KeyholdError } from '../../src/errors.js';
import { bearer } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';

type Config = ReturnType<typeof resolveConfig>;

function enclaveConfig(dir: string, seal: object = {}): Config {
  return resolveConfig({
    storage: { path: join(dir, 'k.db') },
    log: { level: 'silent' },
    seal: { type: 'enclave', ...seal },
    enclave: { provider: 'simulated', simulated: { rootDir: join(dir, 'enclave-sim') } },
  });
}

async function open(t: TestContext, config: Config, options: BuildOptions = {}): Promise<KeyholdApp> {
  const app = await buildKeyhold(config, { logger: false, ...options });
  t.after(() => app.close());
  return app;
}

/** The measurements of the running build, with PCR2 (the code) changed and PCR0 recomputed: "another build". */
function otherBuildPcrs(): Map<number, Uint8Array> {
  const pcrs = new Map(measureBuild().pcrs);
  const pcr2 = new Uint8Array(createHash('sha384').update('a different build of keyhold').digest());
  pcrs.set(2, pcr2);
  pcrs.set(0, new Uint8Array(createHash('sha384').update(Buffer.concat([pcrs.get(1)!, pcr2])).digest()));
  return pcrs;
}

function otherBuild(config: Config): Promise<AttestationProvider> {
  return createSimulatedProvider({ rootDir: config.enclave.simulated.rootDir!, pcrs: otherBuildPcrs() });
}

/** A logger that keeps its JSON lines. */
function capturingLogger(): { lines: Record<string, unknown>[]; logger: NonNullable<BuildOptions['logger']> } {
  const lines: Record<string, unknown>[] = [];
  // Fastify passes `stream` on to pino; pino's option type does not declare it.
  const logger = { level: 'info', stream: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } } as unknown as NonNullable<BuildOptions['logger']>;
  return { lines, logger };
}

const status = async (app: KeyholdApp) => (await app.api.inject({ url: '/v1/sys/seal-status' })).json();

async function unseal(app: KeyholdApp, keys: string[], migrate = false) {
  let last: { statusCode: number; json: () => { sealed?: boolean; error?: { code: string; message: string } }; body: string } | undefined;
  for (const key of keys) last = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key, ...(migrate ? { migrate: true } : {}) } });
  return last!;
}

async function writeAndEncrypt(app: KeyholdApp, token: string): Promise<string> {
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(token), payload: { name: 'survivor' } })).statusCode, 200);
  const enc = await app.api.inject({ method: 'POST', url: '/v1/keys/survivor/encrypt', headers: bearer(token), payload: { plaintext: Buffer.from('kept across builds').toString('base64') } });
  assert.equal(enc.statusCode, 200, enc.body);
  return enc.json().ciphertext as string;
}

async function decrypts(app: KeyholdApp, token: string, ciphertext: string): Promise<void> {
  const dec = await app.api.inject({ method: 'POST', url: '/v1/keys/survivor/decrypt', headers: bearer(token), payload: { ciphertext } });
  assert.equal(dec.statusCode, 200, dec.body);
  assert.equal(Buffer.from(dec.json().plaintext, 'base64').toString(), 'kept across builds');
}

async function initialise(app: KeyholdApp): Promise<{ shares: string[]; rootToken: string }> {
  const init = await app.api.inject({ method: 'POST', url: '/v1/sys/init', payload: { shares: 3, threshold: 2 } });
  assert.equal(init.statusCode, 200, init.body);
  assert.equal(init.json().recoveryShares, true);
  return init.json();
}

/** A vault on the enclave seal (this build), initialised, holding a key "survivor" and one ciphertext of it, then closed. */
async function initialisedAndClosed(t: TestContext) {
  const dir = tempDir(t);
  const config = enclaveConfig(dir);
  const first = await open(t, config);
  const init = await initialise(first);
  const ciphertext = await writeAndEncrypt(first, init.rootToken);
  await first.close();
  return { dir, config, init, ciphertext };
}

async function sealConfig(app: KeyholdApp): Promise<{ type: string; enclave?: Record<string, string>; [k: string]: unknown }> {
  return JSON.parse(new TextDecoder().decode(await app.services.backend.get('core/seal-config')));
}

const hex = (pcrs: ReadonlyMap<number, Uint8Array>) => ({ pcr0: Buffer.from(pcrs.get(0)!).toString('hex'), pcr1: Buffer.from(pcrs.get(1)!).toString('hex'), pcr2: Buffer.from(pcrs.get(2)!).toString('hex') });

/** Unwraps core/root-key independently of the seal code, from the documented derivation. */
async function unwrapIndependently(app: KeyholdApp, secret: Buffer, pcrs: ReadonlyMap<number, Uint8Array>): Promise<{ kek: Buffer; rootKey: Buffer }> {
  const kek = Buffer.from(hkdfSync('sha256', secret, Buffer.concat([pcrs.get(0)!, pcrs.get(1)!, pcrs.get(2)!]), 'keyhold enclave seal v1', 32));
  const blob = Buffer.from((await app.services.backend.get('core/root-key'))!);
  assert.equal(blob[0], 1, 'version byte');
  const configBytes = Buffer.from((await app.services.backend.get('core/seal-config'))!);
  const aad = Buffer.concat([Buffer.from('keyhold-root-key-v1\0'), configBytes]);
  const nonce = blob.subarray(1, 13);
  const tag = blob.subarray(blob.length - 16);
  const decipher = createDecipheriv('aes-256-gcm', kek, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const rootKey = Buffer.concat([decipher.update(blob.subarray(13, blob.length - 16)), decipher.final()]);
  assert.equal(rootKey.length, 32);
  return { kek, rootKey };
}

test('with the enclave seal, init gives recovery shares, the vault unseals itself, again after a restart, and after a manual seal with the shares', async (t) => {
  const dir = tempDir(t);
  const config = enclaveConfig(dir);
  const first = await open(t, config);
  const before = await status(first);
  assert.deepEqual([before.type, before.initialized, before.sealed, before.recoverySeal], ['enclave', false, true, true]);
  const init = await initialise(first);
  const st = await status(first);
  assert.deepEqual([st.type, st.recoverySeal, st.sealed, st.migration], ['enclave', true, false, false]);
  const ciphertext = await writeAndEncrypt(first, init.rootToken);

  // The seal config records the measurements the root key is bound to: those this build reports.
  const pcrs = await first.services.enclave!.provider.pcrs();
  assert.deepEqual((await sealConfig(first)).enclave, hex(pcrs));
  // The root key opens with exactly the documented derivation.
  const secret = readFileSync(join(config.enclave.simulated.rootDir!, SEALING_SECRET_FILE));
  await unwrapIndependently(first, secret, pcrs);
  await first.close();

  const second = await open(t, config);
  assert.equal((await status(second)).sealed, false, 'unsealed at start by the enclave seal');
  assert.equal(second.services.autoUnsealer?.lastError, undefined);
  await decrypts(second, init.rootToken, ciphertext);

  // After a manual seal, the recovery quorum unseals it again (through the enclave seal).
  await second.api.inject({ method: 'POST', url: '/v1/sys/seal', headers: bearer(init.rootToken) });
  assert.equal((await status(second)).sealed, true);
  const done = await unseal(second, [init.shares[0]!, init.shares[2]!]);
  assert.equal(done.json().sealed, false, done.body);
  await decrypts(second, init.rootToken, ciphertext);

  // Recovery shares are rekeyed like the pkcs11 seal's; the new ones work after a restart.
  const started = (await second.api.inject({ method: 'POST', url: '/v1/sys/rekey/init', payload: { shares: 2, threshold: 2 } })).json();
  await second.api.inject({ method: 'POST', url: '/v1/sys/rekey/update', payload: { key: init.shares[0], nonce: started.nonce } });
  const rekeyed = (await second.api.inject({ method: 'POST', url: '/v1/sys/rekey/update', payload: { key: init.shares[1], nonce: started.nonce } })).json();
  assert.equal(rekeyed.complete, true);
  await second.close();
  const third = await open(t, config);
  assert.equal((await status(third)).sealed, false, 'still unseals itself after the rekey (the config in the AAD changed)');
  await third.api.inject({ method: 'POST', url: '/v1/sys/seal', headers: bearer(init.rootToken) });
  assert.equal((await unseal(third, init.shares.slice(0, 2))).json().error?.code, 'KH_UNSEAL_FAILED', 'the old shares no longer work');
  assert.equal((await unseal(third, rekeyed.shares as string[])).json().sealed, false);
});

test('another build stays sealed with KH_SEAL_MEASUREMENT_MISMATCH; the recovery quorum re-binds the root key to it', async (t) => {
  const { config, init, ciphertext } = await initialisedAndClosed(t);

  const { lines, logger } = capturingLogger();
  const other = await open(t, config, { attestationProvider: await otherBuild(config), logger });
  const st = await status(other);
  assert.deepEqual([st.type, st.sealed, st.migration], ['enclave', true, true], 'GET /v1/sys/seal-status shows sealed, and a pending re-bind');
  assert.equal(other.services.autoUnsealer?.lastError, 'KH_SEAL_MEASUREMENT_MISMATCH');
  const logged = lines.find((l) => l.code === 'KH_SEAL_MEASUREMENT_MISMATCH');
  assert.ok(logged, `the refusal is logged: ${JSON.stringify(lines)}`);
  assert.equal(logged.level, 50, 'at error level, once: no retry can change the measurements');
  assert.match(String(logged.reason), /PCR0 and PCR2 differ/);
  assert.doesNotMatch(String(logged.reason), /PCR1 /);
  assert.match((await other.health.inject({ url: '/metrics' })).body, /keyhold_auto_unseal_failing 1/);
  const keys = await other.api.inject({ url: '/v1/keys', headers: bearer(init.rootToken) });
  assert.equal(keys.json().error.code, 'KH_SEALED');

  // A plain unseal is refused with the same clear code, before any share is taken.
  const plain = await unseal(other, [init.shares[0]!]);
  assert.equal(plain.statusCode, 503);
  assert.equal(plain.json().error?.code, 'KH_SEAL_MEASUREMENT_MISMATCH');
  assert.match(plain.json().error!.message, /PCR0 and PCR2 differ/);
  assert.equal((await status(other)).progress, 0);

  // An intended upgrade: the recovery quorum re-binds the root key to this build.
  const rebound = await unseal(other, init.shares.slice(1, 3), true);
  assert.equal(rebound.json().sealed, false, rebound.body);
  const after = await status(other);
  assert.deepEqual([after.type, after.migration, after.sealed], ['enclave', false, false]);
  assert.deepEqual((await sealConfig(other)).enclave, hex(otherBuildPcrs()));
  assert.equal(other.services.autoUnsealer?.lastError, undefined, 'no failure is reported once the vault is unsealed');
  await decrypts(other, init.rootToken, ciphertext);
  await other.close();

  // Now the new build unseals itself, and the old one is the stranger.
  const again = await open(t, config, { attestationProvider: await otherBuild(config) });
  assert.equal((await status(again)).sealed, false, 'the re-bound build unseals itself');
  await decrypts(again, init.rootToken, ciphertext);
  await again.close();
  const old = await open(t, config);
  assert.deepEqual([(await status(old)).sealed, old.services.autoUnsealer?.lastError], [true, 'KH_SEAL_MEASUREMENT_MISMATCH']);
});

test('migration from the enclave seal to Shamir with the recovery shares, from a build the root key is not bound to, and back', async (t) => {
  const { dir, config, init, ciphertext } = await initialisedAndClosed(t);

  // Leaving the enclave seal needs it configured with disabled: true (an explicit decision), as with pkcs11.
  const shamirConfig = resolveConfig({ storage: { path: join(dir, 'k.db') }, log: { level: 'silent' }, enclave: { provider: 'simulated', simulated: { rootDir: join(dir, 'enclave-sim') } } });
  const implicit = await open(t, shamirConfig);
  const refused = await unseal(implicit, init.shares.slice(0, 2), true);
  assert.equal(refused.json().error?.code, 'KH_SEAL_MIGRATION_FAILED');
  assert.match(refused.json().error!.message, /disabled: true/);
  await implicit.close();

  const away = await open(t, enclaveConfig(dir, { disabled: true }), { attestationProvider: await otherBuild(config) });
  const st = await status(away);
  assert.deepEqual([st.type, st.migration, st.sealed], ['enclave', true, true]);
  assert.equal(away.services.autoUnsealer, undefined, 'a disabled seal does not unseal anything by itself');
  assert.equal((await unseal(away, [init.shares[0]!])).json().error?.code, 'KH_SEAL_MIGRATION_FAILED', 'migration needs the migrate flag');
  const migrated = await unseal(away, init.shares.slice(0, 2), true);
  assert.equal(migrated.json().sealed, false, migrated.body);
  assert.deepEqual([(await status(away)).type, (await status(away)).recoverySeal], ['shamir', false]);
  await decrypts(away, init.rootToken, ciphertext);
  for (const path of ['core/recovery-check', 'core/recovery-root-key']) assert.equal(await away.services.backend.get(path), undefined, `${path} is gone with the enclave seal`);
  assert.equal((await sealConfig(away)).enclave, undefined);
  await away.close();

  // Plain Shamir now: the same shares are unseal shares.
  const shamir = await open(t, shamirConfig);
  assert.equal((await status(shamir)).sealed, true);
  assert.equal((await unseal(shamir, [init.shares[2]!, init.shares[0]!])).json().sealed, false);
  await decrypts(shamir, init.rootToken, ciphertext);
  await shamir.close();

  // And back onto the enclave seal (this build): Shamir -> enclave with --migrate, then it unseals itself.
  const back = await open(t, config);
  assert.deepEqual([(await status(back)).type, (await status(back)).migration], ['shamir', true]);
  const rebound = await unseal(back, init.shares.slice(1, 3), true);
  assert.equal(rebound.json().sealed, false, rebound.body);
  assert.deepEqual([(await status(back)).type, (await status(back)).recoverySeal], ['enclave', true]);
  await back.close();
  const auto = await open(t, config);
  assert.equal((await status(auto)).sealed, false, 'auto-unsealed after migrating back');
  await decrypts(auto, init.rootToken, ciphertext);
});

test('a seal config edited to name another build does not let that build in', async (t) => {
  const dir = tempDir(t);
  const config = enclaveConfig(dir);
  const first = await open(t, config);
  const init = await initialise(first);
  const cfg = await sealConfig(first);
  await first.services.backend.put('core/seal-config', new TextEncoder().encode(JSON.stringify({ ...cfg, enclave: hex(otherBuildPcrs()) })));
  await first.close();
  const other = await open(t, config, { attestationProvider: await otherBuild(config) });
  assert.equal((await status(other)).sealed, true);
  assert.equal(other.services.autoUnsealer?.lastError, 'KH_UNSEAL_FAILED', 'the config is in the AAD, and the key is derived from the real PCRs');
  // Nor does a recovery quorum open anything against the edited record.
  assert.equal((await unseal(other, init.shares.slice(0, 2))).json().error?.code, 'KH_UNSEAL_FAILED');
});

test('providers without a sealing key are refused at startup', async (t) => {
  const dir = tempDir(t);
  const refuses = (raw: object, pattern: RegExp) =>
    assert.throws(
      () => resolveConfig({ storage: { path: join(dir, 'k.db') }, ...raw }),
      (e: unknown) => e instanceof KeyholdError && e.code === 'KH_CONFIG_INVALID' && pattern.test(e.message),
    );
  refuses({ seal: { type: 'enclave' } }, /seal\.type enclave .*needs enclave\.provider: simulated/);
  refuses({ seal: { type: 'enclave' }, enclave: { provider: 'none' } }, /needs enclave\.provider: simulated/);
  refuses({ seal: { type: 'enclave' }, enclave: { provider: 'nsm' } }, /not available with enclave\.provider: nsm: a Nitro enclave has no sealing key.*AWS KMS/);
  refuses({ seal: { type: 'enclave', disabled: true }, enclave: { provider: 'nsm' } }, /Nitro enclave has no sealing key/);

  // The same rule holds for a provider handed to buildKeyhold directly.
  const config = enclaveConfig(dir);
  const nsmLike: AttestationProvider = { kind: 'nsm', attest: () => Promise.reject(new Error('no')), pcrs: () => Promise.resolve(measureBuild().pcrs), close: () => Promise.resolve() };
  await assert.rejects(buildKeyhold(config, { logger: false, attestationProvider: nsmLike }), (e: unknown) => e instanceof KeyholdError && e.code === 'KH_CONFIG_INVALID' && /Nitro/.test(e.message));
  // Debug-mode measurements (all zero) leave nothing to bind to.
  const zeros = new Map([...measureBuild().pcrs].map(([i, v]) => [i, new Uint8Array(v.length)]));
  await assert.rejects(
    buildKeyhold(config, { logger: false, attestationProvider: await createSimulatedProvider({ rootDir: config.enclave.simulated.rootDir!, pcrs: zeros }) }),
    (e: unknown) => e instanceof KeyholdError && e.code === 'KH_ATTESTATION_PROVIDER_FAILED' && /all zero/.test(e.message),
  );
  // Shamir and pkcs11 do not need a provider.
  assert.doesNotThrow(() => resolveConfig({ storage: { path: join(dir, 'k.db') }, seal: { type: 'shamir' }, enclave: { provider: 'nsm' } }));
});

test('the sealing secret is a private 0600 file beside the simulated root key, and nothing secret reaches the database in plaintext', async (t) => {
  const dir = tempDir(t);
  const config = enclaveConfig(dir);
  const rootDir = config.enclave.simulated.rootDir!;
  const app = await open(t, config);
  const secretPath = join(rootDir, SEALING_SECRET_FILE);
  assert.ok(existsSync(join(rootDir, ROOT_KEY_FILE)) && existsSync(secretPath), 'created on first use, next to root-key.pem');
  assert.equal(statSync(secretPath).mode & 0o777, 0o600);
  const secret = readFileSync(secretPath);
  assert.equal(secret.length, 32);

  const init = await initialise(app);
  await writeAndEncrypt(app, init.rootToken);
  const { kek, rootKey } = await unwrapIndependently(app, secret, await app.services.enclave!.provider.pcrs());
  const dbPath = config.storage.path;
  const needles: [string, Buffer][] = [
    ['sealing secret', secret],
    ['KEK', kek],
    ['root key', rootKey],
    ...[secret, kek, rootKey].flatMap((b, i): [string, Buffer][] => [
      [`hex ${i}`, Buffer.from(b.toString('hex'))],
      [`base64 ${i}`, Buffer.from(b.toString('base64'))],
    ]),
    ['root token', Buffer.from(init.rootToken)],
    ...init.shares.map((s, i): [string, Buffer] => [`share ${i}`, Buffer.from(s)]),
  ];
  const scan = () => {
    for (const file of [dbPath, `${dbPath}-wal`]) {
      if (!existsSync(file)) continue;
      const data = readFileSync(file);
      for (const [what, needle] of needles) assert.equal(data.includes(needle), false, `${what} found in ${file}`);
    }
  };
  scan();
  await app.close();
  scan();

  // A secret that others may read is refused at start, as ssh refuses a loose private key.
  chmodSync(secretPath, 0o644);
  await assert.rejects(buildKeyhold(config, { logger: false }), (e: unknown) => e instanceof KeyholdError && e.code === 'KH_ATTESTATION_PROVIDER_FAILED' && /chmod 600/.test(e.message));
  chmodSync(secretPath, 0o600);
  const again = await open(t, config);
  assert.equal((await status(again)).sealed, false);
});
