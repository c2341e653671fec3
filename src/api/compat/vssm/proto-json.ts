/**
 * Protocol Buffers' JSON mapping (https://protobuf.dev/programming-guides/json/)
 * of VSSM's messages (vssm.proto), as golang/protobuf's jsonpb speaks it:
 * - field names in lowerCamelCase; the proto (snake_case) names are accepted too;
 * - `bytes` are base64 (standard or URL-safe, padding optional, on input;
 *   standard with padding on output);
 * - 64-bit integers are JSON strings on output, a number or a string on input;
 * - a field with its default value ("" / empty bytes / 0 / false / no list) is
 *   left out of the output; `null` on input means the default;
 * - unknown fields are refused.
 * Schemas are TypeBox (validated by Fastify, shown in the OpenAPI document);
 * readMessage() turns a validated body into camelCase values.
 */
import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import { KeyholdError } from '../../../errors.js';

export type FieldKind = 'bytes' | 'string' | 'uint64' | 'bool' | { readonly message: MessageShape };
export type MessageShape = Readonly<Record<string, FieldKind>>;

export type FieldValue<K> = K extends 'bytes' ? Uint8Array : K extends 'string' ? string : K extends 'uint64' ? bigint : K extends 'bool' ? boolean : K extends { message: infer M extends MessageShape } ? MessageValue<M> | undefined : never;
export type MessageValue<M extends MessageShape> = { [F in keyof M]: FieldValue<M[F]> };

/** lowerCamelCase -> snake_case (keyName -> key_name). */
export const snakeOf = (camel: string): string => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function fieldSchema(kind: FieldKind, maxBytes: number): TSchema {
  if (kind === 'bytes') return Type.Union([Type.String({ maxLength: Math.ceil(maxBytes / 3) * 4 + 4, description: 'base64' }), Type.Null()]);
  if (kind === 'string') return Type.Union([Type.String({ maxLength: 4096 }), Type.Null()]);
  if (kind === 'uint64') return Type.Union([Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }), Type.String({ pattern: '^[0-9]{1,20}$' }), Type.Null()]);
  if (kind === 'bool') return Type.Union([Type.Boolean(), Type.Null()]);
  return Type.Union([messageSchema(kind.message, maxBytes), Type.Null()]);
}

/** The request schema: every field under both its JSON and its proto name, nothing else. */
export function messageSchema(shape: MessageShape, maxBytes: number): TObject {
  const properties: Record<string, TSchema> = {};
  for (const [name, kind] of Object.entries(shape)) {
    properties[name] = Type.Optional(fieldSchema(kind, maxBytes));
    const snake = snakeOf(name);
    if (snake !== name) properties[snake] = Type.Optional(fieldSchema(kind, maxBytes));
  }
  return Type.Object(properties, { additionalProperties: false });
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** @throws KeyholdError KH_INPUT_INVALID naming the field */
export function decodeBytes(field: string, text: string): Uint8Array {
  const body = text.replace(/=+$/, '');
  if (!BASE64.test(text) || body.length % 4 === 1 || (/[-_]/.test(body) && /[+/]/.test(body)))
    throw new KeyholdError('KH_INPUT_INVALID', `illegal base64 data in field "${field}"`);
  return new Uint8Array(Buffer.from(body.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
}

function defaultOf(kind: FieldKind): unknown {
  if (kind === 'bytes') return new Uint8Array(0);
  if (kind === 'string') return '';
  if (kind === 'uint64') return 0n;
  if (kind === 'bool') return false;
  return undefined;
}

function convert(path: string, kind: FieldKind, value: unknown): unknown {
  if (value === null || value === undefined) return defaultOf(kind);
  if (kind === 'bytes') return decodeBytes(path, value as string);
  if (kind === 'uint64') {
    const n = BigInt(value as number | string);
    if (n > 0xffff_ffff_ffff_ffffn) throw new KeyholdError('KH_INPUT_INVALID', `field "${path}" is out of range for uint64`);
    return n;
  }
  if (typeof kind === 'object') return readMessage(kind.message, value, `${path}.`);
  return value;
}

/**
 * The camelCase values of a schema-validated body (defaults for absent fields).
 * @throws KeyholdError KH_BAD_REQUEST when a field is given under both names; KH_INPUT_INVALID for bad base64
 */
export function readMessage<M extends MessageShape>(shape: M, body: unknown, prefix = ''): MessageValue<M> {
  const o = (body ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(shape)) {
    const snake = snakeOf(name);
    if (snake !== name && o[name] !== undefined && o[snake] !== undefined) throw new KeyholdError('KH_BAD_REQUEST', `field "${prefix}${name}" is given twice (${name} and ${snake})`);
    out[name] = convert(`${prefix}${name}`, kind, o[name] !== undefined ? o[name] : o[snake]);
  }
  return out as MessageValue<M>;
}

/** bytes for output: base64, or nothing when empty (the proto3 default is omitted). */
export const bytesOut = (b: Uint8Array): string | undefined => (b.length === 0 ? undefined : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64'));
/** int64/uint64 for output: a decimal string, nothing when 0. */
export const int64Out = (n: number | bigint): string | undefined => (BigInt(n) === 0n ? undefined : String(n));
/** string for output: nothing when empty. */
export const stringOut = (s: string): string | undefined => (s === '' ? undefined : s);
/** Drops undefined (default-valued) fields, so the answer carries only what proto3 JSON would. */
export function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0))) as Partial<T>;
}
