/** TypeBox schemas of the /v1/keys API. */
import { ReleasePolicySchema } from '../../keys/release/release-policy.js';
import { Type } from '@sinclair/typebox';
import { KEY_NAME_PATTERN } from '../../keys/key-name.js';
import { ALL_KEY_TYPE_NAMES } from '../../keys/key-type-names.js';
import { KeyStateSchema } from '../../keys/key-record.js';

export const KeyNameParams = Type.Object({ name: Type.String({ pattern: KEY_NAME_PATTERN, description: 'Key name' }) }, { additionalProperties: false });

export const KeyTypeSchema = Type.Union(
  ALL_KEY_TYPE_NAMES.map((t) => Type.Literal(t)),
  { description: 'Key type (hsm-* types need seal.pkcs11: generated in the HSM, never exportable)', default: 'aes256-gcm' },
);

export const Tags = Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.String({ maxLength: 256 }), { maxProperties: 50 });

export const CreateKeyBody = Type.Object(
  {
    name: Type.String({ pattern: KEY_NAME_PATTERN }),
    type: Type.Optional(KeyTypeSchema),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    tags: Type.Optional(Tags),
    exportable: Type.Optional(Type.Boolean({ description: 'Allow export of the key material. Can only be set at creation. Default false.' })),
    legacy: Type.Optional(Type.Boolean({ description: 'Allow weak algorithms, for migration only. Default false.' })),
    sealWrap: Type.Optional(Type.Boolean({ description: 'Accepted for compatibility: under the HSM seal every key record is seal-wrapped (encrypted by the HSM as well as the barrier) whatever this says; without one, none is.' })),
    autoRotatePeriodSeconds: Type.Optional(Type.Integer({ minimum: 0, description: '0 (off) or 3600..315360000' })),
    releasePolicy: Type.Optional(ReleasePolicySchema),
  },
  { additionalProperties: false },
);

export const UpdateKeyBody = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    tags: Type.Optional(Tags),
    minDecryptionVersion: Type.Optional(Type.Integer({ minimum: 1 })),
    minEncryptionVersion: Type.Optional(Type.Integer({ minimum: 0, description: '0 = always the latest version' })),
    autoRotatePeriodSeconds: Type.Optional(Type.Integer({ minimum: 0 })),
    releasePolicy: Type.Optional(Type.Union([ReleasePolicySchema, Type.Null()], { description: 'Attestation release policy; null removes it' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const KeyMetadata = Type.Object(
  {
    name: Type.String(),
    type: KeyTypeSchema,
    description: Type.String(),
    tags: Type.Record(Type.String(), Type.String()),
    state: KeyStateSchema,
    deletionDate: Type.Optional(Type.String({ format: 'date-time' })),
    exportable: Type.Boolean(),
    legacy: Type.Boolean(),
    sealWrap: Type.Boolean(),
    publicOnly: Type.Boolean(),
    latestVersion: Type.Integer(),
    minDecryptionVersion: Type.Integer(),
    minEncryptionVersion: Type.Integer(),
    minAvailableVersion: Type.Integer(),
    autoRotatePeriodSeconds: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    lastRotatedAt: Type.String({ format: 'date-time' }),
    versions: Type.Array(Type.Object({ version: Type.Integer(), createdAt: Type.String({ format: 'date-time' }) }, { additionalProperties: false })),
    releasePolicy: Type.Optional(ReleasePolicySchema),
  },
  { additionalProperties: false, $id: 'KeyMetadata' },
);
