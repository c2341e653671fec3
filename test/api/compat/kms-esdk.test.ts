/**
 * The AWS Encryption SDK for JavaScript (@aws-crypto/client-node) with a KMS
 * keyring pointed at Keyhold: GenerateDataKey on encrypt, Decrypt on decrypt,
 * with the SDK's own checks of key ARNs and KeyIds in the answers, the
 * encryption context it binds (including the signing key it adds for the
 * default committing, signed suite), and a second keyring key named by its
 * alias ARN that wraps the same data key with Encrypt.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { buildClient, CommitmentPolicy, KmsKeyringNode, type KmsNodeClientSupplier } from '@aws-crypto/client-node';
import { CreateAliasCommand, CreateKeyCommand } from '@aws-sdk/client-kms';
import { kmsSetup } from './kms-helpers.js';

test('the AWS Encryption SDK encrypts and decrypts a message end to end through Keyhold', async (t) => {
  const s = await kmsSetup(t);
  const { kms: commands, accessKeyId, secretAccessKey } = await s.client('esdk', ['kms-users']);
  const client = s.aggregated({ accessKeyId, secretAccessKey });
  // The SDK's KMS interface is typed without exactOptionalPropertyTypes; the v3 client is what it calls at run time.
  const kms = client as unknown as Exclude<ReturnType<KmsNodeClientSupplier>, false>;
  const generator = (await commands.send(new CreateKeyCommand({ Description: 'ESDK generator' }))).KeyMetadata!;
  const second = (await commands.send(new CreateKeyCommand({ Description: 'ESDK second key' }))).KeyMetadata!;
  await commands.send(new CreateAliasCommand({ AliasName: 'alias/esdk-second', TargetKeyId: second.KeyId! }));

  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  // The second key is named by its alias ARN: Keyhold answers with the key ARN, which the SDK records.
  const keyring = new KmsKeyringNode({ generatorKeyId: generator.Arn!, keyIds: ['arn:aws:kms:us-east-1:111122223333:alias/esdk-second'], clientProvider: () => kms });
  const plaintext = randomBytes(10_000);
  const context = { purpose: 'keyhold-test', tenant: 'acme' };
  const { result } = await encrypt(keyring, plaintext, { encryptionContext: context });
  assert.ok(!Buffer.from(result).includes(plaintext.subarray(0, 64)), 'the message is encrypted');

  const opened = await decrypt(keyring, result);
  assert.deepEqual(Buffer.from(opened.plaintext), plaintext);
  assert.equal(opened.messageHeader.encryptionContext.purpose, 'keyhold-test');
  assert.equal(opened.messageHeader.encryptionContext.tenant, 'acme');
  // Both keyring keys wrapped the data key, each under its ARN.
  const providers = opened.messageHeader.encryptedDataKeys.map((k) => k.providerInfo).sort();
  assert.deepEqual(providers, [generator.Arn!, second.Arn!].sort());

  // A keyring that knows only the second key decrypts too (its Decrypt names that ARN).
  const onlySecond = new KmsKeyringNode({ keyIds: [second.Arn!], clientProvider: () => kms });
  assert.deepEqual(Buffer.from((await decrypt(onlySecond, result)).plaintext), plaintext);
});
