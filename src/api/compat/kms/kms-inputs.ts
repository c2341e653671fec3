/**
 * Request fields of the KMS JSON protocol: TypeBox schemas per operation
 * (members unknown to Keyhold are ignored, as AWS services do), and the
 * decoding of blobs (standard base64), encryption contexts and limits. A
 * member of the wrong JSON type is SerializationException; a value outside a
 * constraint is ValidationException, as KMS answers.
 */
import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import { fromBase64Strict } from '../../../crypto/bytes.js';
import { KmsError, validation } from './kms-errors.js';

/** An object of members; anything else in the body is ignored. */
export const Input = <T extends TProperties>(members: T): TObject<T> => Type.Object(members, { additionalProperties: true });

/** Blobs travel as standard base64; the byte limits are checked after decoding. */
export const Blob = (maxBytes: number) => Type.String({ maxLength: Math.ceil(maxBytes / 3) * 4 });
export const KeyId = Type.String({ minLength: 1, maxLength: 2048 });
export const GrantTokens = Type.Array(Type.String({ minLength: 1, maxLength: 8192 }), { maxItems: 10 });
export const EncryptionContext = Type.Record(Type.String(), Type.String());
export const DryRun = Type.Boolean();
export const RecipientInfo = Type.Object(
  { KeyEncryptionAlgorithm: Type.Optional(Type.String({ maxLength: 64 })), AttestationDocument: Type.Optional(Blob(262_144)) },
  { additionalProperties: true },
);

/** Errors that mean "not the JSON type the member has" (SerializationException) rather than a constraint (ValidationException). */
const TYPE_ERRORS = new Set<ValueErrorType>([
  ValueErrorType.Object,
  ValueErrorType.String,
  ValueErrorType.Number,
  ValueErrorType.Integer,
  ValueErrorType.Boolean,
  ValueErrorType.Array,
]);

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

/** @throws KmsError SerializationException or ValidationException naming the member */
export function checkInput<S extends TObject>(schema: S, body: unknown): Static<S> {
  let check = compiled.get(schema) as TypeCheck<S> | undefined;
  if (check === undefined) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  if (check.Check(body)) return body;
  const first = check.Errors(body).First();
  const where = first === undefined || first.path === '' ? 'the request' : first.path.slice(1).replace(/\//g, '.');
  if (first?.type === ValueErrorType.ObjectRequiredProperty) throw validation(`1 validation error detected: Value null at '${where}' failed to satisfy constraint: Member must not be null`);
  if (first !== undefined && TYPE_ERRORS.has(first.type)) throw new KmsError('SerializationException', `${where}: ${first.message}`, 'KH_BAD_REQUEST');
  throw validation(`1 validation error detected: Value at '${where}' failed to satisfy constraint: ${first?.message ?? 'invalid'}`);
}

/**
 * A blob member's bytes.
 * @throws KmsError SerializationException when not base64; ValidationException outside min..max bytes
 */
export function blob(field: string, value: string, min: number, max: number): Uint8Array {
  const bytes = fromBase64Strict(value);
  if (bytes === undefined) throw new KmsError('SerializationException', `${field} is not valid base64`, 'KH_INPUT_INVALID');
  if (bytes.length < min || bytes.length > max)
    throw new KmsError('ValidationException', `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length between ${min} and ${max}`, 'KH_INPUT_INVALID');
  return bytes;
}

export function optionalBlob(field: string, value: string | undefined, min: number, max: number): Uint8Array | undefined {
  return value === undefined ? undefined : blob(field, value, min, max);
}

/** Encryption contexts: string pairs, keys non-empty, at most this many bytes in all (keys and values, UTF-8). */
export const MAX_CONTEXT_BYTES = 8192;

/** @throws KmsError ValidationException for an empty key or a context over MAX_CONTEXT_BYTES */
export function encryptionContext(value: Record<string, string> | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  let size = 0;
  for (const [k, v] of Object.entries(value)) {
    if (k.length === 0) throw validation('EncryptionContext keys must not be empty');
    size += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (size > MAX_CONTEXT_BYTES) throw validation(`EncryptionContext must be at most ${MAX_CONTEXT_BYTES} bytes`);
  return Object.keys(value).length === 0 ? undefined : value;
}

/** Epoch seconds, as the AWS JSON protocols send timestamps. */
export const epochSeconds = (iso: string | Date): number => (typeof iso === 'string' ? Date.parse(iso) : iso.getTime()) / 1000;
