/**
 * The stored forms of a secret (barrier view `secrets/`, seal-wrapped):
 * - `m/<HMAC(path)>`: the metadata record: the path (only here, encrypted),
 *   settings, and per-version bookkeeping (created, soft-deleted, destroyed);
 * - `v/<HMAC(path)>/<n>`: one record per version holding its data and files.
 * Versions live in records of their own so a 1 MiB file is not rewritten on
 * every metadata change, and destroy removes the data record for good.
 */
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { KeyholdError } from '../errors.js';
import { ReleasePolicySchema } from '../keys/release/release-policy.js';

export const SECRET_TYPES = ['kv', 'tls', 'password', 'datakey', 'ssh-host-key'] as const;
export type SecretType = (typeof SECRET_TYPES)[number];

const VersionInfo = Type.Object(
  {
    createdAt: Type.String(),
    type: Type.Union(SECRET_TYPES.map((t) => Type.Literal(t))),
    /** Soft deletion: the data is kept but not served until undeleted. Also set ahead of time by deleteVersionAfterSeconds. */
    deletedAt: Type.Optional(Type.String()),
    destroyed: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type VersionInfo = Static<typeof VersionInfo>;

export const SecretMetadataRecordSchema = Type.Object(
  {
    format: Type.Literal(1),
    path: Type.String(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    /** The latest version written (0 when only metadata exists). */
    currentVersion: Type.Integer({ minimum: 0 }),
    /** The oldest version still on record (0 when none). */
    oldestVersion: Type.Integer({ minimum: 0 }),
    maxVersions: Type.Integer({ minimum: 1 }),
    casRequired: Type.Boolean(),
    /** 0: versions are never deleted automatically. */
    deleteVersionAfterSeconds: Type.Integer({ minimum: 0 }),
    customMetadata: Type.Record(Type.String(), Type.String()),
    releasePolicy: Type.Optional(ReleasePolicySchema),
    /** Version number (decimal) -> bookkeeping. */
    versions: Type.Record(Type.String({ pattern: '^[1-9][0-9]*$' }), VersionInfo),
  },
  { additionalProperties: false },
);
export type SecretMetadataRecord = Static<typeof SecretMetadataRecordSchema>;

export const SecretVersionRecordSchema = Type.Object(
  {
    format: Type.Literal(1),
    version: Type.Integer({ minimum: 1 }),
    data: Type.Record(Type.String(), Type.String()),
    /** File name -> base64 content. */
    files: Type.Record(Type.String(), Type.String()),
  },
  { additionalProperties: false },
);
export type SecretVersionRecord = Static<typeof SecretVersionRecordSchema>;

const checkMetadata = TypeCompiler.Compile(SecretMetadataRecordSchema);
const checkVersion = TypeCompiler.Compile(SecretVersionRecordSchema);

export function encodeRecord(record: SecretMetadataRecord | SecretVersionRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record));
}

function parse(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new KeyholdError('KH_STORAGE_INTEGRITY', 'a secret record is malformed', { cause: e });
  }
}

/** @throws KeyholdError KH_STORAGE_INTEGRITY when an authentic record does not parse (a bug or a downgrade). */
export function decodeMetadata(bytes: Uint8Array): SecretMetadataRecord {
  const parsed = parse(bytes);
  if (!checkMetadata.Check(parsed)) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'a secret record is malformed');
  return parsed;
}

/** @throws KeyholdError KH_STORAGE_INTEGRITY */
export function decodeVersion(bytes: Uint8Array): SecretVersionRecord {
  const parsed = parse(bytes);
  if (!checkVersion.Check(parsed)) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'a secret record is malformed');
  return parsed;
}
