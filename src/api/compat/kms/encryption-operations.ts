/**
 * KMS Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),
 * GenerateDataKeyPair(WithoutPlaintext) and GenerateRandom over the keys
 * layer's encrypt/decrypt/dataKey (src/keys/hsm/ for HSM-backed keys), with
 * KMS's ciphertext blobs (ciphertext-blob.ts), encryption contexts bound as
 * the keys layer binds them, and KMS's size limits.
 */
import { Type } from '@sinclair/typebox';
import { KeyholdError } from '../../../errors.js';
import { toBase64, wipe } from '../../../crypto/bytes.js';
import { entropy } from '../../../crypto/random.js';
import { decodeVersioned, encodeVersioned } from '../../../keys/ciphertext.js';
import type { ManagedKey } from '../../../keys/managed-key.js';
import { decrypt, encrypt, type OaepHash } from '../../../keys/operations/encrypt.js';
import { dataKey } from '../../../keys/operations/datakey.js';
import { generateDataKeyPair } from '../../../keys/operations/datakey-pair.js';
import { hsmDecrypt, hsmEncrypt } from '../../../keys/hsm/encrypt.js';
import { hsmDataKey } from '../../../keys/hsm/datakey.js';
import { decodeBlob, encodeBlob, looksLikeBlob, MAX_CIPHERTEXT_BLOB_BYTES } from './ciphertext-blob.js';
import { KmsError, invalidKeyUsage, unsupported, validation } from './kms-errors.js';
import { Blob, DryRun, EncryptionContext, GrantTokens, Input, KeyId, RecipientInfo, blob, encryptionContext, optionalBlob } from './kms-inputs.js';
import { keyTarget, operation, type KmsDeps } from './kms-operation.js';
import { kmsReleaseGate, type KmsRecipient } from './kms-recipient.js';
import { DATA_KEY_PAIR_SPECS, isRsa, isSymmetric, KMS_USAGE, usageOf } from './key-specs.js';
import type { Resolved } from './key-ids.js';

/** KMS limits: Encrypt takes at most 4096 bytes; data keys and random are 1..1024 bytes. */
export const MAX_PLAINTEXT_BYTES = 4096;
const MAX_DATA_BYTES = 1024;
const OAEP: Readonly<Record<string, OaepHash>> = { RSAES_OAEP_SHA_1: 'sha1', RSAES_OAEP_SHA_256: 'sha256' };
const EncryptionAlgorithm = Type.String({ maxLength: 64 });
const invalidCiphertext = () => new KmsError('InvalidCiphertextException', 'The ciphertext is invalid.', 'KH_DECRYPT_FAILED');

export function recipientOf(r: { KeyEncryptionAlgorithm?: string | undefined; AttestationDocument?: string | undefined } | undefined): KmsRecipient | undefined {
  if (r === undefined) return undefined;
  return { keyEncryptionAlgorithm: r.KeyEncryptionAlgorithm, attestationDocument: optionalBlob('Recipient.AttestationDocument', r.AttestationDocument, 1, 262_144) };
}

function requireUsage(deps: KmsDeps, key: ManagedKey): void {
  const usage = usageOf(key.record);
  if (usage !== 'encrypt-decrypt') throw invalidKeyUsage(`${deps.ids.keyArn(key.name)} key usage is ${KMS_USAGE[usage]} which is not valid for this operation.`);
}

/** A symmetric data-encryption key, as GenerateDataKey* need. */
function requireSymmetric(deps: KmsDeps, key: ManagedKey): void {
  if (!isSymmetric(key.record.type)) throw invalidKeyUsage(`${deps.ids.keyArn(key.name)} is not a symmetric encryption key.`);
}

/** Encrypts under `key` and returns the CiphertextBlob and the algorithm used. */
export async function encryptBlob(deps: KmsDeps, key: ManagedKey, plaintext: Uint8Array, context: Record<string, string> | undefined, algorithm: string | undefined): Promise<{ blob: Uint8Array; algorithm: string }> {
  requireUsage(deps, key);
  const type = key.record.type;
  if (isSymmetric(type)) {
    if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT') throw invalidKeyUsage(`${algorithm} is not valid for a symmetric key; use SYMMETRIC_DEFAULT`);
    const r = key.spec.kind === 'hsm' ? await hsmEncrypt(deps.keys.hsm, key, { plaintext, context }) : encrypt(key, { plaintext, context });
    return { blob: encodeBlob(key.name, r.ciphertext), algorithm: 'SYMMETRIC_DEFAULT' };
  }
  if (isRsa(type) && key.spec.kind === 'signature') {
    const oaepHash = algorithm === undefined ? undefined : OAEP[algorithm];
    if (oaepHash === undefined) throw invalidKeyUsage('RSA keys encrypt with EncryptionAlgorithm RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256');
    if (context !== undefined) throw validation('EncryptionContext is not supported with asymmetric keys');
    const r = encrypt(key, { plaintext, oaepHash });
    return { blob: decodeVersioned(r.ciphertext, 'KH_CIPHERTEXT_MALFORMED').bytes, algorithm: algorithm! };
  }
  throw invalidKeyUsage(`${deps.ids.keyArn(key.name)} cannot encrypt.`);
}

/**
 * Decrypts a CiphertextBlob with `key` (already checked to be the blob's key
 * for symmetric blobs). RSA ciphertexts carry no version: every version the
 * key may decrypt with is tried, newest first.
 */
export async function decryptBlob(
  deps: KmsDeps,
  key: ManagedKey,
  bytes: Uint8Array,
  context: Record<string, string> | undefined,
  algorithm: string | undefined,
  keyIdGiven: boolean,
): Promise<{ plaintext: Uint8Array; algorithm: string }> {
  requireUsage(deps, key);
  key.checkUsable();
  const type = key.record.type;
  if (isSymmetric(type)) {
    if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT') throw invalidKeyUsage(`${algorithm} is not valid for a symmetric key; use SYMMETRIC_DEFAULT`);
    const { keyName, versioned } = decodeBlob(bytes);
    if (keyName !== key.name) throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a KMS key that can perform this operation.', 'KH_DECRYPT_FAILED');
    const input = { ciphertext: versioned, context };
    const r = key.spec.kind === 'hsm' ? await hsmDecrypt(deps.keys.hsm, key, input) : decrypt(key, input);
    return { plaintext: r.plaintext, algorithm: 'SYMMETRIC_DEFAULT' };
  }
  if (isRsa(type) && key.spec.kind === 'signature') {
    if (!keyIdGiven) throw invalidCiphertext();
    const oaepHash = algorithm === undefined ? undefined : OAEP[algorithm];
    if (oaepHash === undefined) throw invalidKeyUsage('RSA keys decrypt with EncryptionAlgorithm RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256');
    if (context !== undefined) throw validation('EncryptionContext is not supported with asymmetric keys');
    const r = key.record;
    for (let v = r.latestVersion; v >= Math.max(r.minDecryptionVersion, r.minAvailableVersion); v--) {
      try {
        return { plaintext: decrypt(key, { ciphertext: encodeVersioned(v, bytes), oaepHash }).plaintext, algorithm: algorithm! };
      } catch (e) {
        if (!(e instanceof KeyholdError) || e.code !== 'KH_DECRYPT_FAILED') throw e;
      }
    }
    throw invalidCiphertext();
  }
  throw invalidKeyUsage(`${deps.ids.keyArn(key.name)} cannot decrypt.`);
}

/** The key a Decrypt-like request uses: its KeyId, else the one its symmetric blob names. */
function ciphertextKey(deps: KmsDeps, keyId: string | undefined, ciphertext: string): Promise<Resolved> {
  if (keyId !== undefined) return deps.ids.resolve(keyId);
  const bytes = blob('CiphertextBlob', ciphertext, 1, MAX_CIPHERTEXT_BLOB_BYTES);
  if (!looksLikeBlob(bytes)) throw invalidCiphertext();
  return Promise.resolve({ name: decodeBlob(bytes).keyName });
}

export const Encrypt = operation({
  input: Input({
    KeyId,
    Plaintext: Blob(MAX_PLAINTEXT_BYTES),
    EncryptionContext: Type.Optional(EncryptionContext),
    GrantTokens: Type.Optional(GrantTokens),
    EncryptionAlgorithm: Type.Optional(EncryptionAlgorithm),
    DryRun: Type.Optional(DryRun),
  }),
  action: 'encrypt',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    const plaintext = blob('Plaintext', input.Plaintext, 1, MAX_PLAINTEXT_BYTES);
    try {
      const key = await deps.keys.get(name!);
      const out = await encryptBlob(deps, key, plaintext, encryptionContext(input.EncryptionContext), input.EncryptionAlgorithm);
      return { CiphertextBlob: toBase64(out.blob), KeyId: deps.ids.keyArn(name!), EncryptionAlgorithm: out.algorithm };
    } finally {
      wipe(plaintext);
    }
  },
});

export const Decrypt = operation({
  input: Input({
    CiphertextBlob: Blob(MAX_CIPHERTEXT_BLOB_BYTES),
    EncryptionContext: Type.Optional(EncryptionContext),
    GrantTokens: Type.Optional(GrantTokens),
    KeyId: Type.Optional(KeyId),
    EncryptionAlgorithm: Type.Optional(EncryptionAlgorithm),
    Recipient: Type.Optional(RecipientInfo),
    DryRun: Type.Optional(DryRun),
  }),
  action: 'decrypt',
  target: {
    async keys(input, deps) {
      return [await ciphertextKey(deps, input.KeyId, input.CiphertextBlob)];
    },
  },
  async run(deps, input, [name]) {
    const bytes = blob('CiphertextBlob', input.CiphertextBlob, 1, MAX_CIPHERTEXT_BLOB_BYTES);
    const key = await deps.keys.get(name!);
    // Checked before decrypting: a key with a release policy hands plaintext only to an attested recipient.
    const gate = kmsReleaseGate(deps.recipients, key.record.releasePolicy, recipientOf(input.Recipient));
    const { plaintext, algorithm } = await decryptBlob(deps, key, bytes, encryptionContext(input.EncryptionContext), input.EncryptionAlgorithm, input.KeyId !== undefined);
    return { KeyId: deps.ids.keyArn(name!), EncryptionAlgorithm: algorithm, ...gate.deliver(plaintext, 'Plaintext') };
  },
});

export const ReEncrypt = operation({
  input: Input({
    CiphertextBlob: Blob(MAX_CIPHERTEXT_BLOB_BYTES),
    SourceEncryptionContext: Type.Optional(EncryptionContext),
    SourceKeyId: Type.Optional(KeyId),
    DestinationKeyId: KeyId,
    DestinationEncryptionContext: Type.Optional(EncryptionContext),
    SourceEncryptionAlgorithm: Type.Optional(EncryptionAlgorithm),
    DestinationEncryptionAlgorithm: Type.Optional(EncryptionAlgorithm),
    GrantTokens: Type.Optional(GrantTokens),
    DryRun: Type.Optional(DryRun),
  }),
  // Within one key, re-encryption is rewrap (as /v1 and transit). Across keys it is, in effect, a decryption:
  // the caller may hold the destination key's material (an imported key), so the source is asked `decrypt`
  // and the destination `encrypt` (KMS's ReEncryptFrom / ReEncryptTo).
  action: 'rewrap',
  target: {
    async keys(input, deps) {
      const source = await ciphertextKey(deps, input.SourceKeyId, input.CiphertextBlob);
      const destination = await deps.ids.resolve(input.DestinationKeyId);
      if (source.name !== undefined && source.name === destination.name) return [source, destination];
      return [
        { ...source, action: 'decrypt' },
        { ...destination, action: 'encrypt' },
      ];
    },
  },
  async run(deps, input, [sourceName, destinationName]) {
    const bytes = blob('CiphertextBlob', input.CiphertextBlob, 1, MAX_CIPHERTEXT_BLOB_BYTES);
    const source = await deps.keys.get(sourceName!);
    const destination = await deps.keys.get(destinationName!);
    // A release policy must not be escaped by moving the data under another key, even one with the same policy:
    // its material may be known (imported). Within the key itself re-encryption is safe.
    if (source.record.releasePolicy !== undefined && sourceName !== destinationName)
      throw new KeyholdError('KH_RELEASE_RECIPIENT_REQUIRED', 'the source key has a release policy: its ciphertexts are re-encrypted only under the same key');
    const context = encryptionContext(input.DestinationEncryptionContext);
    const opened = await decryptBlob(deps, source, bytes, encryptionContext(input.SourceEncryptionContext), input.SourceEncryptionAlgorithm, input.SourceKeyId !== undefined);
    try {
      const out = await encryptBlob(deps, destination, opened.plaintext, context, input.DestinationEncryptionAlgorithm);
      return {
        CiphertextBlob: toBase64(out.blob),
        SourceKeyId: deps.ids.keyArn(sourceName!),
        KeyId: deps.ids.keyArn(destinationName!),
        SourceEncryptionAlgorithm: opened.algorithm,
        DestinationEncryptionAlgorithm: out.algorithm,
      };
    } finally {
      wipe(opened.plaintext);
    }
  },
});

const DataKeyInput = {
  KeyId,
  EncryptionContext: Type.Optional(EncryptionContext),
  NumberOfBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_DATA_BYTES })),
  KeySpec: Type.Optional(Type.Union([Type.Literal('AES_128'), Type.Literal('AES_256')])),
  GrantTokens: Type.Optional(GrantTokens),
  DryRun: Type.Optional(DryRun),
};

function dataKeyBytes(input: { NumberOfBytes?: number | undefined; KeySpec?: 'AES_128' | 'AES_256' | undefined }): number {
  if (input.NumberOfBytes !== undefined && input.KeySpec !== undefined) throw validation('Specify either KeySpec or NumberOfBytes, not both');
  if (input.NumberOfBytes !== undefined) return input.NumberOfBytes;
  if (input.KeySpec === undefined) throw validation('Specify either KeySpec or NumberOfBytes');
  return input.KeySpec === 'AES_128' ? 16 : 32;
}

async function generateDataKey(deps: KmsDeps, name: string, input: Parameters<typeof dataKeyBytes>[0] & { EncryptionContext?: Record<string, string> | undefined }, recipient: KmsRecipient | undefined, includePlaintext: boolean) {
  const bytes = dataKeyBytes(input);
  const context = encryptionContext(input.EncryptionContext);
  const key = await deps.keys.get(name);
  requireSymmetric(deps, key);
  const gate = includePlaintext ? kmsReleaseGate(deps.recipients, key.record.releasePolicy, recipient) : undefined;
  const args = { bytes, includePlaintext, context };
  const r = key.spec.kind === 'hsm' ? await hsmDataKey(deps.keys.hsm, key, args) : dataKey(key, args);
  const out = { CiphertextBlob: toBase64(encodeBlob(name, r.ciphertext)), KeyId: deps.ids.keyArn(name) };
  if (gate === undefined || r.plaintext === undefined) return out;
  return { ...out, ...gate.deliver(r.plaintext, 'Plaintext') };
}

export const GenerateDataKey = operation({
  input: Input({ ...DataKeyInput, Recipient: Type.Optional(RecipientInfo) }),
  action: 'generateDataKey',
  target: keyTarget('KeyId'),
  run: (deps, input, [name]) => generateDataKey(deps, name!, input, recipientOf(input.Recipient), true),
});

export const GenerateDataKeyWithoutPlaintext = operation({
  input: Input(DataKeyInput),
  action: 'generateDataKey',
  target: keyTarget('KeyId'),
  run: (deps, input, [name]) => generateDataKey(deps, name!, input, undefined, false),
});

const DataKeyPairInput = {
  EncryptionContext: Type.Optional(EncryptionContext),
  KeyId,
  KeyPairSpec: Type.String({ maxLength: 64 }),
  GrantTokens: Type.Optional(GrantTokens),
  DryRun: Type.Optional(DryRun),
};

async function generateDataKeyPairOp(deps: KmsDeps, name: string, input: { KeyPairSpec: string; EncryptionContext?: Record<string, string> | undefined }, recipient: KmsRecipient | undefined, includePlaintext: boolean) {
  const type = DATA_KEY_PAIR_SPECS[input.KeyPairSpec];
  if (type === undefined) {
    if (['SM2', 'ML_KEM_512', 'ML_KEM_768', 'ML_KEM_1024'].includes(input.KeyPairSpec)) throw unsupported(`KeyPairSpec ${input.KeyPairSpec} is not supported`);
    throw validation(`1 validation error detected: Value '${input.KeyPairSpec.slice(0, 64)}' at 'keyPairSpec' failed to satisfy constraint: Member must satisfy enum value set`);
  }
  const context = encryptionContext(input.EncryptionContext);
  const key = await deps.keys.get(name);
  requireSymmetric(deps, key);
  key.checkUsable();
  const gate = includePlaintext ? kmsReleaseGate(deps.recipients, key.record.releasePolicy, recipient) : undefined;
  const pair = generateDataKeyPair(type);
  try {
    const wrapped = await encryptBlob(deps, key, pair.privateKey, context, undefined);
    const out = { PrivateKeyCiphertextBlob: toBase64(wrapped.blob), PublicKey: toBase64(pair.publicKey), KeyId: deps.ids.keyArn(name), KeyPairSpec: input.KeyPairSpec };
    if (gate === undefined) return out;
    return { ...out, ...gate.deliver(pair.privateKey, 'PrivateKeyPlaintext') };
  } finally {
    wipe(pair.privateKey);
  }
}

export const GenerateDataKeyPair = operation({
  input: Input({ ...DataKeyPairInput, Recipient: Type.Optional(RecipientInfo) }),
  action: 'generateDataKey',
  target: keyTarget('KeyId'),
  run: (deps, input, [name]) => generateDataKeyPairOp(deps, name!, input, recipientOf(input.Recipient), true),
});

export const GenerateDataKeyPairWithoutPlaintext = operation({
  input: Input(DataKeyPairInput),
  action: 'generateDataKey',
  target: keyTarget('KeyId'),
  run: (deps, input, [name]) => generateDataKeyPairOp(deps, name!, input, undefined, false),
});

export const GenerateRandom = operation({
  input: Input({
    NumberOfBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_DATA_BYTES })),
    CustomKeyStoreId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    Recipient: Type.Optional(RecipientInfo),
  }),
  action: 'random',
  target: { system: 'tools' },
  async run(deps, input) {
    if (input.CustomKeyStoreId !== undefined) throw unsupported('Custom key stores are not supported');
    if (input.NumberOfBytes === undefined) throw validation('NumberOfBytes is required');
    const gate = kmsReleaseGate(deps.recipients, undefined, recipientOf(input.Recipient));
    return gate.deliver(entropy(input.NumberOfBytes, 'random'), 'Plaintext');
  },
});
