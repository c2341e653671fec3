/**
 * The payload of an AWS Nitro attestation document (AWS "Nitro Enclaves
 * attestation process", §"Attestation document specification"; docs/protocols.md §2):
 * a CBOR map of text keys. Mandatory: module_id, digest, timestamp, pcrs,
 * certificate, cabundle. Optional (bstr or null): public_key, user_data, nonce.
 */
import { X509Certificate } from 'node:crypto';
import { decodeStrict } from './cose-sign1.js';
import { fail } from '../errors.js';

/** AWS spec: public_key, user_data and nonce are at most 1024 bytes each. */
export const MAX_OPTIONAL_FIELD_BYTES = 1024;
/** AWS spec: a PCR index is 0..31 and a document holds 1..32 of them. */
const MAX_PCRS = 32;
/** AWS spec: PCR values are 32, 48 or 64 bytes (SHA-256/384/512 sized). */
const PCR_LENGTHS = new Set([32, 48, 64]);
/** AWS spec: cabundle holds 1+ certificates; bound the chain walk. */
const MAX_CABUNDLE = 16;

export interface NitroPayload {
  readonly moduleId: string;
  readonly digest: 'SHA384';
  readonly timestamp: number;
  readonly pcrs: Map<number, Uint8Array>;
  readonly certificate: X509Certificate;
  /** Root first, as in the document. */
  readonly cabundle: X509Certificate[];
  readonly publicKey?: Uint8Array;
  readonly userData?: Uint8Array;
  readonly nonce?: Uint8Array;
}

function parseCert(der: unknown, what: string): X509Certificate {
  if (!(der instanceof Uint8Array) || der.length === 0) fail('KH_ATTESTATION_FIELD_INVALID', `${what} is not a non-empty bstr`);
  try {
    return new X509Certificate(der);
  } catch (e) {
    return fail('KH_ATTESTATION_FIELD_INVALID', `${what} is not a DER certificate`, e);
  }
}

function optionalBytes(map: Map<unknown, unknown>, key: string): Uint8Array | undefined {
  const v = map.get(key);
  if (v === undefined || v === null) return undefined;
  if (!(v instanceof Uint8Array) || v.length > MAX_OPTIONAL_FIELD_BYTES) {
    fail('KH_ATTESTATION_FIELD_INVALID', `${key} is not a bstr of at most ${MAX_OPTIONAL_FIELD_BYTES} bytes`);
  }
  return v;
}

/**
 * Decodes and validates the payload fields (not the chain nor the signature).
 * @throws AttestationError KH_ATTESTATION_MALFORMED, KH_ATTESTATION_FIELD_INVALID
 */
export function parsePayload(payload: Uint8Array): NitroPayload {
  const map = decodeStrict(payload, 'payload');
  if (!(map instanceof Map)) return fail('KH_ATTESTATION_MALFORMED', 'payload is not a map');
  for (const k of map.keys()) if (typeof k !== 'string') fail('KH_ATTESTATION_FIELD_INVALID', 'payload has a non-text key');

  const moduleId: unknown = map.get('module_id');
  if (typeof moduleId !== 'string' || moduleId.length === 0) fail('KH_ATTESTATION_FIELD_INVALID', 'module_id is not a non-empty text');
  const digest: unknown = map.get('digest');
  if (digest !== 'SHA384') fail('KH_ATTESTATION_FIELD_INVALID', 'digest is not "SHA384"');
  const timestamp: unknown = map.get('timestamp');
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp <= 0) {
    fail('KH_ATTESTATION_FIELD_INVALID', 'timestamp is not a positive integer (ms)');
  }

  const rawPcrs: unknown = map.get('pcrs');
  if (!(rawPcrs instanceof Map) || rawPcrs.size < 1 || rawPcrs.size > MAX_PCRS) {
    fail('KH_ATTESTATION_FIELD_INVALID', `pcrs is not a map of 1..${MAX_PCRS} entries`);
  }
  const pcrs = new Map<number, Uint8Array>();
  for (const [index, value] of rawPcrs as Map<unknown, unknown>) {
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= MAX_PCRS) {
      fail('KH_ATTESTATION_FIELD_INVALID', 'a PCR index is not an integer in 0..31');
    }
    if (!(value instanceof Uint8Array) || !PCR_LENGTHS.has(value.length)) {
      fail('KH_ATTESTATION_FIELD_INVALID', `PCR${index} is not a bstr of 32, 48 or 64 bytes`);
    }
    pcrs.set(index, value);
  }

  const certificate = parseCert(map.get('certificate'), 'certificate');
  const rawBundle: unknown = map.get('cabundle');
  if (!Array.isArray(rawBundle) || rawBundle.length < 1 || rawBundle.length > MAX_CABUNDLE) {
    fail('KH_ATTESTATION_FIELD_INVALID', `cabundle is not an array of 1..${MAX_CABUNDLE} certificates`);
  }
  const cabundle = (rawBundle as unknown[]).map((der, i) => parseCert(der, `cabundle[${i}]`));

  const publicKey = optionalBytes(map, 'public_key');
  const userData = optionalBytes(map, 'user_data');
  const nonce = optionalBytes(map, 'nonce');
  return {
    moduleId,
    digest,
    timestamp,
    pcrs,
    certificate,
    cabundle,
    ...(publicKey !== undefined && { publicKey }),
    ...(userData !== undefined && { userData }),
    ...(nonce !== undefined && { nonce }),
  };
}
