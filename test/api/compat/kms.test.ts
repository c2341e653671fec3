/**
 * AWS KMS compatibility, proven with the real @aws-sdk/client-kms against a
 * listening Keyhold, signing with access keys Keyhold issued to a user whose
 * groups a pushed Cedar bundle authorises: every operation of the conformance
 * table (docs/compat.md), KMS's key ids, ARNs and aliases, ciphertext blobs
 * that Decrypt opens without a KeyId, encryption context binding, KMS limits
 * and exception names, signatures checked independently with node:crypto
 * (and @noble/post-quantum for ML-DSA), BYOK with material wrapped locally,
 * and a Cedar denial.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createDecipheriv, createHash, createPublicKey, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes, createPrivateKey, verify as cryptoVerify, createCipheriv } from 'node:crypto';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { aeskwp } from '@noble/ciphers/aes.js';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DeriveSharedSecretCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateDataKeyPairWithoutPlaintextCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateMacCommand,
  GenerateRandomCommand,
  GetKeyRotationStatusCommand,
  GetParametersForImportCommand,
  GetPublicKeyCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  type KMSServiceException,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateAliasCommand,
  VerifyCommand,
  VerifyMacCommand,
  type KeySpec,
  type KeyUsageType,
  type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms';
import { arnOf, kmsSetup } from './kms-helpers.js';

async function refused(p: Promise<unknown>, name: string, message?: RegExp): Promise<KMSServiceException> {
  const e = await p.then(
    () => assert.fail(`expected ${name}`),
    (err: unknown) => err as KMSServiceException,
  );
  assert.equal(e.name, name, `${e.name}: ${e.message}`);
  const status = e.$metadata.httpStatusCode ?? 0;
  assert.ok(status >= 400 && status < 500, `${name} is a 4xx, got ${status}`);
  if (message !== undefined) assert.match(e.message, message);
  return e;
}

async function newKey(kms: KMSClient, spec: KeySpec = 'SYMMETRIC_DEFAULT', usage?: KeyUsageType): Promise<{ id: string; arn: string }> {
  const r = await kms.send(new CreateKeyCommand({ KeySpec: spec, ...(usage !== undefined && { KeyUsage: usage }) }));
  return { id: r.KeyMetadata!.KeyId!, arn: r.KeyMetadata!.Arn! };
}

const text = (b: Uint8Array | undefined): string => Buffer.from(b!).toString('utf8');

test('key lifecycle: CreateKey, DescribeKey by id/ARN, ListKeys paging, Enable/Disable, tags, scheduled deletion', async (t) => {
  const s = await kmsSetup(t);
  const { kms } = await s.client('app', ['kms-users']);
  const created = await kms.send(new CreateKeyCommand({ Description: 'orders', Tags: [{ TagKey: 'team', TagValue: 'payments' }] }));
  const m = created.KeyMetadata!;
  assert.match(m.KeyId!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUID v4 key id');
  assert.equal(m.Arn, arnOf(m.KeyId!));
  assert.equal(m.AWSAccountId, '111122223333');
  assert.deepEqual(
    { KeySpec: m.KeySpec, KeyUsage: m.KeyUsage, KeyState: m.KeyState, Enabled: m.Enabled, Origin: m.Origin, KeyManager: m.KeyManager, Description: m.Description, MultiRegion: m.MultiRegion },
    { KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT', KeyState: 'Enabled', Enabled: true, Origin: 'AWS_KMS', KeyManager: 'CUSTOMER', Description: 'orders', MultiRegion: false },
  );
  assert.deepEqual(m.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT']);
  assert.ok(m.CreationDate instanceof Date && Math.abs(m.CreationDate.getTime() - Date.now()) < 60_000, 'CreationDate is epoch seconds');
  for (const keyId of [m.KeyId!, m.Arn!]) assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyId, m.KeyId);

  // A key created through /v1 is reachable by its name too.
  assert.equal((await s.v1('POST', '/v1/keys', { name: 'v1-key' })).status, 200);
  const v1Key = (await kms.send(new DescribeKeyCommand({ KeyId: 'v1-key' }))).KeyMetadata!;
  assert.equal(v1Key.Arn, arnOf('v1-key'));
  assert.equal(v1Key.KeySpec, 'SYMMETRIC_DEFAULT');

  for (let i = 0; i < 3; i++) await kms.send(new CreateKeyCommand({}));
  const ids: string[] = [];
  let marker: string | undefined;
  do {
    const page = await kms.send(new ListKeysCommand({ Limit: 2, ...(marker !== undefined && { Marker: marker }) }));
    assert.ok(page.Keys!.length <= 2);
    for (const k of page.Keys!) {
      assert.equal(k.KeyArn, arnOf(k.KeyId!));
      ids.push(k.KeyId!);
    }
    marker = page.Truncated === true ? page.NextMarker : undefined;
  } while (marker !== undefined);
  assert.equal(ids.length, 5);
  assert.equal(new Set(ids).size, 5);
  assert.ok(ids.includes(m.KeyId!) && ids.includes('v1-key'));

  await kms.send(new DisableKeyCommand({ KeyId: m.KeyId! }));
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: m.KeyId! }))).KeyMetadata!.KeyState, 'Disabled');
  await refused(kms.send(new EncryptCommand({ KeyId: m.KeyId!, Plaintext: Buffer.from('x') })), 'DisabledException');
  await kms.send(new EnableKeyCommand({ KeyId: m.KeyId! }));

  await kms.send(new TagResourceCommand({ KeyId: m.Arn!, Tags: [{ TagKey: 'env', TagValue: 'prod' }, { TagKey: 'team', TagValue: 'billing' }] }));
  const tags = await kms.send(new ListResourceTagsCommand({ KeyId: m.KeyId!, Limit: 1 }));
  assert.deepEqual(tags.Tags, [{ TagKey: 'env', TagValue: 'prod' }]);
  assert.equal(tags.Truncated, true);
  const rest = await kms.send(new ListResourceTagsCommand({ KeyId: m.KeyId!, Marker: tags.NextMarker! }));
  assert.deepEqual(rest.Tags, [{ TagKey: 'team', TagValue: 'billing' }]);
  assert.equal(rest.Truncated, false);
  await kms.send(new UntagResourceCommand({ KeyId: m.KeyId!, TagKeys: ['env'] }));
  assert.deepEqual((await kms.send(new ListResourceTagsCommand({ KeyId: m.KeyId! }))).Tags, [{ TagKey: 'team', TagValue: 'billing' }]);
  await refused(kms.send(new TagResourceCommand({ KeyId: m.KeyId!, Tags: [{ TagKey: 'aws:reserved', TagValue: 'x' }] })), 'TagException');
  await refused(kms.send(new TagResourceCommand({ KeyId: m.KeyId!, Tags: Array.from({ length: 51 }, (_, i) => ({ TagKey: `k${i}`, TagValue: '' })) })), 'LimitExceededException');

  const scheduled = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: m.KeyId!, PendingWindowInDays: 7 }));
  assert.equal(scheduled.KeyId, m.Arn);
  assert.equal(scheduled.KeyState, 'PendingDeletion');
  assert.equal(scheduled.PendingWindowInDays, 7);
  assert.ok(Math.abs(scheduled.DeletionDate!.getTime() - (Date.now() + 7 * 86_400_000)) < 60_000);
  await refused(kms.send(new EncryptCommand({ KeyId: m.KeyId!, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException');
  await refused(kms.send(new ScheduleKeyDeletionCommand({ KeyId: m.KeyId! })), 'KMSInvalidStateException');
  await refused(kms.send(new ScheduleKeyDeletionCommand({ KeyId: m.KeyId!, PendingWindowInDays: 6 })), 'ValidationException');
  assert.equal((await kms.send(new CancelKeyDeletionCommand({ KeyId: m.KeyId! }))).KeyId, m.Arn);
  // As KMS: a key whose deletion was cancelled comes back Disabled.
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: m.KeyId! }))).KeyMetadata!.KeyState, 'Disabled');
  await refused(kms.send(new CancelKeyDeletionCommand({ KeyId: m.KeyId! })), 'KMSInvalidStateException');

  await refused(kms.send(new DescribeKeyCommand({ KeyId: '00000000-0000-4000-8000-000000000000' })), 'NotFoundException');
  await refused(kms.send(new DescribeKeyCommand({ KeyId: 'arn:aws:kms:eu-west-1:111122223333:key/x' })), 'NotFoundException');
  await refused(kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_224', KeyUsage: 'GENERATE_VERIFY_MAC' })), 'UnsupportedOperationException', /HMAC_224/);
  await refused(kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'ENCRYPT_DECRYPT' })), 'ValidationException');
  await refused(kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256' })), 'ValidationException', /KeyUsage is required/);
  await refused(kms.send(new CreateKeyCommand({ Policy: '{"Version":"2012-10-17"}' })), 'UnsupportedOperationException', /Cedar/);
  await refused(kms.send(new CreateKeyCommand({ MultiRegion: true })), 'UnsupportedOperationException');
});

test('aliases: create, resolve in every KeyId form, list, update, delete; KMS name rules', async (t) => {
  const s = await kmsSetup(t);
  const { kms } = await s.client('app', ['kms-users']);
  const a = await newKey(kms);
  const b = await newKey(kms);
  const rsa = await newKey(kms, 'RSA_2048', 'SIGN_VERIFY');
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/orders', TargetKeyId: a.id }));
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/team/invoices', TargetKeyId: b.arn }));
  for (const keyId of ['alias/orders', 'arn:aws:kms:us-east-1:111122223333:alias/orders']) {
    const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('via alias') }));
    assert.equal(enc.KeyId, a.arn, 'responses name the key ARN, not the alias');
    assert.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob! }))).Plaintext), 'via alias');
  }
  const listed = await kms.send(new ListAliasesCommand({}));
  assert.deepEqual(
    listed.Aliases!.map((x) => [x.AliasName, x.AliasArn, x.TargetKeyId]),
    [
      ['alias/orders', 'arn:aws:kms:us-east-1:111122223333:alias/orders', a.id],
      ['alias/team/invoices', 'arn:aws:kms:us-east-1:111122223333:alias/team/invoices', b.id],
    ],
  );
  assert.ok(listed.Aliases![0]!.CreationDate instanceof Date);
  const page = await kms.send(new ListAliasesCommand({ Limit: 1 }));
  assert.equal(page.Truncated, true);
  assert.deepEqual((await kms.send(new ListAliasesCommand({ Marker: page.NextMarker! }))).Aliases!.map((x) => x.AliasName), ['alias/team/invoices']);
  assert.deepEqual((await kms.send(new ListAliasesCommand({ KeyId: b.arn }))).Aliases!.map((x) => x.AliasName), ['alias/team/invoices']);

  await refused(kms.send(new CreateAliasCommand({ AliasName: 'alias/orders', TargetKeyId: b.id })), 'AlreadyExistsException');
  await refused(kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/s3', TargetKeyId: b.id })), 'InvalidAliasNameException');
  await refused(kms.send(new CreateAliasCommand({ AliasName: 'orders2', TargetKeyId: b.id })), 'InvalidAliasNameException');
  await refused(kms.send(new CreateAliasCommand({ AliasName: 'alias/bad name', TargetKeyId: b.id })), 'InvalidAliasNameException');
  await refused(kms.send(new CreateAliasCommand({ AliasName: 'alias/x', TargetKeyId: 'alias/orders' })), 'ValidationException');

  await kms.send(new UpdateAliasCommand({ AliasName: 'alias/orders', TargetKeyId: b.id }));
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/orders' }))).KeyMetadata!.KeyId, b.id);
  // As KMS: an alias moves only to a key of the same spec and usage.
  await refused(kms.send(new UpdateAliasCommand({ AliasName: 'alias/orders', TargetKeyId: rsa.id })), 'ValidationException');
  await kms.send(new DeleteAliasCommand({ AliasName: 'alias/orders' }));
  await refused(kms.send(new DescribeKeyCommand({ KeyId: 'alias/orders' })), 'NotFoundException');
  await refused(kms.send(new DeleteAliasCommand({ AliasName: 'alias/orders' })), 'NotFoundException');
  await refused(kms.send(new UpdateAliasCommand({ AliasName: 'alias/missing', TargetKeyId: a.id })), 'NotFoundException');
});

test('symmetric encryption: blobs carry the key, context is bound, IncorrectKey, ReEncrypt, data keys and pairs, random, limits, DryRun', async (t) => {
  const s = await kmsSetup(t);
  const { kms } = await s.client('app', ['kms-users']);
  const k1 = await newKey(kms);
  const k2 = await newKey(kms);
  const context = { tenant: 'acme', purpose: 'invoices' };
  const enc = await kms.send(new EncryptCommand({ KeyId: k1.id, Plaintext: Buffer.from('secret'), EncryptionContext: context }));
  assert.equal(enc.KeyId, k1.arn);
  assert.equal(enc.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
  // Documented blob format: "KH" 0x01 | len | key id | u32 version | nonce || ciphertext || tag.
  const blob = Buffer.from(enc.CiphertextBlob!);
  assert.deepEqual([...blob.subarray(0, 3)], [0x4b, 0x48, 0x01]);
  assert.equal(blob.subarray(4, 4 + blob[3]!).toString(), k1.id);
  assert.equal(blob.readUInt32BE(4 + blob[3]!), 1);
  assert.equal(blob.length, 4 + 36 + 4 + 12 + 6 + 16);

  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: { purpose: 'invoices', tenant: 'acme' } }));
  assert.equal(text(dec.Plaintext), 'secret');
  assert.equal(dec.KeyId, k1.arn);
  assert.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: context, KeyId: k1.arn }))).Plaintext), 'secret');
  await refused(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob! })), 'InvalidCiphertextException');
  await refused(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: { tenant: 'evil', purpose: 'invoices' } })), 'InvalidCiphertextException');
  await refused(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: context, KeyId: k2.id })), 'IncorrectKeyException');
  const tampered = Buffer.from(blob);
  tampered[tampered.length - 1]! ^= 1;
  await refused(kms.send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: context })), 'InvalidCiphertextException');
  await refused(kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from('not a blob at all') })), 'InvalidCiphertextException');

  const re = await kms.send(new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob!, SourceEncryptionContext: context, DestinationKeyId: k2.arn, DestinationEncryptionContext: { moved: 'yes' } }));
  assert.equal(re.SourceKeyId, k1.arn);
  assert.equal(re.KeyId, k2.arn);
  assert.equal(re.SourceEncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
  assert.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob!, EncryptionContext: { moved: 'yes' } }))).Plaintext), 'secret');

  const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: k1.id, KeySpec: 'AES_256', EncryptionContext: context }));
  assert.equal(dk.Plaintext!.length, 32);
  assert.equal(dk.KeyId, k1.arn);
  assert.deepEqual((await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob!, EncryptionContext: context }))).Plaintext, dk.Plaintext);
  assert.equal((await kms.send(new GenerateDataKeyCommand({ KeyId: k1.id, KeySpec: 'AES_128' }))).Plaintext!.length, 16);
  assert.equal((await kms.send(new GenerateDataKeyCommand({ KeyId: k1.id, NumberOfBytes: 1024 }))).Plaintext!.length, 1024);
  await refused(kms.send(new GenerateDataKeyCommand({ KeyId: k1.id, NumberOfBytes: 1025 })), 'ValidationException');
  await refused(kms.send(new GenerateDataKeyCommand({ KeyId: k1.id })), 'ValidationException');
  await refused(kms.send(new GenerateDataKeyCommand({ KeyId: k1.id, KeySpec: 'AES_256', NumberOfBytes: 32 })), 'ValidationException');
  const wrapped = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: k1.id, NumberOfBytes: 48 }));
  assert.equal((wrapped as { Plaintext?: unknown }).Plaintext, undefined);
  assert.equal((await kms.send(new DecryptCommand({ CiphertextBlob: wrapped.CiphertextBlob! }))).Plaintext!.length, 48);

  for (const spec of ['RSA_2048', 'ECC_NIST_P256', 'ECC_SECG_P256K1', 'ECC_NIST_EDWARDS25519'] as const) {
    const pair = await kms.send(new GenerateDataKeyPairCommand({ KeyId: k1.id, KeyPairSpec: spec, EncryptionContext: context }));
    assert.equal(pair.KeyPairSpec, spec);
    const priv = createPrivateKey({ key: Buffer.from(pair.PrivateKeyPlaintext!), format: 'der', type: 'pkcs8' });
    assert.deepEqual(createPublicKey(priv).export({ format: 'der', type: 'spki' }), Buffer.from(pair.PublicKey!), `${spec}: the public key is the private key's`);
    const opened = await kms.send(new DecryptCommand({ CiphertextBlob: pair.PrivateKeyCiphertextBlob!, EncryptionContext: context }));
    assert.deepEqual(opened.Plaintext, pair.PrivateKeyPlaintext);
  }
  const noPlain = await kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: k1.id, KeyPairSpec: 'ECC_NIST_P384' }));
  assert.equal((noPlain as { PrivateKeyPlaintext?: unknown }).PrivateKeyPlaintext, undefined);
  const p384 = createPrivateKey({ key: Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: noPlain.PrivateKeyCiphertextBlob! }))).Plaintext!), format: 'der', type: 'pkcs8' });
  assert.equal(p384.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  await refused(kms.send(new GenerateDataKeyPairCommand({ KeyId: k1.id, KeyPairSpec: 'SM2' })), 'UnsupportedOperationException');

  const r1 = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 64 }));
  const r2 = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 64 }));
  assert.equal(r1.Plaintext!.length, 64);
  assert.notDeepEqual(r1.Plaintext, r2.Plaintext);
  await refused(kms.send(new GenerateRandomCommand({ NumberOfBytes: 0 })), 'ValidationException');
  await refused(kms.send(new GenerateRandomCommand({ NumberOfBytes: 1025 })), 'ValidationException');

  // KMS limits: Encrypt takes 1..4096 bytes.
  assert.ok((await kms.send(new EncryptCommand({ KeyId: k1.id, Plaintext: randomBytes(4096) }))).CiphertextBlob!.length <= 6144);
  await refused(kms.send(new EncryptCommand({ KeyId: k1.id, Plaintext: randomBytes(4097) })), 'ValidationException');
  await refused(kms.send(new EncryptCommand({ KeyId: k1.id, Plaintext: randomBytes(16), EncryptionContext: { big: 'x'.repeat(9000) } })), 'ValidationException');
  await refused(kms.send(new EncryptCommand({ KeyId: k1.id, Plaintext: Buffer.from('x'), DryRun: true })), 'DryRunOperationException');
  await refused(kms.send(new EncryptCommand({ KeyId: k1.id, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'InvalidKeyUsageException');
});

test('rotation: EnableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand; old blobs still decrypt; asymmetric keys refuse', async (t) => {
  const s = await kmsSetup(t);
  const { kms } = await s.client('app', ['kms-users']);
  const k = await newKey(kms);
  const before = await kms.send(new EncryptCommand({ KeyId: k.id, Plaintext: Buffer.from('v1 data') }));
  assert.deepEqual((await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.id }))).KeyRotationEnabled, false);
  await kms.send(new EnableKeyRotationCommand({ KeyId: k.id, RotationPeriodInDays: 90 }));
  const status = await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.id }));
  assert.equal(status.KeyRotationEnabled, true);
  assert.equal(status.RotationPeriodInDays, 90);
  assert.ok(Math.abs(status.NextRotationDate!.getTime() - (Date.now() + 90 * 86_400_000)) < 120_000);
  assert.equal((await s.v1('GET', `/v1/keys/${k.id}`)).body.autoRotatePeriodSeconds, 90 * 86_400, 'the same key through /v1');
  await refused(kms.send(new EnableKeyRotationCommand({ KeyId: k.id, RotationPeriodInDays: 89 })), 'ValidationException');
  await kms.send(new DisableKeyRotationCommand({ KeyId: k.id }));
  assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.id }))).KeyRotationEnabled, false);

  assert.equal((await kms.send(new RotateKeyOnDemandCommand({ KeyId: k.id }))).KeyId, k.arn);
  const after = await kms.send(new EncryptCommand({ KeyId: k.id, Plaintext: Buffer.from('v2 data') }));
  const blob = Buffer.from(after.CiphertextBlob!);
  assert.equal(blob.readUInt32BE(4 + blob[3]!), 2, 'new blobs use version 2');
  assert.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: before.CiphertextBlob! }))).Plaintext), 'v1 data');
  assert.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: after.CiphertextBlob! }))).Plaintext), 'v2 data');

  const ec = await newKey(kms, 'ECC_NIST_P256', 'SIGN_VERIFY');
  await refused(kms.send(new EnableKeyRotationCommand({ KeyId: ec.id })), 'UnsupportedOperationException');
  await refused(kms.send(new RotateKeyOnDemandCommand({ KeyId: ec.id })), 'UnsupportedOperationException');
  await refused(kms.send(new GetKeyRotationStatusCommand({ KeyId: ec.id })), 'UnsupportedOperationException');
});

test('asymmetric: RSA-OAEP (SHA-1 and SHA-256) interoperates with node:crypto; key usage is enforced', async (t) => {
  const s = await kmsSetup(t);
  const { kms } = await s.client('app', ['kms-users']);
  const rsa = await newKey(kms, 'RSA_3072', 'ENCRYPT_DECRYPT');
  const pub = await kms.send(new GetPublicKeyCommand({ KeyId: rsa.id }));
  assert.equal(pub.KeySpec, 'RSA_3072');
  assert.equal(pub.KeyUsage, 'ENCRYPT_DECRYPT');
  assert.deepEqual(pub.EncryptionAlgorithms, ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']);
  const key = createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' });
  for (const [algorithm, hash] of [['RSAES_OAEP_SHA_1', 'sha1'], ['RSAES_OAEP_SHA_256', 'sha256']] as const) {
    const local = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, Buffer.from(`local ${hash}`));
    const dec = await kms.send(new DecryptCommand({ KeyId: rsa.arn, CiphertextBlob: local, EncryptionAlgorithm: algorithm }));
    assert.equal(text(dec.Plaintext), `local ${hash}`);
    assert.equal(dec.EncryptionAlgorithm, algorithm);
    const enc = await kms.send(new EncryptCommand({ KeyId: rsa.id, Plaintext: Buffer.from('remote'), EncryptionAlgorithm: algorithm }));
    assert.equal(enc.CiphertextBlob!.length, 384, 'raw RSA-OAEP output, as KMS');
    assert.equal(text((await kms.send(new DecryptCommand({ KeyId: rsa.id, CiphertextBlob: enc.CiphertextBlob!, EncryptionAlgorithm: algorithm }))).Plaintext), 'remote');
  }
  await refused(kms.send(new EncryptCommand({ KeyId: rsa.id, Plaintext: Buffer.from('x') })), 'InvalidKeyUsageException');
  await refused(kms.send(new EncryptCommand({ KeyId: rsa.id, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256', EncryptionContext: { a: 'b' } })), 'ValidationException');
  await refused(kms.send(new DecryptCommand({ CiphertextBlob: randomBytes(384), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'InvalidCiphertextException');
  await refused(kms.send(new SignCommand({ KeyId: rsa.id, Message: Buffer.from('m'), SigningAlgorithm: 'RSASSA_PSS_SHA_256' })), 'InvalidKeyUsageException');
  await refused(kms.send(new GenerateDataKeyCommand({ KeyId: rsa.id, NumberOfBytes: 32 })), 'InvalidKeyUsageException');
  // The key's usage holds on /v1 too: a KMS ENCRYPT_DECRYPT key does not sign there either.
  const v1Sign = await s.v1('POST', `/v1/keys/${rsa.id}/sign`, { input: Buffer.from('m').toString('base64') });
  assert.equal(v1Sign.status, 400);
  const symmetric = await newKey(kms);
  await refused(kms.send(new GetPublicKeyCommand({ KeyId: symmetric.id })), 'UnsupportedOperationException');
});

test('Sign/Verify for every signing key spec; signatures verify with node:crypto or @noble/post-quantum', async (t) => {
  const s = await kmsSetup(t);
  const { kms } = await s.client('app', ['kms-users']);
  const message = Buffer.from('the message to sign');
  const cases: { spec: KeySpec; algorithms: SigningAlgorithmSpec[] }[] = [
    { spec: 'RSA_2048', algorithms: ['RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512'] },
    { spec: 'ECC_NIST_P256', algorithms: ['ECDSA_SHA_256'] },
    { spec: 'ECC_NIST_P384', algorithms: ['ECDSA_SHA_384'] },
    { spec: 'ECC_NIST_P521', algorithms: ['ECDSA_SHA_512'] },
    { spec: 'ECC_SECG_P256K1', algorithms: ['ECDSA_SHA_256'] },
    { spec: 'ECC_NIST_EDWARDS25519', algorithms: ['ED25519_SHA_512'] },
  ];
  for (const { spec, algorithms } of cases) {
    const k = await newKey(kms, spec, 'SIGN_VERIFY');
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: k.arn }));
    assert.equal(pub.KeySpec, spec);
    assert.deepEqual(pub.SigningAlgorithms, algorithms);
    const key = createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' });
    for (const alg of algorithms) {
      const signed = await kms.send(new SignCommand({ KeyId: k.id, Message: message, SigningAlgorithm: alg }));
      assert.equal(signed.KeyId, k.arn);
      assert.equal(signed.SigningAlgorithm, alg);
      const sig = Buffer.from(signed.Signature!);
      const hash = spec === 'ECC_NIST_EDWARDS25519' ? null : `sha${alg.slice(-3)}`;
      const options = alg.startsWith('RSASSA_PSS') ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } : alg.startsWith('RSASSA_PKCS1') ? { key, padding: constants.RSA_PKCS1_PADDING } : { key };
      assert.ok(cryptoVerify(hash, message, options, sig), `${spec} ${alg}: node:crypto verifies the KMS signature`);
      const verified = await kms.send(new VerifyCommand({ KeyId: k.id, Message: message, Signature: sig, SigningAlgorithm: alg }));
      assert.equal(verified.SignatureValid, true);
      await refused(kms.send(new VerifyCommand({ KeyId: k.id, Message: Buffer.from('another message'), Signature: sig, SigningAlgorithm: alg })), 'KMSInvalidSignatureException');
      // DIGEST: the caller hashed already (not for Ed25519, nor RSA-PSS in Keyhold).
      if (hash !== null && !alg.startsWith('RSASSA_PSS')) {
        const digest = createHash(hash).update(message).digest();
        const d = await kms.send(new SignCommand({ KeyId: k.id, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: alg }));
        assert.ok(cryptoVerify(hash, message, options, Buffer.from(d.Signature!)), `${spec} ${alg} DIGEST`);
        assert.equal((await kms.send(new VerifyCommand({ KeyId: k.id, Message: digest, MessageType: 'DIGEST', Signature: d.Signature!, SigningAlgorithm: alg }))).SignatureValid, true);
        await refused(kms.send(new SignCommand({ KeyId: k.id, Message: digest.subarray(1), MessageType: 'DIGEST', SigningAlgorithm: alg })), 'ValidationException');
      }
    }
  }
  const p256 = await newKey(kms, 'ECC_NIST_P256', 'SIGN_VERIFY');
  await refused(kms.send(new SignCommand({ KeyId: p256.id, Message: message, SigningAlgorithm: 'ECDSA_SHA_384' })), 'InvalidKeyUsageException');
  await refused(kms.send(new SignCommand({ KeyId: p256.id, Message: message, SigningAlgorithm: 'NOT_AN_ALGORITHM' as SigningAlgorithmSpec })), 'ValidationException');
  const rsa = await newKey(kms, 'RSA_2048', 'SIGN_VERIFY');
  await refused(kms.send(new SignCommand({ KeyId: rsa.id, Message: createHash('sha256').update(message).digest(), MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PSS_SHA_256' })), 'UnsupportedOperationException');
  await refused(kms.send(new EncryptCommand({ KeyId: rsa.id, Plaintext: message, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'InvalidKeyUsageException');

  const ml = await newKey(kms, 'ML_DSA_65', 'SIGN_VERIFY');
  const mlPub = await kms.send(new GetPublicKeyCommand({ KeyId: ml.id }));
  assert.equal(mlPub.KeySpec, 'ML_DSA_65');
  assert.deepEqual(mlPub.SigningAlgorithms, ['ML_DSA_SHAKE_256']);
  // SPKI (RFC 9881): id-ml-dsa-65 and the raw 1952-byte key.
  const spki = Buffer.from(mlPub.PublicKey!);
  assert.ok(spki.includes(Buffer.from('0609608648016503040312', 'hex')), 'the id-ml-dsa-65 OID');
  const rawPub = new Uint8Array(spki.subarray(spki.length - 1952));
  const mlSig = await kms.send(new SignCommand({ KeyId: ml.id, Message: message, SigningAlgorithm: 'ML_DSA_SHAKE_256' }));
  assert.ok(ml_dsa65.verify(new Uint8Array(mlSig.Signature!), new Uint8Array(message), rawPub), '@noble/post-quantum verifies the ML-DSA signature');
  assert.equal((await kms.send(new VerifyCommand({ KeyId: ml.id, Message: message, Signature: mlSig.Signature!, SigningAlgorithm: 'ML_DSA_SHAKE_256' }))).SignatureValid, true);
  await refused(kms.send(new SignCommand({ KeyId: ml.id, Message: randomBytes(64), MessageType: 'EXTERNAL_MU', SigningAlgorithm: 'ML_DSA_SHAKE_256' })), 'UnsupportedOperationException');
});

test('HMAC: GenerateMac/VerifyMac for HMAC_256/384/512; a wrong MAC is KMSInvalidMacException', async (t) => {
  const s = await kmsSetup(t);
  const { kms } = await s.client('app', ['kms-users']);
  for (const [spec, algorithm, bytes] of [['HMAC_256', 'HMAC_SHA_256', 32], ['HMAC_384', 'HMAC_SHA_384', 48], ['HMAC_512', 'HMAC_SHA_512', 64]] as const) {
    const k = await newKey(kms, spec, 'GENERATE_VERIFY_MAC');
    const meta = (await kms.send(new DescribeKeyCommand({ KeyId: k.id }))).KeyMetadata!;
    assert.deepEqual(meta.MacAlgorithms, [algorithm]);
    assert.equal(meta.KeyUsage, 'GENERATE_VERIFY_MAC');
    const mac = await kms.send(new GenerateMacCommand({ KeyId: k.id, Message: Buffer.from('mac me'), MacAlgorithm: algorithm }));
    assert.equal(mac.Mac!.length, bytes);
    assert.equal(mac.KeyId, k.arn);
    assert.equal((await kms.send(new VerifyMacCommand({ KeyId: k.id, Message: Buffer.from('mac me'), MacAlgorithm: algorithm, Mac: mac.Mac! }))).MacValid, true);
    const bad = Buffer.from(mac.Mac!);
    bad[0]! ^= 1;
    await refused(kms.send(new VerifyMacCommand({ KeyId: k.id, Message: Buffer.from('mac me'), MacAlgorithm: algorithm, Mac: bad })), 'KMSInvalidMacException');
  }
  const k = await newKey(kms, 'HMAC_256', 'GENERATE_VERIFY_MAC');
  await refused(kms.send(new GenerateMacCommand({ KeyId: k.id, Message: Buffer.from('x'), MacAlgorithm: 'HMAC_SHA_512' })), 'InvalidKeyUsageException');
  await refused(kms.send(new EncryptCommand({ KeyId: k.id, Plaintext: Buffer.from('x') })), 'InvalidKeyUsageException');
});

test('DeriveSharedSecret: ECDH with a KEY_AGREEMENT key equals the peer computation in node:crypto', async (t) => {
  const s = await kmsSetup(t);
  const { kms } = await s.client('app', ['kms-users']);
  for (const [spec, curve] of [['ECC_NIST_P256', 'prime256v1'], ['ECC_NIST_P384', 'secp384r1'], ['ECC_NIST_P521', 'secp521r1']] as const) {
    const k = await newKey(kms, spec, 'KEY_AGREEMENT');
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: k.id }));
    assert.equal(pub.KeyUsage, 'KEY_AGREEMENT');
    assert.deepEqual(pub.KeyAgreementAlgorithms, ['ECDH']);
    const peer = generateKeyPairSync('ec', { namedCurve: curve });
    const derived = await kms.send(
      new DeriveSharedSecretCommand({ KeyId: k.arn, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer.publicKey.export({ format: 'der', type: 'spki' }) }),
    );
    const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' }) });
    assert.deepEqual(Buffer.from(derived.SharedSecret!), expected, `${spec}: both sides agree`);
    assert.equal(derived.KeyOrigin, 'AWS_KMS');
    await refused(kms.send(new SignCommand({ KeyId: k.id, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256' })), 'InvalidKeyUsageException');
  }
  const signing = await newKey(kms, 'ECC_NIST_P256', 'SIGN_VERIFY');
  const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
  await refused(kms.send(new DeriveSharedSecretCommand({ KeyId: signing.id, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer })), 'InvalidKeyUsageException');
  const agree = await newKey(kms, 'ECC_NIST_P384', 'KEY_AGREEMENT');
  await refused(kms.send(new DeriveSharedSecretCommand({ KeyId: agree.id, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer })), 'ValidationException', /P-384/);
});

test('BYOK: Origin EXTERNAL keys wait in PendingImport; material wrapped locally (RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_256) is imported and used', async (t) => {
  const s = await kmsSetup(t);
  const { kms } = await s.client('app', ['kms-users']);
  const created = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!;
  assert.equal(created.KeyState, 'PendingImport');
  assert.equal(created.Origin, 'EXTERNAL');
  assert.equal(created.Enabled, false);
  await refused(kms.send(new EncryptCommand({ KeyId: created.KeyId!, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException');
  await refused(kms.send(new EnableKeyCommand({ KeyId: created.KeyId! })), 'KMSInvalidStateException');

  const params = await kms.send(new GetParametersForImportCommand({ KeyId: created.KeyId!, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_4096' }));
  assert.equal(params.KeyId, created.Arn);
  assert.ok(params.ParametersValidTo!.getTime() > Date.now() + 23 * 3_600_000);
  const wrappingKey = createPublicKey({ key: Buffer.from(params.PublicKey!), format: 'der', type: 'spki' });
  assert.equal(wrappingKey.asymmetricKeyDetails?.modulusLength, 4096);
  const material = randomBytes(32);
  const wrapped = publicEncrypt({ key: wrappingKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);

  // The token is bound to its key.
  const other = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!;
  await refused(kms.send(new ImportKeyMaterialCommand({ KeyId: other.KeyId!, ImportToken: params.ImportToken!, EncryptedKeyMaterial: wrapped })), 'InvalidImportTokenException');
  await refused(kms.send(new ImportKeyMaterialCommand({ KeyId: created.KeyId!, ImportToken: params.ImportToken!, EncryptedKeyMaterial: randomBytes(512) })), 'InvalidCiphertextException');
  await refused(kms.send(new ImportKeyMaterialCommand({ KeyId: created.KeyId!, ImportToken: params.ImportToken!, EncryptedKeyMaterial: wrapped, ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date(Date.now() + 86_400_000) })), 'UnsupportedOperationException');
  assert.equal((await kms.send(new ImportKeyMaterialCommand({ KeyId: created.KeyId!, ImportToken: params.ImportToken!, EncryptedKeyMaterial: wrapped, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }))).KeyId, created.Arn);
  const meta = (await kms.send(new DescribeKeyCommand({ KeyId: created.KeyId! }))).KeyMetadata!;
  assert.equal(meta.KeyState, 'Enabled');
  assert.equal(meta.ExpirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE');
  await refused(kms.send(new ImportKeyMaterialCommand({ KeyId: created.KeyId!, ImportToken: params.ImportToken!, EncryptedKeyMaterial: wrapped })), 'KMSInvalidStateException');

  // Proof that the imported bytes are the key: a blob without context opens locally with AES-256-GCM.
  const enc = await kms.send(new EncryptCommand({ KeyId: created.KeyId!, Plaintext: Buffer.from('imported key at work') }));
  const blob = Buffer.from(enc.CiphertextBlob!);
  const body = blob.subarray(8 + blob[3]!);
  const decipher = createDecipheriv('aes-256-gcm', material, body.subarray(0, 12));
  decipher.setAuthTag(body.subarray(body.length - 16));
  assert.equal(Buffer.concat([decipher.update(body.subarray(12, body.length - 16)), decipher.final()]).toString(), 'imported key at work');
  // And a blob made locally in that format decrypts through KMS.
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', material, nonce);
  const sealed = Buffer.concat([cipher.update('made locally'), cipher.final(), cipher.getAuthTag()]);
  const localBlob = Buffer.concat([blob.subarray(0, 4 + blob[3]! + 4), nonce, sealed]);
  assert.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: localBlob }))).Plaintext), 'made locally');
  await refused(kms.send(new RotateKeyOnDemandCommand({ KeyId: created.KeyId! })), 'UnsupportedOperationException');

  // An ECC signing key in PKCS#8 under RSA_AES_KEY_WRAP_SHA_256 (RSA-OAEP of an AES key, then AES-KWP of the key, RFC 5649).
  const ec = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
  const p = await kms.send(new GetParametersForImportCommand({ KeyId: ec.KeyId!, WrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
  const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const aes = randomBytes(32);
  const kek = createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' });
  const wrappedEc = Buffer.concat([
    publicEncrypt({ key: kek, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, aes),
    aeskwp(new Uint8Array(aes)).encrypt(new Uint8Array(pair.privateKey.export({ format: 'der', type: 'pkcs8' }))),
  ]);
  await kms.send(new ImportKeyMaterialCommand({ KeyId: ec.Arn!, ImportToken: p.ImportToken!, EncryptedKeyMaterial: wrappedEc }));
  const sig = await kms.send(new SignCommand({ KeyId: ec.KeyId!, Message: Buffer.from('byok'), SigningAlgorithm: 'ECDSA_SHA_256' }));
  assert.ok(cryptoVerify('sha256', Buffer.from('byok'), pair.publicKey, Buffer.from(sig.Signature!)), 'signed by the imported private key');

  const generated = await newKey(kms);
  await refused(kms.send(new GetParametersForImportCommand({ KeyId: generated.id, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_4096' })), 'UnsupportedOperationException');
  await refused(kms.send(new GetParametersForImportCommand({ KeyId: other.KeyId!, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_4096' })), 'UnsupportedOperationException');
});

test('Cedar decides per operation and key: a reader may Encrypt but Decrypt is AccessDeniedException; bad credentials are refused in KMS shape', async (t) => {
  const s = await kmsSetup(t);
  const { kms: admin } = await s.client('app', ['kms-users']);
  const { kms: reader, accessKeyId } = await s.client('reader', ['kms-readers']);
  const k = await newKey(admin);
  const enc = await reader.send(new EncryptCommand({ KeyId: k.id, Plaintext: Buffer.from('for the admin only') }));
  const denied = await refused(reader.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob! })), 'AccessDeniedException');
  assert.match(denied.message, /kms:Decrypt/);
  await refused(reader.send(new ScheduleKeyDeletionCommand({ KeyId: k.id })), 'AccessDeniedException');
  // A missing alias is refused as denied, not as absent: who may not use keys learns nothing of aliases.
  await refused(reader.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, KeyId: 'alias/nothing-here' })), 'AccessDeniedException');
  assert.equal(text((await admin.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob! }))).Plaintext), 'for the admin only');

  const forged = new KMSClient({ endpoint: s.apiUrl, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey: 'A'.repeat(40) }, maxAttempts: 1 });
  t.after(() => forged.destroy());
  await refused(forged.send(new ListKeysCommand({})), 'InvalidSignatureException');
  const unknown = new KMSClient({ endpoint: s.apiUrl, region: 'us-east-1', credentials: { accessKeyId: 'KHAKAAAAAAAAAAAAAAAA', secretAccessKey: 'A'.repeat(40) }, maxAttempts: 1 });
  t.after(() => unknown.destroy());
  await refused(unknown.send(new ListKeysCommand({})), 'UnrecognizedClientException');
  const elsewhere = new KMSClient({ endpoint: s.apiUrl, region: 'eu-west-1', credentials: { accessKeyId, secretAccessKey: 'A'.repeat(40) }, maxAttempts: 1 });
  t.after(() => elsewhere.destroy());
  await refused(elsewhere.send(new ListKeysCommand({})), 'InvalidSignatureException');
});
