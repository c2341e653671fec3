/**
 * Workload login by attestation (src/auth/attest-login.ts): a simulated
 * document with the right PCRs and an unused challenge gives a Workload
 * token bound to the document's key (amr attest, measurements as Cedar
 * attributes); wrong PCRs, a replayed or unknown challenge, an untrusted
 * root, a key that cannot sign, each gets its own stable code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { createSimulatedProvider } from '../../src/attestation/simulated/simulated-provider.js';
import { challenge, documentFor, ed25519Pair, loginWorkload, signedCall, workloadVault } from '../helpers/workload.js';
import { bearer } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { resolveConfig } from '../../src/config/load-config.js';
import { KeyholdError } from '../../src/errors.js';

const roles = (pcr0: string) => ({
  web: { pcrs: { 0: pcr0 }, groups: ['web-servers'], tokenTtlSeconds: 600 },
  other: { pcrs: { 0: 'ab'.repeat(48) } },
  debug: { moduleIdPrefix: 'not-keyhold-' },
});

const login = (app: Awaited<ReturnType<typeof workloadVault>>['app'], role: string, attestationDocument: string) =>
  app.api.inject({ method: 'POST', url: '/v1/auth/attest/login', payload: { role, attestationDocument } });
const codeOf = (r: { json: <T>() => T }) => r.json<{ error: { code: string } }>().error.code;

test('a matching document logs in as a Workload: bound token, amr attest, the role TTL, measurements for Cedar', async (t) => {
  const v = await workloadVault(t, roles);
  const { privateKey, spki } = ed25519Pair();
  const res = await login(v.app, 'web', await documentFor(v.enclave, await challenge(v.app), spki));
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json<{ accessToken: string; expiresIn: number; boundTo: { jkt: string }; sessionId: string }>();
  assert.ok(body.expiresIn > 590 && body.expiresIn <= 600, String(body.expiresIn));
  const claims = decodeJwt(body.accessToken);
  assert.equal(claims.sub, 'workload:web');
  assert.deepEqual(claims.amr, ['attest']);
  assert.deepEqual(claims.cnf, body.boundTo);
  // Introspection by an admin shows the principal; the session holds the measurements.
  const session = await v.app.services.sessions.get(body.sessionId);
  assert.equal(session?.attrs?.pcr0, v.pcr0);
  assert.equal(session?.attrs?.debug, false);
  assert.match(String(session?.attrs?.moduleId), /^keyhold-sim-/);
  assert.deepEqual(session?.groups, ['web-servers']);
  // The token alone is useless: unsigned requests are refused, signed ones reach the policy (which denies by default).
  const unsigned = await v.app.api.inject({ url: '/v1/secrets/data/app/db', headers: bearer(body.accessToken) });
  assert.equal(codeOf(unsigned), 'KH_SIG_MISSING');
  const signed = await signedCall(v.app, body.accessToken, privateKey)('GET', '/v1/secrets/data/app/db');
  assert.equal(codeOf(signed), 'KH_AUTH_PERMISSION_DENIED');
});

test('a challenge works once: a replayed document is refused, as are unknown and missing nonces', async (t) => {
  const v = await workloadVault(t, roles);
  const { spki } = ed25519Pair();
  const doc = await documentFor(v.enclave, await challenge(v.app), spki);
  assert.equal((await login(v.app, 'web', doc)).statusCode, 200);
  const replay = await login(v.app, 'web', doc);
  assert.equal(replay.statusCode, 401);
  assert.equal(codeOf(replay), 'KH_ATTEST_LOGIN_CHALLENGE_INVALID');
  const unknown = await login(v.app, 'web', await documentFor(v.enclave, 'aa'.repeat(32), spki));
  assert.equal(codeOf(unknown), 'KH_ATTEST_LOGIN_CHALLENGE_INVALID');
  const none = await login(v.app, 'web', await documentFor(v.enclave, undefined, spki));
  assert.equal(codeOf(none), 'KH_ATTEST_LOGIN_CHALLENGE_INVALID');
  // Sealing forgets every pending challenge.
  const pending = await challenge(v.app);
  v.app.services.barrier.seal();
  await v.app.services.seal.seal();
  assert.equal((await v.app.api.inject({ url: '/v1/auth/attest/challenge' })).statusCode, 503);
  void pending;
});

test('measurements that do not match the role, or an unknown role, are a 403 naming what differs', async (t) => {
  const v = await workloadVault(t, roles);
  const { spki } = ed25519Pair();
  const wrongPcr = await login(v.app, 'other', await documentFor(v.enclave, await challenge(v.app), spki));
  assert.equal(wrongPcr.statusCode, 403);
  assert.equal(codeOf(wrongPcr), 'KH_ATTEST_LOGIN_ROLE_MISMATCH');
  assert.match(wrongPcr.json<{ error: { message: string } }>().error.message, /PCR0 does not match/);
  assert.ok(!wrongPcr.body.includes('ab'.repeat(48)), 'the expected value is not revealed');
  const wrongModule = await login(v.app, 'debug', await documentFor(v.enclave, await challenge(v.app), spki));
  assert.equal(codeOf(wrongModule), 'KH_ATTEST_LOGIN_ROLE_MISMATCH');
  const unknownRole = await login(v.app, 'nobody', await documentFor(v.enclave, await challenge(v.app), spki));
  assert.equal(codeOf(unknownRole), 'KH_ATTEST_LOGIN_ROLE_MISMATCH');
  // Failed logins are throttled per address, like every login method.
  assert.equal(codeOf(await login(v.app, 'web', await documentFor(v.enclave, await challenge(v.app), spki))), 'KH_AUTH_LOCKED');
  // Another build (other PCRs) on the same trusted root: refused for the pinned role.
  const fresh = await workloadVault(t, roles);
  const otherBuild = await createSimulatedProvider({ rootDir: join(fresh.dir, 'enclave-sim'), pcrs: new Map([[0, new Uint8Array(48).fill(7)], [1, new Uint8Array(48)], [2, new Uint8Array(48)]]) });
  t.after(() => otherBuild.close());
  const changed = await login(fresh.app, 'web', await documentFor(otherBuild, await challenge(fresh.app), spki));
  assert.equal(codeOf(changed), 'KH_ATTEST_LOGIN_ROLE_MISMATCH');
});

test('a document under an untrusted root, or corrupted, does not verify (401); the simulated root needs trustSimulatedRoot', async (t) => {
  const v = await workloadVault(t, roles);
  const { spki } = ed25519Pair();
  const rogue = await createSimulatedProvider({ rootDir: tempDir(t) });
  t.after(() => rogue.close());
  const untrusted = await login(v.app, 'web', await documentFor(rogue, await challenge(v.app), spki));
  assert.equal(untrusted.statusCode, 401);
  assert.equal(codeOf(untrusted), 'KH_ATTEST_LOGIN_DOCUMENT_INVALID');
  assert.match(untrusted.json<{ error: { message: string } }>().error.message, /KH_ATTESTATION_CHAIN_INVALID/);
  const good = Buffer.from(await documentFor(v.enclave, await challenge(v.app), spki), 'base64');
  good[good.length - 5]! ^= 1;
  assert.equal(codeOf(await login(v.app, 'web', good.toString('base64'))), 'KH_ATTEST_LOGIN_DOCUMENT_INVALID');
  assert.equal(codeOf(await login(v.app, 'web', 'not base64!')), 'KH_INPUT_INVALID');

  const strict = await workloadVault(t, roles, { enclave: { provider: 'simulated' } });
  const refused = await login(strict.app, 'web', await documentFor(strict.enclave, await challenge(strict.app), spki));
  assert.equal(codeOf(refused), 'KH_ATTEST_LOGIN_DOCUMENT_INVALID');
});

test('the public_key must be a signing key (Ed25519 or P-256 SPKI) so the token can be bound', async (t) => {
  const v = await workloadVault(t, roles);
  const p256 = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }));
  assert.equal((await login(v.app, 'web', await documentFor(v.enclave, await challenge(v.app), p256))).statusCode, 200);
  const x25519 = new Uint8Array(generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }));
  for (const key of [x25519, x25519.slice(-32), undefined]) {
    const r = await login(v.app, 'web', await documentFor(v.enclave, await challenge(v.app), key));
    assert.equal(r.statusCode, 400);
    assert.equal(codeOf(r), 'KH_ATTEST_LOGIN_KEY_UNSUPPORTED');
  }
});

test('loginWorkload helper: a logged-in workload renews its token (same binding)', async (t) => {
  const v = await workloadVault(t, roles);
  const w = await loginWorkload(v.app, v.enclave, 'web');
  const renewed = await w.call('POST', '/v1/auth/renew');
  assert.equal(renewed.statusCode, 200, renewed.body);
  assert.deepEqual(decodeJwt(renewed.json<{ accessToken: string }>().accessToken).cnf, decodeJwt(w.token).cnf);
});

test('a role that pins no measurement is a configuration error unless allowAnyMeasurement says so', () => {
  assert.throws(() => resolveConfig({ auth: { attestRoles: { web: { groups: ['web'] } } } }), (e: unknown) => e instanceof KeyholdError && e.code === 'KH_CONFIG_INVALID' && /pins no measurement/.test(e.message));
  assert.doesNotThrow(() => resolveConfig({ auth: { attestRoles: { web: { moduleIdPrefix: 'i-0abc' } } } }));
  assert.doesNotThrow(() => resolveConfig({ auth: { attestRoles: { web: { allowAnyMeasurement: true } } } }));
});
