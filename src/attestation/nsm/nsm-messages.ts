/**
 * The CBOR messages of the Nitro Security Module (NSM) API, byte for byte as
 * the AWS crate aws-nitro-enclaves-nsm-api writes and reads them.
 *
 * Source of the shapes: aws/aws-nitro-enclaves-nsm-api, src/api/mod.rs —
 * `Request`, `Response` and `ErrorCode` are plain `#[derive(Serialize,
 * Deserialize)]` enums (no serde attributes on the enums, so serde's default
 * *externally tagged* representation), and src/driver/mod.rs encodes requests
 * with `serde_cbor::to_vec` and decodes responses with `serde_cbor::from_slice`.
 * serde_cbor >= 0.10 (the crate depends on ^0.11) serializes enums "as maps"
 * by default (src/ser.rs, `Serializer::new` sets `enum_as_map: true`;
 * `legacy_enums()` restores the <= 0.9 array form). That gives, in RFC 8949
 * terms:
 *
 *   unit variant     `GetRandom`                -> text string "GetRandom"
 *   struct variant   `DescribePCR { index }`    -> map(1) { "DescribePCR": map(1) { "index": uint } }
 *   newtype variant  `Error(ErrorCode)`         -> map(1) { "Error": "InvalidIndex" }
 *
 * Struct fields are text keys in declaration order (serde_cbor's
 * StructSerializer writes them as they come, it does not sort), `Option::None`
 * is null (0xf6), `ByteBuf` / `#[serde(with = "serde_bytes")]` is a byte string
 * (major type 2), integers and lengths use the shortest form, bool is
 * 0xf4/0xf5. cborg produces the same bytes once its map sorting is switched
 * off (it sorts keys by default), see SERDE_ORDER.
 *
 * Decoding is strict (the cborg options of the Nitro verifier, plus exactly
 * the expected keys): whatever the device or the helper returns is untrusted
 * input, and every failure is an AttestationError KH_ATTESTATION_PROVIDER_FAILED
 * whose `cause` is an NsmFailure naming the reason.
 */
import { decode, encode } from 'cborg';
import type { EncodeOptions } from 'cborg';
import { AttestationError } from '../errors.js';
import { STRICT_CBOR } from '../nitro/cose-sign1.js';
import { MAX_ATTESTATION_FIELD_BYTES } from '../provider.js';

/** Linux include/uapi/linux/nsm.h and the crate's src/driver/mod.rs: NSM_REQUEST_MAX_SIZE = 0x1000. */
export const NSM_REQUEST_MAX_BYTES = 0x1000;
/**
 * Linux include/uapi/linux/nsm.h and the crate's src/driver/mod.rs:
 * NSM_RESPONSE_MAX_SIZE = 0x3000 (12 KiB). The device cannot answer more than
 * that buffer, and the helper re-serializes the same value, so anything larger
 * did not come from an NSM.
 */
export const NSM_RESPONSE_MAX_BYTES = 0x3000;
/** A PCR holds one digest; SHA-512 (64 bytes) is the largest `Digest` the API knows. */
const MAX_PCR_BYTES = 64;
/** `Request::DescribePCR { index: u16 }`. */
const MAX_PCR_INDEX = 0xffff;

/** `ErrorCode` in src/api/mod.rs, in declaration order (unit variants, so text strings on the wire). */
export const NSM_ERROR_CODES = [
  'Success',
  'InvalidArgument',
  'InvalidIndex',
  'InvalidResponse',
  'ReadOnlyIndex',
  'InvalidOperation',
  'BufferTooSmall',
  'InputTooLarge',
  'InternalError',
] as const;
export type NsmErrorCode = (typeof NSM_ERROR_CODES)[number];
const ERROR_CODE_SET: ReadonlySet<string> = new Set(NSM_ERROR_CODES);
const isNsmErrorCode = (s: string): s is NsmErrorCode => ERROR_CODE_SET.has(s);

/** The requests Keyhold sends (a subset of `Request`; the PCR-changing ones are never needed). */
export type NsmRequest =
  | {
      readonly type: 'Attestation';
      /** Absent = `None` = CBOR null, as the crate sends it. */
      readonly userData?: Uint8Array | undefined;
      readonly nonce?: Uint8Array | undefined;
      readonly publicKey?: Uint8Array | undefined;
    }
  | { readonly type: 'DescribePCR'; readonly index: number }
  | { readonly type: 'GetRandom' };

/** The responses Keyhold accepts (the answers to the requests above, and `Error`). */
export type NsmResponse =
  | { readonly type: 'Attestation'; readonly document: Uint8Array }
  | { readonly type: 'DescribePCR'; readonly lock: boolean; readonly data: Uint8Array }
  | { readonly type: 'GetRandom'; readonly random: Uint8Array }
  | { readonly type: 'Error'; readonly code: NsmErrorCode };

/** Why an NSM exchange failed; carried as the `cause` of the AttestationError (for logs, never callers). */
export type NsmFailureReason =
  /** The helper executable is missing or not executable. */
  | 'helper-unavailable'
  /** The helper exited non-zero, was killed, or the transport threw. */
  | 'helper-failed'
  /** The helper did not answer within the timeout (it is killed). */
  | 'helper-timeout'
  /** More bytes than an NSM response can have. */
  | 'response-oversized'
  /** Not strict CBOR, or not the shape of any accepted Response. */
  | 'response-malformed'
  /** A well-formed Response, but not the answer to the request that was sent. */
  | 'response-unexpected'
  /** The NSM answered `Error(code)`; `nsmError` holds the code. */
  | 'nsm-error'
  /** The provider was closed. */
  | 'closed';

export class NsmFailure extends Error {
  readonly reason: NsmFailureReason;
  readonly nsmError: NsmErrorCode | undefined;

  constructor(reason: NsmFailureReason, detail: string, options?: { cause?: unknown; nsmError?: NsmErrorCode }) {
    super(`${reason}: ${detail}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NsmFailure';
    this.reason = reason;
    this.nsmError = options?.nsmError;
  }
}

/** Throws AttestationError KH_ATTESTATION_PROVIDER_FAILED with an NsmFailure as its cause. */
export function nsmFail(reason: NsmFailureReason, detail: string, options?: { cause?: unknown; nsmError?: NsmErrorCode }): never {
  throw new AttestationError('KH_ATTESTATION_PROVIDER_FAILED', { cause: new NsmFailure(reason, detail, options) });
}

/**
 * cborg sorts map keys by default; serde_cbor writes struct fields in
 * declaration order. A comparator that calls every pair equal keeps insertion
 * order, because Array.prototype.sort is stable (ES2019).
 */
const SERDE_ORDER: EncodeOptions = { mapSorter: () => 0 };

/** A plain Uint8Array view (cborg encodes exactly Uint8Array as a byte string; Buffer is a subclass). */
function bytesView(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** `Option<ByteBuf>`: null when absent. Out-of-range input is a caller bug (TypeError), as in the simulated provider. */
function optionalBytes(name: string, value: Uint8Array | undefined): Uint8Array | null {
  if (value === undefined) return null;
  if (!(value instanceof Uint8Array) || value.length > MAX_ATTESTATION_FIELD_BYTES) {
    throw new TypeError(`${name} must be a Uint8Array of at most ${MAX_ATTESTATION_FIELD_BYTES} bytes`);
  }
  return bytesView(value);
}

/**
 * The CBOR of `request` exactly as `serde_cbor::to_vec(&Request::…)` writes it.
 * @throws TypeError for arguments out of range (field > 1024 bytes, index not a u16)
 */
export function encodeNsmRequest(request: NsmRequest): Uint8Array {
  let value: unknown;
  switch (request.type) {
    case 'GetRandom':
      value = 'GetRandom';
      break;
    case 'DescribePCR':
      if (!Number.isInteger(request.index) || request.index < 0 || request.index > MAX_PCR_INDEX) {
        throw new TypeError('DescribePCR index must be an integer in 0..65535 (u16)');
      }
      value = new Map([['DescribePCR', new Map([['index', request.index]])]]);
      break;
    case 'Attestation':
      // Declaration order of Request::Attestation: user_data, nonce, public_key.
      value = new Map([
        [
          'Attestation',
          new Map<string, Uint8Array | null>([
            ['user_data', optionalBytes('userData', request.userData)],
            ['nonce', optionalBytes('nonce', request.nonce)],
            ['public_key', optionalBytes('publicKey', request.publicKey)],
          ]),
        ],
      ]);
      break;
  }
  const bytes = encode(value, SERDE_ORDER);
  // Unreachable with the field limits above (3 x 1024 + 54 < 4096); kept so a future field cannot silently exceed it.
  if (bytes.length > NSM_REQUEST_MAX_BYTES) throw new TypeError('NSM request exceeds 4096 bytes');
  // cborg hands back a Buffer under Node; callers get the plain type the signature promises.
  return bytesView(bytes);
}

/** The body of a struct variant: a map with exactly `keys` (serde ignores unknown fields; an NSM never sends any). */
function structBody(variant: string, body: unknown, keys: readonly string[]): Map<unknown, unknown> {
  if (!(body instanceof Map)) return nsmFail('response-malformed', `${variant}: body is not a map`);
  if (body.size !== keys.length || !keys.every((k) => body.has(k))) {
    return nsmFail('response-malformed', `${variant}: fields are not exactly ${keys.join(', ')}`);
  }
  return body;
}

function byteField(variant: string, body: Map<unknown, unknown>, key: string, min: number, max: number): Uint8Array {
  const value = body.get(key);
  if (!(value instanceof Uint8Array)) return nsmFail('response-malformed', `${variant}.${key} is not a byte string`);
  if (value.length < min || value.length > max) {
    return nsmFail('response-malformed', `${variant}.${key} has ${value.length} bytes, not ${min}..${max}`);
  }
  return value;
}

/**
 * Parses an NSM `Response`. Only the variants Keyhold asks for and `Error`
 * are returned; the others are recognised and refused as unexpected.
 * @throws AttestationError KH_ATTESTATION_PROVIDER_FAILED (cause: NsmFailure
 *   response-oversized | response-malformed | response-unexpected), never anything else
 */
export function decodeNsmResponse(bytes: Uint8Array): NsmResponse {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) return nsmFail('response-malformed', 'empty response');
  if (bytes.length > NSM_RESPONSE_MAX_BYTES) {
    return nsmFail('response-oversized', `${bytes.length} bytes, more than NSM_RESPONSE_MAX_SIZE (${NSM_RESPONSE_MAX_BYTES})`);
  }
  let value: unknown;
  try {
    value = decode(bytes, STRICT_CBOR) as unknown;
  } catch (e) {
    return nsmFail('response-malformed', 'not strict CBOR (one definite-length item, shortest-form integers)', { cause: e });
  }
  // Unit variants of Response are text strings; Keyhold never asks for LockPCR(s).
  if (typeof value === 'string') {
    if (value === 'LockPCR' || value === 'LockPCRs') return nsmFail('response-unexpected', `unit variant ${value}`);
    return nsmFail('response-malformed', 'unknown unit variant');
  }
  // Anything else is map(1) { variant: body }; an array here would be serde_cbor's pre-0.10 legacy enum form.
  if (!(value instanceof Map) || value.size !== 1) return nsmFail('response-malformed', 'not a single-entry map (externally tagged enum)');
  const entry = [...(value as Map<unknown, unknown>)][0];
  if (entry === undefined) return nsmFail('response-malformed', 'empty map');
  const [variant, body] = entry;
  if (typeof variant !== 'string') return nsmFail('response-malformed', 'variant name is not a text string');
  switch (variant) {
    case 'Attestation': {
      const b = structBody(variant, body, ['document']);
      return { type: 'Attestation', document: byteField(variant, b, 'document', 1, NSM_RESPONSE_MAX_BYTES) };
    }
    case 'DescribePCR': {
      const b = structBody(variant, body, ['lock', 'data']);
      const lock = b.get('lock');
      if (typeof lock !== 'boolean') return nsmFail('response-malformed', 'DescribePCR.lock is not a bool');
      return { type: 'DescribePCR', lock, data: byteField(variant, b, 'data', 1, MAX_PCR_BYTES) };
    }
    case 'GetRandom': {
      const b = structBody(variant, body, ['random']);
      return { type: 'GetRandom', random: byteField(variant, b, 'random', 1, MAX_ATTESTATION_FIELD_BYTES) };
    }
    case 'Error':
      // Newtype variant: the body is the ErrorCode itself, a unit variant, so a text string.
      if (typeof body !== 'string' || !isNsmErrorCode(body)) return nsmFail('response-malformed', 'Error body is not a known ErrorCode');
      return { type: 'Error', code: body };
    case 'ExtendPCR':
    case 'DescribeNSM':
    case 'LockPCR':
    case 'LockPCRs':
      return nsmFail('response-unexpected', `variant ${variant}`);
    default:
      return nsmFail('response-malformed', 'unknown variant');
  }
}
