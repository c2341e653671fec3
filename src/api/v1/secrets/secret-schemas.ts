/** Request and response schemas of /v1/secrets (docs/secrets.md). */
import { Type } from '@sinclair/typebox';
import { ReleasePolicySchema } from '../../../keys/release/release-policy.js';
import { MAX_PASSWORD_LENGTH } from '../../../secrets/password.js';
import { SECRET_TYPES } from '../../../secrets/secret-record.js';
import { DATA_KEY_SECRET_BITS } from '../../../secrets/secret-manager.js';
import { MAX_ENTRIES, MAX_FILE_BYTES, MAX_MAX_VERSIONS, MAX_CUSTOM_METADATA, MAX_DELETE_AFTER_SECONDS } from '../../../secrets/secret-limits.js';
import { MAX_SECRET_PATH_LENGTH } from '../../../secrets/secret-path.js';
import { KEY_NAME_PATTERN } from '../../../keys/key-name.js';
import { RecipientOutputFields, RecipientSchema } from '../recipient-fields.js';

/** The secret path, from the URL wildcard; the handler checks its segments (KH_SECRET_PATH_INVALID). */
export const SecretPathParams = Type.Object({ '*': Type.String({ maxLength: MAX_SECRET_PATH_LENGTH + 1, description: 'Secret path, e.g. app/db' }) }, { additionalProperties: false });

const SecretType = Type.Union(SECRET_TYPES.map((t) => Type.Literal(t)));
const MAX_PEM = 64 * 1024;

const Generate = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('password'),
      length: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PASSWORD_LENGTH, description: 'default 32 (8-1024)' })),
      alphabet: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'distinct printable ASCII characters; default letters, digits and -_.~!@#%^*+=' })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('datakey'),
      key: Type.String({ pattern: KEY_NAME_PATTERN, description: 'The Keyhold key the data key is wrapped under (the caller needs generateDataKey on it)' }),
      bits: Type.Optional(Type.Union(DATA_KEY_SECRET_BITS.map((b) => Type.Literal(b)), { description: 'default 256' })),
    },
    { additionalProperties: false },
  ),
  Type.Object({ kind: Type.Literal('ssh-host-key'), comment: Type.Optional(Type.String({ maxLength: 128, pattern: '^[ -~]*$' })) }, { additionalProperties: false }),
]);

export const WriteSecretBody = Type.Object(
  {
    data: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: MAX_FILE_BYTES }), { maxProperties: MAX_ENTRIES, description: 'String values' })),
    files: Type.Optional(
      Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: Math.ceil(MAX_FILE_BYTES / 3) * 4 }), { maxProperties: MAX_ENTRIES, description: 'File name -> base64 content (each up to 1 MiB)' }),
    ),
    tls: Type.Optional(
      Type.Object(
        {
          certificate: Type.String({ maxLength: MAX_PEM, description: 'PEM chain, leaf first' }),
          privateKey: Type.String({ maxLength: MAX_PEM, description: "PEM private key of the leaf (unencrypted)" }),
          ca: Type.Optional(Type.String({ maxLength: MAX_PEM, description: 'PEM CA certificate(s) for ca.crt' })),
        },
        { additionalProperties: false },
      ),
    ),
    generate: Type.Optional(Generate),
    options: Type.Optional(Type.Object({ cas: Type.Optional(Type.Integer({ minimum: 0, description: 'Check-and-set: the current version must be this (0: no version yet)' })) }, { additionalProperties: false })),
  },
  { additionalProperties: false, description: 'Exactly one of data/files, tls or generate' },
);

export const WriteSecretAnswer = Type.Object(
  {
    path: Type.String(),
    version: Type.Integer(),
    type: SecretType,
    createdAt: Type.String(),
    deletedAt: Type.Optional(Type.String()),
    generated: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Public facts about generated content (SSH public key, data key ciphertext); never the secret part' })),
  },
  { additionalProperties: false },
);

export const ReadSecretQuery = Type.Object({ version: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,9}$' })) }, { additionalProperties: false });

const VersionFacts = {
  path: Type.String(),
  version: Type.Integer(),
  type: SecretType,
  createdAt: Type.String(),
  customMetadata: Type.Record(Type.String(), Type.String()),
};

export const ReadSecretAnswer = Type.Object(
  {
    ...VersionFacts,
    data: Type.Record(Type.String(), Type.String()),
    files: Type.Record(Type.String(), Type.String(), { description: 'File name -> base64 content' }),
  },
  { additionalProperties: false },
);

export const RecipientReadBody = Type.Object(
  { version: Type.Optional(Type.Integer({ minimum: 1 })), recipient: RecipientSchema },
  { additionalProperties: false },
);

export const RecipientReadAnswer = Type.Object(
  {
    ...VersionFacts,
    ciphertextForRecipient: RecipientOutputFields.ciphertextForRecipient,
    recipientAlgorithm: RecipientOutputFields.recipientAlgorithm,
  },
  { additionalProperties: false, description: 'The sealed plaintext is the JSON {"data": {...}, "files": {name: base64}}' },
);

export const VersionsBody = Type.Object(
  { versions: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { maxItems: MAX_MAX_VERSIONS, description: 'Default: the current version (delete only)' })) },
  { additionalProperties: false },
);

export const SecretMetadataAnswer = Type.Object(
  {
    path: Type.String(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    currentVersion: Type.Integer(),
    oldestVersion: Type.Integer(),
    maxVersions: Type.Integer(),
    casRequired: Type.Boolean(),
    deleteVersionAfterSeconds: Type.Integer(),
    customMetadata: Type.Record(Type.String(), Type.String()),
    releasePolicy: Type.Optional(ReleasePolicySchema),
    versions: Type.Record(
      Type.String(),
      Type.Object({ createdAt: Type.String(), type: SecretType, deletedAt: Type.Optional(Type.String()), destroyed: Type.Boolean() }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

export const WriteMetadataBody = Type.Object(
  {
    maxVersions: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_MAX_VERSIONS, description: 'default 10' })),
    casRequired: Type.Optional(Type.Boolean()),
    deleteVersionAfterSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_DELETE_AFTER_SECONDS, description: '0: never' })),
    customMetadata: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 512 }), { maxProperties: MAX_CUSTOM_METADATA })),
    releasePolicy: Type.Optional(Type.Union([ReleasePolicySchema, Type.Null()], { description: 'Attestation release policy (as for keys); null removes it' })),
  },
  { additionalProperties: false },
);

export const ListAnswer = Type.Object({ keys: Type.Array(Type.String(), { description: 'Names under the folder; sub-folders end with "/"' }) }, { additionalProperties: false });
