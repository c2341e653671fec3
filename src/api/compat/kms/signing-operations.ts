/**
 * KMS Sign, Verify, GenerateMac, VerifyMac, GetPublicKey and
 * DeriveSharedSecret over the keys layer's signMessage / verifyMessage,
 * computeHmac / verifyHmac, publicKey and deriveSharedSecret (src/keys/hsm/
 * for HSM-backed keys). Signatures and MACs cross this API raw, as KMS's;
 * KMS keys of these kinds are not rotated, but a key from /v1 may have been,
 * so verification tries each version the key still accepts, newest first.
 * As KMS, a signature or MAC that does not verify is an error
 * (KMSInvalidSignatureException, KMSInvalidMacException).
 */
import { Type } from '@sinclair/typebox';
import { toBase64, fromBase64Strict } from '../../../crypto/bytes.js';
import { pqSpki, type PqAlgorithm } from '../../../crypto/pq-spki.js';
import { decodeVersioned, encodeVersioned } from '../../../keys/ciphertext.js';
import type { ManagedKey } from '../../../keys/managed-key.js';
import { signMessage, verifyMessage, type SignRequestOptions } from '../../../keys/operations/sign.js';
import { computeHmac, verifyHmac } from '../../../keys/operations/hmac.js';
import { publicKey } from '../../../keys/operations/public-key.js';
import { deriveSharedSecret } from '../../../keys/operations/agreement.js';
import { hsmSign, hsmVerify } from '../../../keys/hsm/sign.js';
import { KmsError, invalidKeyUsage, unsupported, validation } from './kms-errors.js';
import { Blob, DryRun, GrantTokens, Input, KeyId, RecipientInfo, blob } from './kms-inputs.js';
import { keyTarget, operation, type KmsDeps } from './kms-operation.js';
import { kmsReleaseGate } from './kms-recipient.js';
import { recipientOf } from './encryption-operations.js';
import { algorithmFields, customerMasterKeySpecOf, KMS_USAGE, keySpecOf, MAC_ALGORITHMS, SIGNING_ALGORITHMS, signingAlgorithmsOf, usageOf } from './key-specs.js';
import { originOf } from './key-metadata.js';
import type { KeyUsage } from '../../../keys/key-usage.js';

const MAX_MESSAGE_BYTES = 4096;
const MAX_SIGNATURE_BYTES = 6144;
const MESSAGE_TYPES = new Set(['RAW', 'DIGEST', 'EXTERNAL_MU']);

function requireUsage(deps: KmsDeps, key: ManagedKey, wanted: KeyUsage): void {
  const usage = usageOf(key.record);
  if (usage !== wanted) throw invalidKeyUsage(`${deps.ids.keyArn(key.name)} key usage is ${KMS_USAGE[usage]} which is not valid for this operation.`);
}

/** Versions a key still verifies with, newest first. */
function verifiableVersions(key: ManagedKey): number[] {
  const r = key.record;
  const out: number[] = [];
  for (let v = r.latestVersion; v >= Math.max(r.minDecryptionVersion, r.minAvailableVersion); v--) out.push(v);
  return out;
}

/** SigningAlgorithm + MessageType -> the keys layer's options, with KMS's pairing rules and Keyhold's gaps. */
function signOptions(deps: KmsDeps, key: ManagedKey, algorithm: string, messageType: string | undefined): SignRequestOptions {
  requireUsage(deps, key, 'sign-verify');
  const type = key.record.type;
  const type_ = MESSAGE_TYPES.has(messageType ?? 'RAW') ? (messageType ?? 'RAW') : undefined;
  if (type_ === undefined) throw validation(`1 validation error detected: Value '${String(messageType).slice(0, 32)}' at 'messageType' failed to satisfy constraint: Member must satisfy enum value set`);
  if (algorithm === 'ED25519_PH_SHA_512' && type === 'ed25519') throw unsupported('ED25519_PH_SHA_512 (Ed25519ph) is not supported; use ED25519_SHA_512');
  const def = SIGNING_ALGORITHMS[algorithm];
  if (def === undefined && !['ED25519_PH_SHA_512', 'SM2DSA'].includes(algorithm))
    throw validation(`1 validation error detected: Value '${algorithm.slice(0, 64)}' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set`);
  if (def === undefined || !signingAlgorithmsOf(type).includes(algorithm)) throw invalidKeyUsage(`${algorithm} is not a valid signing algorithm for ${keySpecOf(type)} keys`);
  const digest = type_ === 'DIGEST';
  if (type_ === 'EXTERNAL_MU') {
    if (type.startsWith('ml-dsa-')) throw unsupported('MessageType EXTERNAL_MU is not supported; sign the RAW message');
    throw validation('MessageType EXTERNAL_MU is only valid with ML-DSA keys');
  }
  if (type === 'ed25519' || type.startsWith('ml-dsa-')) {
    if (digest) throw validation(`${algorithm} signs RAW messages only`);
    return {};
  }
  if (def.padding === 'pss' && digest) throw unsupported('RSASSA_PSS with MessageType DIGEST is not supported; send the RAW message or use RSASSA_PKCS1_V1_5');
  const rsa = type.startsWith('rsa-') || type.startsWith('hsm-rsa-');
  return { hash: def.hash, ...(digest && { prehashed: true }), ...(rsa ? { signatureAlgorithm: def.padding } : { signatureFormat: 'der' as const }) };
}

const SignInput = {
  KeyId,
  Message: Blob(MAX_MESSAGE_BYTES),
  MessageType: Type.Optional(Type.String({ maxLength: 32 })),
  GrantTokens: Type.Optional(GrantTokens),
  SigningAlgorithm: Type.String({ maxLength: 64 }),
  DryRun: Type.Optional(DryRun),
};

export const Sign = operation({
  input: Input(SignInput),
  action: 'sign',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    const message = blob('Message', input.Message, 1, MAX_MESSAGE_BYTES);
    const key = await deps.keys.get(name!);
    const options = signOptions(deps, key, input.SigningAlgorithm, input.MessageType);
    const r = key.spec.kind === 'hsm' ? await hsmSign(deps.keys.hsm, key, message, options) : signMessage(key, message, options);
    return { KeyId: deps.ids.keyArn(name!), Signature: toBase64(decodeVersioned(r.signature, 'KH_SIGNATURE_MALFORMED').bytes), SigningAlgorithm: input.SigningAlgorithm };
  },
});

export const Verify = operation({
  input: Input({ ...SignInput, Signature: Blob(MAX_SIGNATURE_BYTES) }),
  action: 'verify',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    const message = blob('Message', input.Message, 1, MAX_MESSAGE_BYTES);
    const signature = blob('Signature', input.Signature, 1, MAX_SIGNATURE_BYTES);
    const key = await deps.keys.get(name!);
    key.checkUsable();
    const options = signOptions(deps, key, input.SigningAlgorithm, input.MessageType);
    for (const v of verifiableVersions(key)) {
      const versioned = encodeVersioned(v, signature);
      const { valid } = key.spec.kind === 'hsm' ? hsmVerify(key, message, versioned, options) : verifyMessage(key, message, versioned, options);
      if (valid) return { KeyId: deps.ids.keyArn(name!), SignatureValid: true, SigningAlgorithm: input.SigningAlgorithm };
    }
    throw new KmsError('KMSInvalidSignatureException', 'The signature is not valid.', 'KH_VERIFICATION_FAILED');
  },
});

/** The HMAC key for a MacAlgorithm. */
function macKey(deps: KmsDeps, key: ManagedKey, algorithm: string): void {
  requireUsage(deps, key, 'generate-verify-mac');
  const type = MAC_ALGORITHMS[algorithm];
  if (type === undefined && algorithm !== 'HMAC_SHA_224')
    throw validation(`1 validation error detected: Value '${algorithm.slice(0, 64)}' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set`);
  if (type !== key.record.type) throw invalidKeyUsage(`${algorithm} is not valid for ${keySpecOf(key.record.type)} keys`);
}

const MacInput = { Message: Blob(MAX_MESSAGE_BYTES), KeyId, MacAlgorithm: Type.String({ maxLength: 64 }), GrantTokens: Type.Optional(GrantTokens), DryRun: Type.Optional(DryRun) };

export const GenerateMac = operation({
  input: Input(MacInput),
  action: 'hmac',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    const message = blob('Message', input.Message, 1, MAX_MESSAGE_BYTES);
    const key = await deps.keys.get(name!);
    macKey(deps, key, input.MacAlgorithm);
    const r = computeHmac(key, message);
    return { Mac: toBase64(decodeVersioned(r.hmac, 'KH_SIGNATURE_MALFORMED').bytes), MacAlgorithm: input.MacAlgorithm, KeyId: deps.ids.keyArn(name!) };
  },
});

export const VerifyMac = operation({
  input: Input({ ...MacInput, Mac: Blob(64) }),
  action: 'verifyHmac',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    const message = blob('Message', input.Message, 1, MAX_MESSAGE_BYTES);
    const mac = blob('Mac', input.Mac, 1, 64);
    const key = await deps.keys.get(name!);
    key.checkUsable();
    macKey(deps, key, input.MacAlgorithm);
    for (const v of verifiableVersions(key)) {
      if (verifyHmac(key, message, encodeVersioned(v, mac)).valid) return { KeyId: deps.ids.keyArn(name!), MacValid: true, MacAlgorithm: input.MacAlgorithm };
    }
    throw new KmsError('KMSInvalidMacException', 'The MAC is not valid.', 'KH_VERIFICATION_FAILED');
  },
});

export const GetPublicKey = operation({
  input: Input({ KeyId, GrantTokens: Type.Optional(GrantTokens) }),
  action: 'getPublicKey',
  target: keyTarget('KeyId'),
  async run(deps, _input, [name]) {
    const key = await deps.keys.get(name!);
    key.checkUsable();
    const type = key.record.type;
    const spec = key.spec;
    const asymmetric = spec.kind === 'signature' || spec.kind === 'agreement' || spec.kind === 'kem' || (spec.kind === 'hsm' && spec.hsm.algorithm !== 'aes-gcm');
    if (!asymmetric) throw unsupported(`${deps.ids.keyArn(name!)} is a symmetric key: it has no public key`);
    const raw = fromBase64Strict(publicKey(key, undefined, 'raw').publicKey as string)!;
    // node:crypto has no SPKI for ML-DSA / ML-KEM yet: wrap the raw key (RFC 9881, FIPS 203 OIDs).
    const der = type.startsWith('ml-') ? pqSpki(type as PqAlgorithm, raw) : raw;
    const kmsSpec = keySpecOf(type);
    const cmk = customerMasterKeySpecOf(kmsSpec);
    return {
      KeyId: deps.ids.keyArn(name!),
      PublicKey: toBase64(der),
      KeySpec: kmsSpec,
      ...(cmk !== undefined && { CustomerMasterKeySpec: cmk }),
      KeyUsage: KMS_USAGE[usageOf(key.record)],
      ...algorithmFields(key.record),
    };
  },
});

export const DeriveSharedSecret = operation({
  input: Input({
    KeyId,
    KeyAgreementAlgorithm: Type.String({ maxLength: 32 }),
    PublicKey: Blob(8192),
    GrantTokens: Type.Optional(GrantTokens),
    DryRun: Type.Optional(DryRun),
    Recipient: Type.Optional(RecipientInfo),
  }),
  action: 'deriveSharedSecret',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    if (input.KeyAgreementAlgorithm !== 'ECDH') throw validation(`1 validation error detected: Value '${input.KeyAgreementAlgorithm.slice(0, 32)}' at 'keyAgreementAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [ECDH]`);
    const peer = blob('PublicKey', input.PublicKey, 1, 8192);
    const key = await deps.keys.get(name!);
    requireUsage(deps, key, 'key-agreement');
    const gate = kmsReleaseGate(deps.recipients, key.record.releasePolicy, recipientOf(input.Recipient));
    const { secret } = deriveSharedSecret(key, { peerPublicKey: peer, output: 'shared-secret' });
    return { KeyId: deps.ids.keyArn(name!), KeyAgreementAlgorithm: 'ECDH', KeyOrigin: originOf(key), ...gate.deliver(secret, 'SharedSecret') };
  },
});
