/**
 * The keys-layer pieces the AWS KMS API stands on, without HTTP: key usage
 * fixed at creation and enforced by the operations for every API; keys that
 * await imported material (pending-import) and their lifecycle; ECDH with NIST
 * curve keys created for key agreement; data keys of any length and data key
 * pairs; RSA-OAEP with SHA-1; aliases with KMS's rules; import tokens bound to
 * one key and algorithm that expire; the wrapping key's plain RSA-OAEP unwrap.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { memoryBarrier } from '../helpers/memory-barrier.js';
import { KeyManager } from '../../src/keys/key-manager.js';
import { KeyAliases, checkAliasName } from '../../src/keys/key-aliases.js';
import { ImportTokens, IMPORT_TOKEN_TTL_SECONDS } from '../../src/keys/import-token.js';
import { WrappingKey } from '../../src/keys/wrapping-key.js';
import { decrypt, encrypt } from '../../src/keys/operations/encrypt.js';
import { signMessage } from '../../src/keys/operations/sign.js';
import { deriveSharedSecret } from '../../src/keys/operations/agreement.js';
import { dataKey } from '../../src/keys/operations/datakey.js';
import { DATA_KEY_PAIR_TYPES, generateDataKeyPair } from '../../src/keys/operations/datakey-pair.js';
import { publicKey } from '../../src/keys/operations/public-key.js';

async function setup(t: TestContext) {
  const { barrier } = await memoryBarrier(t);
  let now = Date.parse('2026-03-01T00:00:00Z');
  const clock = () => new Date(now);
  return { barrier, keys: new KeyManager(barrier, { now: clock }), clock, advance: (ms: number) => (now += ms) };
}

const code = (c: string) => ({ code: c });

test('usage is fixed at creation: an RSA key for encryption does not sign, one for signing does not encrypt; a type that cannot serve a usage is refused', async (t) => {
  const { keys, barrier } = await setup(t);
  const enc = await keys.create({ name: 'rsa-enc', type: 'rsa-2048', usage: 'encrypt-decrypt' });
  const sig = await keys.create({ name: 'rsa-sig', type: 'rsa-2048', usage: 'sign-verify' });
  const free = await keys.create({ name: 'rsa-free', type: 'rsa-2048' });
  assert.equal(enc.record.usage, 'encrypt-decrypt');
  assert.equal(free.record.usage, undefined, 'keys created without a usage keep every use their type has');
  const m = new Uint8Array([1, 2, 3]);
  assert.throws(() => signMessage(enc, m, {}), code('KH_KEY_OPERATION_UNSUPPORTED'));
  assert.throws(() => encrypt(sig, { plaintext: m }), code('KH_KEY_OPERATION_UNSUPPORTED'));
  assert.ok(signMessage(sig, m, {}).signature.startsWith('keyhold:v1:'));
  assert.deepEqual(decrypt(enc, { ciphertext: encrypt(enc, { plaintext: m }).ciphertext }).plaintext, m);
  assert.ok(signMessage(free, m, {}) && encrypt(free, { plaintext: m }));
  await assert.rejects(keys.create({ name: 'bad', type: 'aes256-gcm', usage: 'sign-verify' }), code('KH_KEY_CONFIG_INVALID'));
  await assert.rejects(keys.create({ name: 'bad2', type: 'ed25519', usage: 'key-agreement' }), code('KH_KEY_CONFIG_INVALID'));
  // The usage is part of the stored record: a fresh manager (no cache) reads it back.
  assert.equal((await new KeyManager(barrier).get('rsa-sig')).record.usage, 'sign-verify');
});

test('RSA-OAEP with SHA-1 (KMS RSAES_OAEP_SHA_1) interoperates with node:crypto; AEAD keys refuse an OAEP hash', async (t) => {
  const { keys } = await setup(t);
  const key = await keys.create({ name: 'rsa', type: 'rsa-3072', usage: 'encrypt-decrypt' });
  const pub = createPublicKey({ key: Buffer.from(publicKey(key, undefined, 'raw').publicKey as string, 'base64'), format: 'der', type: 'spki' });
  const local = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from('sha1 oaep'));
  const ct = `keyhold:v1:${local.toString('base64')}`;
  assert.equal(Buffer.from(decrypt(key, { ciphertext: ct, oaepHash: 'sha1' }).plaintext).toString(), 'sha1 oaep');
  assert.throws(() => decrypt(key, { ciphertext: ct, oaepHash: 'sha256' }), code('KH_DECRYPT_FAILED'));
  const aes = await keys.create({ name: 'aes' });
  assert.throws(() => encrypt(aes, { plaintext: new Uint8Array(1), oaepHash: 'sha1' }), code('KH_KEY_OPTION_UNSUPPORTED'));
});

test('a key awaiting imported material: pending-import until importFirstMaterial, refused for every use, and deletion returns it to waiting', async (t) => {
  const { keys } = await setup(t);
  const pending = await keys.createAwaitingImport({ name: 'byok', type: 'aes256-gcm', usage: 'encrypt-decrypt' });
  assert.equal(pending.record.state, 'pending-import');
  assert.equal(pending.record.latestVersion, 0);
  assert.deepEqual(pending.record.versions, []);
  assert.equal(pending.record.origin, 'imported');
  assert.throws(() => encrypt(pending, { plaintext: new Uint8Array(1) }), code('KH_KEY_PENDING_IMPORT'));
  await assert.rejects(keys.setEnabled('byok', true), code('KH_KEY_PENDING_IMPORT'));
  await assert.rejects(keys.rotate('byok'), code('KH_KEY_PENDING_IMPORT'));
  await assert.rejects(keys.importNewVersion('byok', { secret: new Uint8Array(32) }), code('KH_KEY_PENDING_IMPORT'));
  await assert.rejects(keys.exportKey('byok'), code('KH_KEY_NOT_EXPORTABLE'));
  await keys.update('byok', { tags: { team: 'a' } });

  await keys.scheduleDeletion('byok', 7);
  await assert.rejects(keys.importFirstMaterial('byok', { secret: new Uint8Array(32) }), code('KH_KEY_PENDING_DELETION'));
  assert.equal((await keys.cancelDeletion('byok')).record.state, 'pending-import', 'no material: back to waiting, not disabled');

  await assert.rejects(keys.importFirstMaterial('byok', { secret: new Uint8Array(16) }), code('KH_INPUT_INVALID'));
  await assert.rejects(keys.importFirstMaterial('byok', { publicKey: new Uint8Array(32) }), code('KH_INPUT_INVALID'));
  const material = new Uint8Array(randomBytes(32));
  const ready = await keys.importFirstMaterial('byok', { secret: material });
  assert.equal(ready.record.state, 'enabled');
  assert.equal(ready.record.latestVersion, 1);
  assert.deepEqual(decrypt(ready, { ciphertext: encrypt(ready, { plaintext: new Uint8Array([9]) }).ciphertext }).plaintext, new Uint8Array([9]));
  await assert.rejects(keys.importFirstMaterial('byok', { secret: material }), code('KH_KEY_CONFIG_INVALID'));
  await assert.rejects(keys.createAwaitingImport({ name: 'hsm', type: 'hsm-aes256-gcm' }), code('KH_KEY_OPERATION_UNSUPPORTED'));
  assert.equal((await keys.importKey({ name: 'v1-import', secret: new Uint8Array(32) })).record.origin, 'imported', '/v1 imports are marked too');
  assert.equal((await keys.create({ name: 'generated' })).record.origin, undefined);
});

test('ECDH: NIST curve keys created for key agreement agree with node:crypto; signing keys of the same curves never do ECDH', async (t) => {
  const { keys } = await setup(t);
  for (const [type, curve] of [['ecdsa-p256', 'prime256v1'], ['ecdsa-p384', 'secp384r1'], ['ecdsa-p521', 'secp521r1']] as const) {
    const key = await keys.create({ name: `agree-${type}`, type, usage: 'key-agreement' });
    const ours = createPublicKey({ key: Buffer.from(publicKey(key, undefined, 'raw').publicKey as string, 'base64'), format: 'der', type: 'spki' });
    const peer = generateKeyPairSync('ec', { namedCurve: curve });
    const { secret } = deriveSharedSecret(key, { peerPublicKey: new Uint8Array(peer.publicKey.export({ format: 'der', type: 'spki' })), output: 'shared-secret' });
    assert.deepEqual(Buffer.from(secret), diffieHellman({ privateKey: peer.privateKey, publicKey: ours }), type);
    assert.throws(() => signMessage(key, new Uint8Array(1), {}), code('KH_KEY_OPERATION_UNSUPPORTED'));
    const other = generateKeyPairSync('ec', { namedCurve: curve === 'prime256v1' ? 'secp384r1' : 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
    assert.throws(() => deriveSharedSecret(key, { peerPublicKey: new Uint8Array(other), output: 'shared-secret' }), code('KH_INPUT_INVALID'));
  }
  const signing = await keys.create({ name: 'sign-p256', type: 'ecdsa-p256' });
  const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
  assert.throws(() => deriveSharedSecret(signing, { peerPublicKey: new Uint8Array(peer), output: 'shared-secret' }), code('KH_KEY_OPERATION_UNSUPPORTED'));
});

test('data keys of 1..1024 bytes; data key pairs are PKCS#8 and SPKI of one fresh pair', async (t) => {
  const { keys } = await setup(t);
  const key = await keys.create({ name: 'dk' });
  for (const bytes of [1, 17, 1024]) {
    const r = dataKey(key, { bytes, includePlaintext: true, context: { a: 'b' } });
    assert.equal(r.plaintext!.length, bytes);
    assert.deepEqual(decrypt(key, { ciphertext: r.ciphertext, context: { a: 'b' } }).plaintext, r.plaintext);
  }
  assert.throws(() => dataKey(key, { bytes: 0, includePlaintext: true }), code('KH_INPUT_INVALID'));
  assert.throws(() => dataKey(key, { bytes: 1025, includePlaintext: true }), code('KH_INPUT_INVALID'));
  for (const type of DATA_KEY_PAIR_TYPES) {
    const a = generateDataKeyPair(type);
    const b = generateDataKeyPair(type);
    const priv = createPrivateKey({ key: Buffer.from(a.privateKey), format: 'der', type: 'pkcs8' });
    assert.deepEqual(createPublicKey(priv).export({ format: 'der', type: 'spki' }), Buffer.from(a.publicKey), type);
    assert.notDeepEqual(a.publicKey, b.publicKey, `${type}: fresh each time`);
  }
});

test('aliases: KMS name rules, one alias names one key, update and delete, stale aliases vanish from the list', async (t) => {
  const { barrier } = await setup(t);
  const aliases = new KeyAliases(barrier);
  for (const bad of ['orders', 'alias/', 'alias/aws/s3', 'alias/with space', `alias/${'x'.repeat(251)}`, 'alias/é']) assert.throws(() => checkAliasName(bad), code('KH_KEY_ALIAS_INVALID'), bad);
  checkAliasName(`alias/${'x'.repeat(250)}`);
  await aliases.create('alias/orders', 'key-a');
  await aliases.create('alias/team/b', 'key-b');
  await assert.rejects(aliases.create('alias/orders', 'key-b'), code('KH_KEY_ALIAS_EXISTS'));
  assert.equal((await aliases.get('alias/orders'))?.target, 'key-a');
  await aliases.update('alias/orders', 'key-b');
  assert.equal((await aliases.get('alias/orders'))?.target, 'key-b');
  await assert.rejects(aliases.update('alias/missing', 'key-a'), code('KH_KEY_ALIAS_NOT_FOUND'));
  // Concurrent creations of one alias: exactly one wins.
  const results = await Promise.allSettled([aliases.create('alias/race', 'x'), aliases.create('alias/race', 'y')]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const listed = await aliases.list(async (target) => target !== 'x' && target !== 'y');
  assert.deepEqual(listed.map((a) => a.alias), ['alias/orders', 'alias/team/b'], 'the alias of a deleted key is not listed');
  assert.equal(await aliases.get('alias/race'), undefined, '...and is removed');
  await aliases.delete('alias/orders');
  await assert.rejects(aliases.delete('alias/orders'), code('KH_KEY_ALIAS_NOT_FOUND'));
  // Alias names are not stored in the clear.
  const paths = await barrier.view('key-aliases/').list();
  assert.ok(paths.every((p) => !p.includes('team')), 'paths are HMACs of the names');
});

test('import tokens are bound to their key and wrapping algorithm, opaque, and expire after 24 hours', async (t) => {
  const { barrier, clock, advance } = await setup(t);
  const tokens = new ImportTokens(barrier, { now: clock });
  const { token, expiresAt } = await tokens.issue('key-1', 'rsa-oaep-sha256');
  assert.equal(expiresAt.getTime(), clock().getTime() + IMPORT_TOKEN_TTL_SECONDS * 1000);
  assert.ok(!Buffer.from(token).includes(Buffer.from('key-1')), 'the key name is not in the token');
  assert.equal(await tokens.verify(token, 'key-1'), 'rsa-oaep-sha256');
  await assert.rejects(tokens.verify(token, 'key-2'), code('KH_IMPORT_TOKEN_INVALID'));
  const flipped = new Uint8Array(token);
  flipped[14] = flipped[14]! ^ 1;
  await assert.rejects(tokens.verify(flipped, 'key-1'), code('KH_IMPORT_TOKEN_INVALID'));
  await assert.rejects(tokens.verify(token.subarray(0, 20), 'key-1'), code('KH_IMPORT_TOKEN_INVALID'));
  await assert.rejects(tokens.verify(new Uint8Array(0), 'key-1'), code('KH_IMPORT_TOKEN_INVALID'));
  // A second ImportTokens on the same barrier (another node, a restart) accepts it: the token key is stored.
  assert.equal(await new ImportTokens(barrier, { now: clock }).verify(token, 'key-1'), 'rsa-oaep-sha256');
  advance(IMPORT_TOKEN_TTL_SECONDS * 1000);
  await assert.rejects(tokens.verify(token, 'key-1'), code('KH_IMPORT_TOKEN_INVALID'));
});

test('the wrapping key unwraps plain RSA-OAEP-SHA-256 (KMS RSAES_OAEP_SHA_256) and gives one error for anything else', async (t) => {
  const { barrier } = await setup(t);
  const wrapping = new WrappingKey(barrier);
  const pub = createPublicKey({ key: Buffer.from(await wrapping.publicKeyDer()), format: 'der', type: 'spki' });
  assert.equal(pub.asymmetricKeyDetails?.modulusLength, 4096);
  const material = randomBytes(64);
  assert.deepEqual(Buffer.from(await wrapping.unwrapOaep(publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material))), material);
  await assert.rejects(wrapping.unwrapOaep(publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, material)), code('KH_DECRYPT_FAILED'));
  await assert.rejects(wrapping.unwrapOaep(randomBytes(512)), code('KH_DECRYPT_FAILED'));
  await assert.rejects(wrapping.unwrapOaep(randomBytes(100)), code('KH_DECRYPT_FAILED'));
});
