/**
 * HSM-backed keys (hsm-*) through the HTTP API against SoftHSM2: material
 * generated on the token and never anywhere else, the same ciphertext and
 * signature formats as software keys, rotation with one token object per
 * version, no export or import, and deletion (and trim) destroying the
 * token objects.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createCipheriv, createHash, createPublicKey, publicEncrypt, randomBytes, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold, type KeyholdApp } from '../../src/api/keyhold-app.js';
import { KeyManager } from '../../src/keys/key-manager.js';
import type { KeyRecord } from '../../src/keys/key-record.js';
import { HSM_KEY_TYPE_NAMES } from '../../src/keys/key-type-names.js';
import type { Pkcs11Client } from '../../src/seal/pkcs11/pkcs11-client.js';
import { bearer, unsealedVault } from '../helpers/keyhold.js';
import { softHsmToken } from '../helpers/softhsm.js';
import { tempDir } from '../helpers/temp-dir.js';

const PIN_ENV = 'KEYHOLD_TEST_HSM_KEYS_PIN';
const P = pkcs11js;
const DAY_MS = 86_400_000;
const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64');

interface HsmVault {
  app: KeyholdApp;
  client: Pkcs11Client;
  call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object): Promise<{ status: number; body: Record<string, unknown> & { error?: { code: string } } }>;
  /** The stored (barrier-decrypted) record of a key, read past the key manager. */
  record(name: string): Promise<KeyRecord | undefined>;
}

/** A vault sealed by a fresh SoftHSM2 token (so its key manager has the HSM), initialised and auto-unsealed. */
async function hsmVault(t: TestContext): Promise<HsmVault | null> {
  const token = softHsmToken(t);
  if (!token) return null;
  process.env[PIN_ENV] = token.pin;
  const config = resolveConfig({
    storage: { path: join(tempDir(t), 'k.db') },
    log: { level: 'silent' },
    seal: { type: 'pkcs11', pkcs11: { module: token.module, tokenLabel: token.tokenLabel, pinEnv: PIN_ENV, keyLabel: 'root-wrap', generateKey: true } },
  });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const init = await app.api.inject({ method: 'POST', url: '/v1/sys/init', payload: { shares: 1, threshold: 1 } });
  assert.equal(init.statusCode, 200, init.body);
  const root = init.json().rootToken as string;
  const client = await app.services.hsm!.client();
  // Key records are seal-wrapped under the pkcs11 seal; this view unwraps them as the key store does.
  const view = app.services.barrier.view('keys/', { sealWrap: true });
  return {
    app,
    client,
    async call(method, url, payload) {
      const res = await app.api.inject({ method, url, headers: bearer(root), ...(payload ? { payload } : {}) });
      return { status: res.statusCode, body: res.json() };
    },
    async record(name) {
      for (const path of await view.list()) {
        const bytes = await view.get(path);
        const rec = bytes === undefined ? undefined : (JSON.parse(Buffer.from(bytes).toString('utf8')) as KeyRecord);
        if (rec?.name === name) return rec;
      }
      return undefined;
    },
  };
}

async function create(v: HsmVault, name: string, type: string): Promise<void> {
  const res = await v.call('POST', '/v1/keys', { name, type });
  // Without the HSM wired into the key manager (src/api/keyhold-app.ts) this is 400 KH_KEY_TYPE_INVALID.
  assert.equal(res.status, 200, `create ${type}: ${JSON.stringify(res.body)} (is the KeyManager built with { hsm }?)`);
}

/** Whether the token still holds an object of this class with this label. */
async function onToken(client: Pkcs11Client, label: string, keyClass: 'secret' | 'private' | 'public'): Promise<boolean> {
  return (await client.findKey(label, keyClass)) !== null;
}

/** CKA_SENSITIVE, CKA_EXTRACTABLE and whether the secret attribute is refused, for the one object labelled `label`. */
async function secretFacts(client: Pkcs11Client, label: string, objectClass: number, secretAttribute: number): Promise<{ sensitive: boolean; extractable: boolean; refused: boolean }> {
  return client.withSession(({ api, handle }) => {
    api.C_FindObjectsInit(handle, [
      { type: P.CKA_CLASS, value: objectClass },
      { type: P.CKA_LABEL, value: label },
    ]);
    const [object] = api.C_FindObjects(handle, 2);
    api.C_FindObjectsFinal(handle);
    assert.ok(object, `object ${label} on the token`);
    const bool = (type: number): boolean => api.C_GetAttributeValue(handle, object, [{ type }])[0]!.value[0] === 1;
    let refused = false;
    try {
      api.C_GetAttributeValue(handle, object, [{ type: secretAttribute }]);
    } catch (error) {
      refused = (error as Error).message === 'CKR_ATTRIBUTE_SENSITIVE';
    }
    return { sensitive: bool(P.CKA_SENSITIVE), extractable: bool(P.CKA_EXTRACTABLE), refused };
  });
}

/** A stored record holds no secret: no `secret` field, a random label that does not name the key. */
function assertNoMaterial(rec: KeyRecord | undefined, name: string): asserts rec is KeyRecord {
  assert.ok(rec, `the record of ${name} is stored`);
  for (const v of rec.versions) {
    assert.equal(v.secret, undefined, `version ${v.version} of ${name} stores no secret`);
    assert.ok(v.hsm, `version ${v.version} of ${name} names its HSM object`);
    assert.match(v.hsm.label, /^keyhold:[0-9a-f]{32}$/);
    assert.ok(!v.hsm.label.includes(name));
    assert.equal(Buffer.from(v.hsm.id, 'base64').length, 16);
  }
  assert.equal(rec.exportable, false);
}

test('hsm-aes256-gcm: round trip, tamper and wrong context fail, rotation keeps old ciphertexts, rewrap, data keys; the record holds no material', async (t) => {
  const v = await hsmVault(t);
  if (!v) return;
  await create(v, 'vault-data', 'hsm-aes256-gcm');
  const meta = await v.call('GET', '/v1/keys/vault-data');
  assert.deepEqual([meta.body.type, meta.body.exportable, meta.body.latestVersion], ['hsm-aes256-gcm', false, 1]);

  const context = { tenant: 'acme', purpose: 'test' };
  const plaintext = b64('kept in the HSM');
  const enc = await v.call('POST', '/v1/keys/vault-data/encrypt', { plaintext, context });
  assert.equal(enc.status, 200, JSON.stringify(enc.body));
  const ciphertext = enc.body.ciphertext as string;
  assert.match(ciphertext, /^keyhold:v1:[A-Za-z0-9+/]+=*$/);
  // 12-byte IV || ciphertext || 16-byte tag, as software AEAD keys.
  assert.equal(Buffer.from(ciphertext.slice('keyhold:v1:'.length), 'base64').length, 12 + 'kept in the HSM'.length + 16);

  const dec = await v.call('POST', '/v1/keys/vault-data/decrypt', { ciphertext, context: { purpose: 'test', tenant: 'acme' } });
  assert.equal(dec.status, 200, JSON.stringify(dec.body));
  assert.deepEqual([dec.body.plaintext, dec.body.version], [plaintext, 1], 'context key order does not matter');

  // Tampering anywhere, a wrong context, missing associated data: one fixed answer.
  const raw = Buffer.from(ciphertext.slice('keyhold:v1:'.length), 'base64');
  for (const i of [0, 11, 12, raw.length - 1]) {
    const bad = Buffer.from(raw);
    bad[i]! ^= 0x01;
    const r = await v.call('POST', '/v1/keys/vault-data/decrypt', { ciphertext: `keyhold:v1:${b64(bad)}`, context });
    assert.deepEqual([r.status, r.body.error?.code], [400, 'KH_DECRYPT_FAILED'], `byte ${i} flipped`);
  }
  for (const wrong of [{ context: { tenant: 'other', purpose: 'test' } }, {}, { context, associatedData: b64('extra') }]) {
    const r = await v.call('POST', '/v1/keys/vault-data/decrypt', { ciphertext, ...wrong });
    assert.deepEqual([r.status, r.body.error?.code, (r.body.error as { message?: string }).message], [400, 'KH_DECRYPT_FAILED', 'decryption failed'], JSON.stringify(wrong));
  }
  const short = await v.call('POST', '/v1/keys/vault-data/decrypt', { ciphertext: `keyhold:v1:${b64(raw.subarray(0, 20))}`, context });
  assert.equal(short.body.error?.code, 'KH_DECRYPT_FAILED');

  // Rotation: a new token object per version; v1 ciphertexts still decrypt; rewrap moves them to v2.
  assert.equal((await v.call('POST', '/v1/keys/vault-data/rotate')).body.latestVersion, 2);
  const enc2 = await v.call('POST', '/v1/keys/vault-data/encrypt', { plaintext, context });
  assert.equal(enc2.body.version, 2);
  assert.equal((await v.call('POST', '/v1/keys/vault-data/decrypt', { ciphertext, context })).body.plaintext, plaintext);
  assert.equal((await v.call('POST', '/v1/keys/vault-data/decrypt', { ciphertext: enc2.body.ciphertext, context })).body.plaintext, plaintext);
  const rewrapped = await v.call('POST', '/v1/keys/vault-data/rewrap', { ciphertext, context });
  assert.deepEqual([rewrapped.status, rewrapped.body.version], [200, 2]);
  assert.equal((await v.call('POST', '/v1/keys/vault-data/decrypt', { ciphertext: rewrapped.body.ciphertext, context })).body.plaintext, plaintext);
  const v1Again = await v.call('POST', '/v1/keys/vault-data/encrypt', { plaintext, version: 1 });
  assert.equal(v1Again.body.error?.code, 'KH_KEY_VERSION_INVALID', 'new output uses the latest version unless minEncryptionVersion allows');

  // Data keys and batches.
  const dk = await v.call('POST', '/v1/keys/vault-data/datakey', { bits: 256, context });
  assert.equal(Buffer.from(dk.body.plaintext as string, 'base64').length, 32);
  assert.equal((await v.call('POST', '/v1/keys/vault-data/decrypt', { ciphertext: dk.body.ciphertext, context })).body.plaintext, dk.body.plaintext);
  const noPlain = await v.call('POST', '/v1/keys/vault-data/datakey', { bits: 128, plaintext: false });
  assert.deepEqual([noPlain.body.plaintext, noPlain.body.version], [undefined, 2]);
  const batch = await v.call('POST', '/v1/keys/vault-data/decrypt/batch', { items: [{ ciphertext, context }, { ciphertext, context: { tenant: 'x' } }] });
  assert.deepEqual(batch.body.results, [{ plaintext, version: 1 }, { error: { code: 'KH_DECRYPT_FAILED', message: 'decryption failed' } }]);

  // Operations the type does not have.
  for (const [op, body] of [['sign', { input: plaintext }], ['hmac', { input: plaintext }], ['encapsulate', {}]] as const) {
    assert.equal((await v.call('POST', `/v1/keys/vault-data/${op}`, body)).body.error?.code, 'KH_KEY_OPERATION_UNSUPPORTED', op);
  }
  assert.equal((await v.call('GET', '/v1/keys/vault-data/public-key')).body.error?.code, 'KH_KEY_OPERATION_UNSUPPORTED');

  // Storage holds where the key is, not what it is; the token refuses to reveal it.
  const rec = await v.record('vault-data');
  assertNoMaterial(rec, 'vault-data');
  assert.equal(rec.versions.length, 2);
  assert.notEqual(rec.versions[0]!.hsm!.label, rec.versions[1]!.hsm!.label, 'each version is its own token object');
  for (const version of rec.versions) {
    assert.equal(version.publicKey, undefined);
    assert.deepEqual(await secretFacts(v.client, version.hsm!.label, P.CKO_SECRET_KEY, P.CKA_VALUE), { sensitive: true, extractable: false, refused: true });
  }
});

const SIGNERS = [
  { type: 'hsm-ecdsa-p256', ecdsa: true, curve: 'prime256v1', hashes: ['sha256', 'sha384'] },
  { type: 'hsm-ecdsa-p384', ecdsa: true, curve: 'secp384r1', hashes: ['sha384', 'sha256'] },
  { type: 'hsm-rsa-2048', ecdsa: false, bits: 2048, hashes: ['sha256'] },
  { type: 'hsm-rsa-3072', ecdsa: false, bits: 3072, hashes: ['sha256'] },
] as const;

test('hsm-ecdsa-* and hsm-rsa-*: the HSM signs, node verifies with the exported public key, Keyhold verifies; rotation keeps old signatures valid', async (t) => {
  const v = await hsmVault(t);
  if (!v) return;
  const message = Buffer.from('signed inside the HSM');
  for (const s of SIGNERS) {
    const name = `signer-${s.type}`;
    await create(v, name, s.type);
    const pem = await v.call('GET', `/v1/keys/${name}/public-key`);
    assert.equal(pem.body.format, 'pem');
    const pub: KeyObject = createPublicKey(pem.body.publicKey as string);
    if (s.ecdsa) assert.equal(pub.asymmetricKeyDetails?.namedCurve, s.curve, s.type);
    else assert.equal(pub.asymmetricKeyDetails?.modulusLength, s.bits, s.type);
    const jwk = await v.call('GET', `/v1/keys/${name}/public-key?format=jwk`);
    assert.equal((jwk.body.publicKey as { kty: string }).kty, s.ecdsa ? 'EC' : 'RSA');

    const forms: { options: Record<string, string>; check: (sig: Buffer) => boolean }[] = s.ecdsa
      ? s.hashes.flatMap((hash) => [
          { options: { hash }, check: (sig: Buffer) => nodeVerify(hash, message, { key: pub, dsaEncoding: 'der' }, sig) },
          { options: { hash, signatureFormat: 'p1363' }, check: (sig: Buffer) => nodeVerify(hash, message, { key: pub, dsaEncoding: 'ieee-p1363' }, sig) },
        ])
      : [
          { options: {}, check: (sig: Buffer) => nodeVerify('sha256', message, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig) },
          { options: { signatureAlgorithm: 'pss' }, check: (sig: Buffer) => nodeVerify('sha256', message, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig) },
          { options: { signatureAlgorithm: 'pkcs1v15' }, check: (sig: Buffer) => nodeVerify('sha256', message, { key: pub, padding: constants.RSA_PKCS1_PADDING }, sig) },
        ];
    for (const { options, check } of forms) {
      const what = `${s.type} ${JSON.stringify(options)}`;
      const signed = await v.call('POST', `/v1/keys/${name}/sign`, { input: b64(message), ...options });
      assert.equal(signed.status, 200, `${what}: ${JSON.stringify(signed.body)}`);
      const signature = signed.body.signature as string;
      assert.match(signature, /^keyhold:v1:/);
      const sig = Buffer.from(signature.slice('keyhold:v1:'.length), 'base64');
      assert.ok(check(sig), `node:crypto verifies ${what}`);
      if (s.ecdsa && options.signatureFormat === 'p1363') assert.equal(sig.length, s.type === 'hsm-ecdsa-p256' ? 64 : 96);
      const ok = await v.call('POST', `/v1/keys/${name}/verify`, { input: b64(message), signature, ...options });
      assert.deepEqual([ok.body.valid, ok.body.version], [true, 1], what);
      const wrong = await v.call('POST', `/v1/keys/${name}/verify`, { input: b64('another message'), signature, ...options });
      assert.equal(wrong.body.valid, false, what);
      const flipped = Buffer.from(sig);
      flipped[flipped.length - 1]! ^= 1;
      assert.equal((await v.call('POST', `/v1/keys/${name}/verify`, { input: b64(message), signature: `keyhold:v1:${b64(flipped)}`, ...options })).body.valid, false, what);
    }

    // Options the HSM mechanisms cannot honour are refused, not ignored.
    const digest = b64(createHash('sha256').update(message).digest());
    const refused: Record<string, unknown>[] = [
      { input: b64(message), hash: 'sha512' },
      { input: digest, prehashed: true, hash: 'sha256', ...(s.ecdsa ? {} : { signatureAlgorithm: 'pkcs1v15' }) },
      { input: b64(message), ...(s.ecdsa ? { signatureAlgorithm: 'pss' } : { signatureFormat: 'p1363' }) },
    ];
    for (const options of refused) {
      const r = await v.call('POST', `/v1/keys/${name}/sign`, options);
      assert.equal(r.body.error?.code, 'KH_KEY_OPTION_UNSUPPORTED', `${s.type} ${JSON.stringify(options)}`);
    }
    assert.equal((await v.call('POST', `/v1/keys/${name}/encrypt`, { plaintext: b64('x') })).body.error?.code, 'KH_KEY_OPERATION_UNSUPPORTED', `${s.type} encrypt`);

    // Rotation: a new key pair; version 1 signatures still verify; each version exports its own public key.
    const v1sig = (await v.call('POST', `/v1/keys/${name}/sign`, { input: b64(message) })).body.signature as string;
    await v.call('POST', `/v1/keys/${name}/rotate`);
    const v2 = await v.call('POST', `/v1/keys/${name}/sign`, { input: b64(message) });
    assert.equal(v2.body.version, 2);
    assert.equal((await v.call('POST', `/v1/keys/${name}/verify`, { input: b64(message), signature: v1sig })).body.valid, true, `${s.type} v1 after rotation`);
    assert.equal((await v.call('POST', `/v1/keys/${name}/verify`, { input: b64(message), signature: v2.body.signature })).body.valid, true);
    const pub1 = (await v.call('GET', `/v1/keys/${name}/public-key?version=1&format=raw`)).body.publicKey;
    const pub2 = (await v.call('GET', `/v1/keys/${name}/public-key?version=2&format=raw`)).body.publicKey;
    assert.notEqual(pub1, pub2);

    const rec = await v.record(name);
    assertNoMaterial(rec, name);
    for (const version of rec.versions) {
      assert.ok(version.publicKey, 'the public key is stored (verification needs no HSM)');
      const secretAttr = s.ecdsa ? P.CKA_VALUE : P.CKA_PRIVATE_EXPONENT;
      assert.deepEqual(await secretFacts(v.client, version.hsm!.label, P.CKO_PRIVATE_KEY, secretAttr), { sensitive: true, extractable: false, refused: true }, s.type);
    }
  }
});

test('HSM-backed keys are never exported and never imported: export, exportable: true, BYOK import and import-version are refused', async (t) => {
  const v = await hsmVault(t);
  if (!v) return;
  await create(v, 'sealed-in', 'hsm-aes256-gcm');
  await create(v, 'signer', 'hsm-ecdsa-p256');
  for (const name of ['sealed-in', 'signer']) {
    const r = await v.call('GET', `/v1/keys/${name}/export`);
    assert.deepEqual([r.status, r.body.error?.code], [403, 'KH_KEY_NOT_EXPORTABLE'], name);
  }
  const exportable = await v.call('POST', '/v1/keys', { name: 'leaky', type: 'hsm-aes256-gcm', exportable: true });
  assert.deepEqual([exportable.status, exportable.body.error?.code], [400, 'KH_KEY_CONFIG_INVALID']);

  // BYOK: a well-wrapped AES key for an hsm-* type is refused with a clear code, as is a public key only.
  const wrapped = await v.call('GET', '/v1/wrapping-key');
  const eph = randomBytes(32);
  const part1 = publicEncrypt({ key: wrapped.body.publicKey as string, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, eph);
  const kwp = createCipheriv('id-aes256-wrap-pad', eph, Buffer.from('A65959A6', 'hex'));
  const part2 = Buffer.concat([kwp.update(randomBytes(32)), kwp.final()]);
  const imported = await v.call('POST', '/v1/keys/byok/import', { type: 'hsm-aes256-gcm', ciphertext: b64(Buffer.concat([part1, part2])) });
  assert.deepEqual([imported.status, imported.body.error?.code], [400, 'KH_KEY_OPERATION_UNSUPPORTED'], JSON.stringify(imported.body));
  const spki = Buffer.from((await v.call('GET', '/v1/keys/signer/public-key?format=raw')).body.publicKey as string, 'base64');
  const publicOnly = await v.call('POST', '/v1/keys/byok-pub/import', { type: 'hsm-ecdsa-p256', publicKey: b64(spki) });
  assert.equal(publicOnly.body.error?.code, 'KH_KEY_OPERATION_UNSUPPORTED');
  const version = await v.call('POST', '/v1/keys/signer/import-version', { publicKey: b64(spki) });
  assert.equal(version.body.error?.code, 'KH_KEY_OPERATION_UNSUPPORTED');
  assert.equal((await v.call('GET', '/v1/keys/byok')).status, 404);
});

test('deletion after the waiting period destroys every version\'s token objects; trim destroys the trimmed ones', async (t) => {
  const v = await hsmVault(t);
  if (!v) return;
  await create(v, 'doomed-aes', 'hsm-aes256-gcm');
  await create(v, 'doomed-ec', 'hsm-ecdsa-p384');
  await create(v, 'trimmed', 'hsm-rsa-2048');
  for (const name of ['doomed-aes', 'doomed-ec', 'trimmed']) await v.call('POST', `/v1/keys/${name}/rotate`);
  const aes = (await v.record('doomed-aes'))!.versions.map((x) => x.hsm!.label);
  const ec = (await v.record('doomed-ec'))!.versions.map((x) => x.hsm!.label);
  for (const label of aes) assert.ok(await onToken(v.client, label, 'secret'));
  for (const label of ec) assert.ok((await onToken(v.client, label, 'private')) && (await onToken(v.client, label, 'public')));

  // Trim: only versions below minDecryptionVersion may go, and their key pair goes from the token.
  const rsa = (await v.record('trimmed'))!.versions.map((x) => x.hsm!.label);
  await v.call('PATCH', '/v1/keys/trimmed', { minDecryptionVersion: 2 });
  const trim = await v.call('POST', '/v1/keys/trimmed/trim', { minAvailableVersion: 2 });
  assert.equal(trim.status, 200, JSON.stringify(trim.body));
  assert.deepEqual([await onToken(v.client, rsa[0]!, 'private'), await onToken(v.client, rsa[0]!, 'public')], [false, false], 'trimmed version destroyed');
  assert.equal(await onToken(v.client, rsa[1]!, 'private'), true, 'the current version stays');
  assert.equal((await v.call('POST', '/v1/keys/trimmed/sign', { input: b64('still signs') })).status, 200);

  // Scheduled deletion: nothing is destroyed during the wait, and cancelling brings the key back.
  for (const name of ['doomed-aes', 'doomed-ec']) assert.equal((await v.call('DELETE', `/v1/keys/${name}?waitingDays=7`)).body.state, 'pending-deletion');
  assert.equal((await v.call('POST', '/v1/keys/doomed-aes/encrypt', { plaintext: b64('x') })).body.error?.code, 'KH_KEY_PENDING_DELETION');
  for (const label of aes) assert.ok(await onToken(v.client, label, 'secret'), 'kept while deletion is pending');

  // After the wait (a key manager over the same storage and HSM, with its clock 8 days on, as key-lifecycle.test.ts does):
  const later = new KeyManager(v.app.services.barrier, { hsm: v.app.services.hsm, now: () => new Date(Date.now() + 8 * DAY_MS) });
  for (const name of ['doomed-aes', 'doomed-ec']) await assert.rejects(later.get(name), { code: 'KH_KEY_NOT_FOUND' }, name);
  for (const label of aes) assert.equal(await onToken(v.client, label, 'secret'), false, 'AES versions destroyed');
  for (const label of ec) assert.deepEqual([await onToken(v.client, label, 'private'), await onToken(v.client, label, 'public')], [false, false], 'EC pairs destroyed');
  assert.equal(await v.record('doomed-aes'), undefined, 'the record is gone');
  assert.equal(await v.record('doomed-ec'), undefined);
  assert.ok(await v.record('trimmed'), 'other keys untouched');
});

test('with the HSM configured but unreachable, HSM keys answer 503 KH_HSM_UNAVAILABLE; verification, which needs no HSM, still works', async (t) => {
  const v = await hsmVault(t);
  if (!v) return;
  await create(v, 'aes', 'hsm-aes256-gcm');
  await create(v, 'ec', 'hsm-ecdsa-p256');
  const signature = (await v.call('POST', '/v1/keys/ec/sign', { input: b64('m') })).body.signature as string;
  // Every session closed behind the client's back: the next call fails, the one after reconnects (reconnect.test.ts).
  await v.client.withSession(({ api, slot }) => api.C_CloseAllSessions(slot));
  const down = await v.call('POST', '/v1/keys/aes/encrypt', { plaintext: b64('x') });
  assert.deepEqual([down.status, down.body.error?.code], [503, 'KH_HSM_UNAVAILABLE'], JSON.stringify(down.body));
  assert.equal((await v.call('POST', '/v1/keys/ec/verify', { input: b64('m'), signature })).body.valid, true);
  assert.equal((await v.call('POST', '/v1/keys/aes/encrypt', { plaintext: b64('x') })).status, 200, 'reconnected');
});

test('without an HSM, creating an hsm-* key is 400 KH_KEY_TYPE_INVALID; software types are unaffected', async (t) => {
  const { app, rootToken } = await unsealedVault(t);
  for (const type of HSM_KEY_TYPE_NAMES) {
    const res = await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(rootToken), payload: { name: `k-${type}`, type } });
    assert.equal(res.statusCode, 400, type);
    assert.equal(res.json().error.code, 'KH_KEY_TYPE_INVALID', type);
    assert.match(res.json().error.message, /HSM/);
  }
  const unknown = await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(rootToken), payload: { name: 'k', type: 'hsm-des3' } });
  assert.equal(unknown.statusCode, 400);
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(rootToken), payload: { name: 'k', type: 'aes256-gcm' } })).statusCode, 200);
});
