/**
 * The stored form of a named key (one barrier record per key, at
 * keys/<HMAC(index key, name)>; the name exists only inside the record).
 * Versions carry their secret material base64-encoded inside the encrypted
 * record; it is never returned by any API unless the key is exportable.
 * HSM-backed versions carry no secret, only where the HSM holds it.
 */
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { KeyholdError } from '../errors.js';
import { ALL_KEY_TYPE_NAMES } from './key-type-names.js';
import { ReleasePolicySchema } from './release/release-policy.js';
import { KeyUsageSchema } from './key-usage.js';

/** 'pending-import': created to receive imported material (AWS KMS Origin EXTERNAL) and holding none yet; latestVersion is 0. */
export const KeyStateSchema = Type.Union([Type.Literal('enabled'), Type.Literal('disabled'), Type.Literal('pending-deletion'), Type.Literal('pending-import')]);
export type KeyState = Static<typeof KeyStateSchema>;

const KeyVersionRecord = Type.Object(
  {
    version: Type.Integer({ minimum: 1 }),
    createdAt: Type.String(),
    /** base64 secret material; absent for public-only (imported) keys and trimmed versions. */
    secret: Type.Optional(Type.String()),
    /** base64 public key (SPKI DER, raw for ML-DSA). */
    publicKey: Type.Optional(Type.String()),
    /** HSM-backed keys: the token object (or key pair) holding this version, found again by CKA_LABEL and CKA_ID (base64). */
    hsm: Type.Optional(Type.Object({ label: Type.String(), id: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type KeyVersionRecord = Static<typeof KeyVersionRecord>;

export const KeyRecordSchema = Type.Object(
  {
    format: Type.Literal(1),
    name: Type.String(),
    type: Type.Union(ALL_KEY_TYPE_NAMES.map((t) => Type.Literal(t))),
    description: Type.String(),
    tags: Type.Record(Type.String(), Type.String()),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    state: KeyStateSchema,
    deletionDate: Type.Optional(Type.String()),
    exportable: Type.Boolean(),
    legacy: Type.Boolean(),
    sealWrap: Type.Boolean(),
    publicOnly: Type.Boolean(),
    /** 0 only while the key awaits imported material (state pending-import, no versions). */
    latestVersion: Type.Integer({ minimum: 0 }),
    minDecryptionVersion: Type.Integer({ minimum: 1 }),
    /** 0 means "always the latest". */
    minEncryptionVersion: Type.Integer({ minimum: 0 }),
    /** Versions below this were trimmed (their material is gone for good). */
    minAvailableVersion: Type.Integer({ minimum: 1 }),
    /** 0 disables automatic rotation. */
    autoRotatePeriodSeconds: Type.Integer({ minimum: 0 }),
    lastRotatedAt: Type.String(),
    versions: Type.Array(KeyVersionRecord),
    /** Material of this key is released only to enclaves whose attestation matches (keys/release). */
    releasePolicy: Type.Optional(ReleasePolicySchema),
    /** What the key may be used for, fixed at creation (key-usage.ts); absent means everything its type can do. */
    usage: Type.Optional(KeyUsageSchema),
    /** Where the first material came from: absent = generated here; 'imported' = brought by the caller (BYOK). */
    origin: Type.Optional(Type.Literal('imported')),
    /** Immediate deletion (Vault transit's DELETE) is allowed; absent means false. Scheduled deletion ignores it. */
    deletionAllowed: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type KeyRecord = Static<typeof KeyRecordSchema>;

const checkRecord = TypeCompiler.Compile(KeyRecordSchema);

export function encodeKeyRecord(record: KeyRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record));
}

/** @throws KeyholdError KH_STORAGE_INTEGRITY when an authentic record does not parse (a bug or a downgrade). */
export function decodeKeyRecord(bytes: Uint8Array): KeyRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new KeyholdError('KH_STORAGE_INTEGRITY', 'a key record is malformed', { cause: e });
  }
  if (!checkRecord.Check(parsed)) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'a key record is malformed');
  return parsed;
}
