/**
 * Each KMS operation asks the policy engine the question of its /v1
 * equivalent: a catalogue action (src/policy/actions.ts) whose resource type
 * is the one the operation names (a Key, or a System area); and every
 * operation has its row in the conformance table of docs/compat.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findAction } from '../../../src/policy/actions.js';
import { KMS_ACTIONS, KMS_OPERATIONS, kmsOperation } from '../../../src/api/compat/kms/kms-operations.js';
import { REPO_ROOT } from '../../helpers/vectors.js';

const ISSUE_OPERATIONS = [
  'CreateKey', 'DescribeKey', 'ListKeys', 'CreateAlias', 'ListAliases', 'UpdateAlias', 'DeleteAlias', 'EnableKey', 'DisableKey', 'Encrypt', 'Decrypt', 'ReEncrypt',
  'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext', 'Sign', 'Verify', 'GenerateMac', 'VerifyMac',
  'GetPublicKey', 'GenerateRandom', 'DeriveSharedSecret', 'EnableKeyRotation', 'DisableKeyRotation', 'GetKeyRotationStatus', 'RotateKeyOnDemand', 'ScheduleKeyDeletion',
  'CancelKeyDeletion', 'TagResource', 'UntagResource', 'ListResourceTags', 'GetParametersForImport', 'ImportKeyMaterial',
];

test('every KMS operation of the issue is served, under a catalogue action of the right resource type', () => {
  assert.deepEqual(Object.keys(KMS_OPERATIONS).sort(), [...ISSUE_OPERATIONS].sort());
  for (const [name, op] of Object.entries(KMS_OPERATIONS)) {
    const def = findAction(op.action);
    assert.ok(def !== undefined, `${name}: ${op.action} is not in the catalogue`);
    assert.equal(def.resource, 'system' in op.target ? 'System' : 'Key', `${name}: ${op.action} applies to ${def.resource}`);
  }
  assert.equal(KMS_ACTIONS.Decrypt, 'decrypt');
  assert.equal(KMS_ACTIONS.ReEncrypt, 'rewrap');
  assert.equal(KMS_ACTIONS.ScheduleKeyDeletion, 'scheduleKeyDeletion');
  assert.equal(KMS_ACTIONS.CreateAlias, 'updateKey');
});

test('X-Amz-Target names an operation only as TrentService.<Operation>, never an inherited property', () => {
  assert.equal(kmsOperation('TrentService.Encrypt')?.name, 'Encrypt');
  for (const bad of [undefined, '', 'Encrypt', 'TrentService.', 'TrentService.__proto__', 'TrentService.constructor', 'TrentService.toString', 'KMS.Encrypt', 'TrentService.Encrypt ', 'trentservice.Encrypt']) {
    assert.equal(kmsOperation(bad), undefined, String(bad));
  }
});

test('docs/compat.md has a conformance row for every operation', () => {
  const docs = readFileSync(join(REPO_ROOT, 'docs', 'compat.md'), 'utf8');
  const section = docs.slice(docs.indexOf('## AWS KMS'));
  for (const name of ISSUE_OPERATIONS) assert.match(section, new RegExp(`\\| \`${name}\` \\|`), `${name} has no row in docs/compat.md`);
});
