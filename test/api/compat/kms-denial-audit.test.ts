/**
 * A policy refusal on the AWS KMS surface keeps AWS's answer, and its
 * "refused" audit entry says why like the other surfaces' (denial.ts):
 * the action, the key (HMAC'd) and the deciding policies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { tempDir } from '../../helpers/temp-dir.js';
import { kmsSetup } from './kms-helpers.js';

interface Refused {
  type: string;
  operation?: string;
  code?: string | null;
  denial?: { action: string; resourceType: string; resource: string; policies: string[]; errored: string[]; needsMfa: boolean };
}

test('a KMS AccessDeniedException is audited with the action, the HMAC of the key and the deciding policies', async (t) => {
  const file = join(tempDir(t), 'audit.log');
  const v = await kmsSetup(t, { audit: { file } });
  const { kms } = await v.client('app', ['kms-users']);
  const { kms: reader } = await v.client('reader', ['kms-readers']);
  const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
  const enc = await kms.send(new EncryptCommand({ KeyId: key.KeyId!, Plaintext: Buffer.from('x') }));
  await assert.rejects(reader.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob! })), (e: Error) => {
    assert.equal(e.name, 'AccessDeniedException');
    assert.match(e.message, /is not authorized to perform: kms:Decrypt/, 'the AWS-shaped message is unchanged');
    return true;
  });
  const entries = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Refused);
  const refused = entries.find((e) => e.type === 'refused' && e.operation === 'kms:Decrypt');
  assert.equal(refused?.code, 'KH_AUTH_PERMISSION_DENIED');
  const keyHash = ((await v.v1('POST', '/v1/sys/audit-hash', { input: key.KeyId! })).body as { hash: string }).hash;
  assert.deepEqual(refused?.denial, { action: 'decrypt', resourceType: 'Key', resource: keyHash, policies: [], errored: [], needsMfa: false }, "no permit for kms-readers: Cedar's default deny");
});
