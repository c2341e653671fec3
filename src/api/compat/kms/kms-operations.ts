/**
 * Every KMS operation Keyhold answers, by X-Amz-Target name
 * (TrentService.<Name>), and the /v1 catalogue action each asks the policy
 * engine about (KMS_ACTIONS; docs/compat.md lists them too).
 */
import type { KmsOperation } from './kms-operation.js';
import * as keys from './key-operations.js';
import * as aliases from './alias-operations.js';
import * as encryption from './encryption-operations.js';
import * as signing from './signing-operations.js';
import * as imports from './import-operations.js';

export const KMS_OPERATIONS: Readonly<Record<string, KmsOperation>> = Object.freeze({
  CreateKey: keys.CreateKey,
  DescribeKey: keys.DescribeKey,
  ListKeys: keys.ListKeys,
  EnableKey: keys.EnableKey,
  DisableKey: keys.DisableKey,
  EnableKeyRotation: keys.EnableKeyRotation,
  DisableKeyRotation: keys.DisableKeyRotation,
  GetKeyRotationStatus: keys.GetKeyRotationStatus,
  RotateKeyOnDemand: keys.RotateKeyOnDemand,
  ScheduleKeyDeletion: keys.ScheduleKeyDeletion,
  CancelKeyDeletion: keys.CancelKeyDeletion,
  TagResource: keys.TagResource,
  UntagResource: keys.UntagResource,
  ListResourceTags: keys.ListResourceTags,
  CreateAlias: aliases.CreateAlias,
  UpdateAlias: aliases.UpdateAlias,
  DeleteAlias: aliases.DeleteAlias,
  ListAliases: aliases.ListAliases,
  Encrypt: encryption.Encrypt,
  Decrypt: encryption.Decrypt,
  ReEncrypt: encryption.ReEncrypt,
  GenerateDataKey: encryption.GenerateDataKey,
  GenerateDataKeyWithoutPlaintext: encryption.GenerateDataKeyWithoutPlaintext,
  GenerateDataKeyPair: encryption.GenerateDataKeyPair,
  GenerateDataKeyPairWithoutPlaintext: encryption.GenerateDataKeyPairWithoutPlaintext,
  GenerateRandom: encryption.GenerateRandom,
  Sign: signing.Sign,
  Verify: signing.Verify,
  GenerateMac: signing.GenerateMac,
  VerifyMac: signing.VerifyMac,
  GetPublicKey: signing.GetPublicKey,
  DeriveSharedSecret: signing.DeriveSharedSecret,
  GetParametersForImport: imports.GetParametersForImport,
  ImportKeyMaterial: imports.ImportKeyMaterial,
} as Record<string, KmsOperation>);

/** KMS operation -> the catalogue action (src/policy/actions.ts) the policy engine is asked about. */
export const KMS_ACTIONS: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries(Object.entries(KMS_OPERATIONS).map(([name, op]) => [name, op.action])));

/** The operation named by an X-Amz-Target header value, if Keyhold answers it. */
export function kmsOperation(target: string | undefined): { name: string; op: KmsOperation } | undefined {
  const m = target === undefined ? null : /^TrentService\.([A-Za-z]{1,64})$/.exec(target);
  if (m === null) return undefined;
  const name = m[1]!;
  return Object.hasOwn(KMS_OPERATIONS, name) ? { name, op: KMS_OPERATIONS[name]! } : undefined;
}
