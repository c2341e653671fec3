/**
 * Every KMS request is in the audit log, named by its KMS operation
 * ("kms:<Operation>") with the keys it acted on (HMAC'd, findable with
 * /v1/sys/audit-hash), and so is every failure: refusals before anything ran
 * (bad signature, denied by policy, unknown operation) as "refused" entries
 * with their KH_* code, failures of the operation in the response entry.
 * No plaintext, data key or secret access key appears anywhere in the log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, GenerateDataKeyCommand, KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { tempDir } from '../../helpers/temp-dir.js';
import { kmsSetup } from './kms-helpers.js';

interface Entry {
  type: string;
  operation?: string;
  keys?: string[];
  status?: number;
  code?: string | null;
  requestId: string;
  principal?: string | null;
}

test('KMS requests and failures are audited with their operation and keys, and never with secrets', async (t) => {
  const file = join(tempDir(t), 'audit.log');
  const v = await kmsSetup(t, { audit: { file } });
  const { kms, accessKeyId, secretAccessKey } = await v.client('app', ['kms-users']);
  const { kms: reader } = await v.client('reader', ['kms-readers']);
  const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
  const plaintext = 'the audit log must never see this sentence';
  const enc = await kms.send(new EncryptCommand({ KeyId: key.KeyId!, Plaintext: Buffer.from(plaintext) }));
  const dataKey = await kms.send(new GenerateDataKeyCommand({ KeyId: key.KeyId!, NumberOfBytes: 32 }));
  await reader.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob! })).catch(() => undefined);
  await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob!, EncryptionContext: { wrong: 'context' } })).catch(() => undefined);
  const forged = new KMSClient({ endpoint: v.apiUrl, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey: 'B'.repeat(40) }, maxAttempts: 1 });
  t.after(() => forged.destroy());
  await forged.send(new ListKeysCommand({})).catch(() => undefined);
  const unknown = await fetch(`${v.apiUrl}/`, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Frobnicate' }, body: '{}' });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.headers.get('x-amzn-errortype'), 'UnknownOperationException');
  assert.ok(unknown.headers.get('x-amzn-requestid'));

  const raw = readFileSync(file, 'utf8');
  const entries = raw.trim().split('\n').map((l) => JSON.parse(l) as Entry);
  const keyHash = ((await v.v1('POST', '/v1/sys/audit-hash', { input: key.KeyId! })).body as { hash: string }).hash;

  const encRequest = entries.find((e) => e.type === 'request' && e.operation === 'kms:Encrypt');
  assert.ok(encRequest, 'the Encrypt request is recorded under its KMS operation');
  assert.deepEqual(encRequest.keys, [keyHash], 'naming its key (HMAC)');
  assert.equal(entries.find((e) => e.type === 'response' && e.requestId === encRequest.requestId)?.status, 200);

  const denied = entries.find((e) => e.type === 'refused' && e.operation === 'kms:Decrypt' && e.code === 'KH_AUTH_PERMISSION_DENIED');
  assert.ok(denied, 'the policy denial is recorded');
  assert.equal(denied.status, 400);
  const failedDecrypt = entries.find((e) => e.type === 'request' && e.operation === 'kms:Decrypt');
  assert.ok(failedDecrypt);
  assert.equal(entries.find((e) => e.type === 'response' && e.requestId === failedDecrypt.requestId)?.status, 400, 'a failure of the operation is in its response entry');
  assert.ok(entries.some((e) => e.type === 'refused' && e.operation === 'kms:ListKeys' && e.code === 'KH_SIGV4_SIGNATURE_MISMATCH'), 'a bad signature is recorded');
  assert.ok(entries.some((e) => e.type === 'refused' && e.code === 'KH_NOT_FOUND' && e.operation === 'awsKms'), 'an unknown operation is recorded');

  // Nothing secret, in any encoding the API used.
  for (const secret of [plaintext, Buffer.from(plaintext).toString('base64'), Buffer.from(dataKey.Plaintext!).toString('base64'), secretAccessKey, key.KeyId!]) {
    assert.ok(!raw.includes(secret), `the audit log contains ${secret.slice(0, 12)}...`);
  }
});
