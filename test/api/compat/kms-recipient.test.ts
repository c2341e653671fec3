/**
 * KMS's Recipient (Nitro attestation document with an RSA public_key) through
 * the real @aws-sdk/client-kms, with the simulated enclave and
 * enclave.trustSimulatedRoot: Decrypt, GenerateDataKey, GenerateDataKeyPair,
 * GenerateRandom and DeriveSharedSecret return CiphertextForRecipient (CMS
 * EnvelopedData, RFC 5652) and no plaintext, and `openssl cms -decrypt`
 * opens it with the recipient's private key. A key with a release policy
 * releases only this way, and its data cannot be re-encrypted out from under it.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants, createPublicKey, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateKeyCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  DecryptCommand,
  DeriveSharedSecretCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateRandomCommand,
  GetPublicKeyCommand,
  ReEncryptCommand,
  type KMSServiceException,
} from '@aws-sdk/client-kms';
import { createSimulatedProvider } from '../../../src/attestation/simulated/simulated-provider.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { kmsSetup } from './kms-helpers.js';

/** Opens CMS EnvelopedData with OpenSSL's own implementation, not Keyhold's. */
function opensslOpen(t: TestContext, der: Uint8Array, privateKey: KeyObject): Buffer {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'cms.der'), der);
  writeFileSync(join(dir, 'key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const r = spawnSync('openssl', ['cms', '-decrypt', '-inform', 'DER', '-in', join(dir, 'cms.der'), '-inkey', join(dir, 'key.pem'), '-binary'], { encoding: 'buffer' });
  assert.equal(r.status, 0, `openssl cms -decrypt: ${r.stderr.toString()}`);
  return r.stdout;
}

async function refusedAs(p: Promise<unknown>, name: string): Promise<void> {
  const e = await p.then(
    () => assert.fail(`expected ${name}`),
    (err: unknown) => err as KMSServiceException,
  );
  assert.equal(e.name, name, e.message);
}

test('Recipient: every releasing operation answers CiphertextForRecipient (CMS) that OpenSSL opens, and no plaintext', async (t) => {
  const s = await kmsSetup(t, { enclave: { provider: 'simulated', trustSimulatedRoot: true } });
  const { kms } = await s.client('app', ['kms-users']);
  const enclave = await createSimulatedProvider({ rootDir: join(s.dir, 'enclave-sim') });
  t.after(() => enclave.close());
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const Recipient = { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' as const, AttestationDocument: await enclave.attest({ publicKey: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })) }) };

  const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
  const enc = await kms.send(new EncryptCommand({ KeyId: key.KeyId!, Plaintext: Buffer.from('for the enclave only') }));
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, Recipient }));
  assert.equal(dec.Plaintext, undefined, 'no plaintext next to CiphertextForRecipient');
  assert.equal(opensslOpen(t, dec.CiphertextForRecipient!, privateKey).toString(), 'for the enclave only');

  const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: key.Arn!, NumberOfBytes: 32, Recipient }));
  assert.equal(dk.Plaintext, undefined);
  const dataKey = opensslOpen(t, dk.CiphertextForRecipient!, privateKey);
  assert.equal(dataKey.length, 32);
  assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob! }))).Plaintext!), dataKey, 'the wrapped data key is the released one');

  const pair = await kms.send(new GenerateDataKeyPairCommand({ KeyId: key.KeyId!, KeyPairSpec: 'ECC_NIST_P256', Recipient }));
  assert.equal(pair.PrivateKeyPlaintext, undefined);
  const pkcs8 = opensslOpen(t, pair.CiphertextForRecipient!, privateKey);
  assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: pair.PrivateKeyCiphertextBlob! }))).Plaintext!), pkcs8);

  const random = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 48, Recipient }));
  assert.equal(random.Plaintext, undefined);
  assert.equal(opensslOpen(t, random.CiphertextForRecipient!, privateKey).length, 48);

  const agree = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' }))).KeyMetadata!;
  const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const derived = await kms.send(new DeriveSharedSecretCommand({ KeyId: agree.KeyId!, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer.publicKey.export({ format: 'der', type: 'spki' }), Recipient }));
  assert.equal(derived.SharedSecret, undefined);
  const agreePub = createPublicKey({ key: Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: agree.KeyId! }))).PublicKey!), format: 'der', type: 'spki' });
  assert.deepEqual(opensslOpen(t, derived.CiphertextForRecipient!, privateKey), diffieHellman({ privateKey: peer.privateKey, publicKey: agreePub }));

  // A document whose public_key is not RSA (X25519 raw), and one that does not verify, are refused.
  const x = await enclave.attest({ publicKey: new Uint8Array(32).fill(9) });
  await refusedAs(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, Recipient: { AttestationDocument: x } })), 'ValidationException');
  await refusedAs(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, Recipient: { AttestationDocument: new Uint8Array([1, 2, 3]) } })), 'ValidationException');
});

test('a key with a release policy releases only to a matching recipient; ReEncrypt cannot move its data under a key without the policy', async (t) => {
  const s = await kmsSetup(t, { enclave: { provider: 'simulated', trustSimulatedRoot: true } });
  const { kms } = await s.client('app', ['kms-users']);
  const enclave = await createSimulatedProvider({ rootDir: join(s.dir, 'enclave-sim') });
  t.after(() => enclave.close());
  const pcr0 = Buffer.from((await enclave.pcrs()).get(0)!).toString('hex');
  assert.equal((await s.v1('POST', '/v1/keys', { name: 'released', releasePolicy: { pcrs: { '0': pcr0 } } })).status, 200);
  const enc = await kms.send(new EncryptCommand({ KeyId: 'released', Plaintext: Buffer.from('attested eyes only') }));
  await refusedAs(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob! })), 'AccessDeniedException');
  await refusedAs(kms.send(new GenerateDataKeyCommand({ KeyId: 'released', NumberOfBytes: 32 })), 'AccessDeniedException');

  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, Recipient: { AttestationDocument: await enclave.attest({ publicKey: spki }) } }));
  assert.equal(opensslOpen(t, dec.CiphertextForRecipient!, privateKey).toString(), 'attested eyes only');

  // Another build (other PCRs) is refused.
  const other = await createSimulatedProvider({ rootDir: join(s.dir, 'enclave-sim'), pcrs: new Map([[0, new Uint8Array(48).fill(7)], [1, new Uint8Array(48)], [2, new Uint8Array(48)]]) });
  t.after(() => other.close());
  await refusedAs(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, Recipient: { AttestationDocument: await other.attest({ publicKey: spki }) } })), 'AccessDeniedException');

  const plain = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
  await refusedAs(kms.send(new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob!, DestinationKeyId: plain.KeyId! })), 'AccessDeniedException');
  // Without a release policy the plaintext data key is handed out as usual.
  assert.equal((await kms.send(new GenerateDataKeyCommand({ KeyId: plain.KeyId!, NumberOfBytes: 16 }))).Plaintext!.length, 16);
});

test('ReEncrypt across keys is a decryption: it needs decrypt on the source, and never moves a release-policy key\'s data, not even under a key with the same policy', async (t) => {
  const s = await kmsSetup(t, { enclave: { provider: 'simulated', trustSimulatedRoot: true } });
  const policy = { pcrs: { '0': 'ab'.repeat(48) } };
  assert.equal((await s.v1('POST', '/v1/keys', { name: 'guarded', type: 'aes256-gcm', releasePolicy: policy })).status, 200);
  assert.equal((await s.v1('POST', '/v1/keys', { name: 'open', type: 'aes256-gcm' })).status, 200);
  const { kms } = await s.client('alice', ['kms-users']);

  // A key whose material the caller knows, given the same release policy.
  const mine = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
  const p = await kms.send(new GetParametersForImportCommand({ KeyId: mine, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_4096' }));
  const material = randomBytes(32);
  const wrapped = publicEncrypt({ key: createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
  await kms.send(new ImportKeyMaterialCommand({ KeyId: mine, ImportToken: p.ImportToken!, EncryptedKeyMaterial: wrapped, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
  assert.equal((await s.v1('PATCH', `/v1/keys/${mine}`, { releasePolicy: policy })).status, 200);
  const guarded = await kms.send(new EncryptCommand({ KeyId: 'guarded', Plaintext: Buffer.from('top secret') }));
  await refusedAs(kms.send(new ReEncryptCommand({ CiphertextBlob: guarded.CiphertextBlob!, DestinationKeyId: mine })), 'AccessDeniedException');
  // Under the same key it stays where it was: allowed.
  const same = await kms.send(new ReEncryptCommand({ CiphertextBlob: guarded.CiphertextBlob!, DestinationKeyId: 'guarded' }));
  assert.ok(same.CiphertextBlob !== undefined);

  // A caller allowed rewrap (and encrypt) but not decrypt may re-encrypt within a key, not across keys.
  const rewrapper = (await s.client('rob', ['kms-rewrappers'])).kms;
  const ct = await rewrapper.send(new EncryptCommand({ KeyId: 'open', Plaintext: Buffer.from('payload') }));
  assert.ok((await rewrapper.send(new ReEncryptCommand({ CiphertextBlob: ct.CiphertextBlob!, DestinationKeyId: 'open' }))).CiphertextBlob);
  await refusedAs(rewrapper.send(new ReEncryptCommand({ CiphertextBlob: ct.CiphertextBlob!, DestinationKeyId: mine })), 'AccessDeniedException');
});
