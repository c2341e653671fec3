/** KMS's KeyMetadata (DescribeKey, CreateKey) for a Keyhold key: metadata only, never material. */
import type { ManagedKey } from '../../../keys/managed-key.js';
import type { KeyState } from '../../../keys/key-record.js';
import type { KeyIds } from './key-ids.js';
import { algorithmFields, customerMasterKeySpecOf, KMS_USAGE, keySpecOf, usageOf } from './key-specs.js';
import { epochSeconds } from './kms-inputs.js';

export const KMS_KEY_STATE: Readonly<Record<KeyState, string>> = {
  enabled: 'Enabled',
  disabled: 'Disabled',
  'pending-deletion': 'PendingDeletion',
  'pending-import': 'PendingImport',
};

export const originOf = (key: ManagedKey): 'AWS_KMS' | 'EXTERNAL' => (key.record.origin === 'imported' ? 'EXTERNAL' : 'AWS_KMS');

export function keyMetadata(ids: KeyIds, key: ManagedKey): Record<string, unknown> {
  const r = key.record;
  const spec = keySpecOf(r.type);
  const cmk = customerMasterKeySpecOf(spec);
  return {
    AWSAccountId: ids.accountId,
    KeyId: r.name,
    Arn: ids.keyArn(r.name),
    CreationDate: epochSeconds(r.createdAt),
    Enabled: r.state === 'enabled',
    Description: r.description,
    KeyUsage: KMS_USAGE[usageOf(r)],
    KeyState: KMS_KEY_STATE[r.state],
    ...(r.deletionDate !== undefined && { DeletionDate: epochSeconds(r.deletionDate) }),
    Origin: originOf(key),
    // Imported material never expires in Keyhold.
    ...(r.origin === 'imported' && r.state !== 'pending-import' && { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }),
    KeyManager: 'CUSTOMER',
    ...(cmk !== undefined && { CustomerMasterKeySpec: cmk }),
    KeySpec: spec,
    ...algorithmFields(r),
    MultiRegion: false,
  };
}
