/**
 * KMS bring-your-own-key: GetParametersForImport and ImportKeyMaterial over
 * the keys layer's wrapping key (the vault's RSA-4096 import key, the one
 * /v1 and Vault transit import use), import tokens (bound to the key and
 * the wrapping algorithm, valid 24 hours) and KeyManager.importFirstMaterial
 * for keys created with Origin EXTERNAL.
 *
 * Wrapping algorithms: RSAES_OAEP_SHA_256 (the material itself under RSA-OAEP)
 * and RSA_AES_KEY_WRAP_SHA_256 (an AES key under RSA-OAEP, the material under
 * AES-KWP, RFC 5649). Material: raw bytes for symmetric and HMAC keys, PKCS#8
 * DER for RSA and ECC keys, the 32-byte seed for ML-DSA keys.
 */
import { Type } from '@sinclair/typebox';
import { KeyholdError } from '../../../errors.js';
import { toBase64, wipe } from '../../../crypto/bytes.js';
import { KmsError, invalidState, unsupported, validation } from './kms-errors.js';
import { Blob, Input, KeyId, blob, epochSeconds } from './kms-inputs.js';
import { keyTarget, operation } from './kms-operation.js';

const WRAPPING = { RSAES_OAEP_SHA_256: 'rsa-oaep-sha256', RSA_AES_KEY_WRAP_SHA_256: 'rsa-aes-kwp-sha256' } as const;
type WrappingName = keyof typeof WRAPPING;
const KNOWN_WRAPPING = new Set(['RSAES_PKCS1_V1_5', 'RSAES_OAEP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_1', 'SM2PKE']);
const WRAPPING_KEY_SPECS = new Set(['RSA_2048', 'RSA_3072', 'RSA_4096']);
/** Large enough for an RSA-4096 private key in PKCS#8 under RSA-AES key wrap. */
const MAX_WRAPPED_BYTES = 8192;

export const GetParametersForImport = operation({
  input: Input({ KeyId, WrappingAlgorithm: Type.String({ maxLength: 64 }), WrappingKeySpec: Type.String({ maxLength: 64 }) }),
  action: 'importKey',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    const algorithm = WRAPPING[input.WrappingAlgorithm as WrappingName] as string | undefined;
    if (algorithm === undefined) {
      if (KNOWN_WRAPPING.has(input.WrappingAlgorithm)) throw unsupported(`WrappingAlgorithm ${input.WrappingAlgorithm} is not supported; use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256`);
      throw validation(`1 validation error detected: Value '${input.WrappingAlgorithm.slice(0, 64)}' at 'wrappingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set`);
    }
    // Keyhold has one import key per vault, RSA-4096; the smaller specs get it too (docs/compat.md).
    if (!WRAPPING_KEY_SPECS.has(input.WrappingKeySpec)) {
      if (input.WrappingKeySpec === 'SM2') throw unsupported('WrappingKeySpec SM2 is not supported');
      throw validation(`1 validation error detected: Value '${input.WrappingKeySpec.slice(0, 64)}' at 'wrappingKeySpec' failed to satisfy constraint: Member must satisfy enum value set`);
    }
    const key = await deps.keys.get(name!);
    if (key.record.origin !== 'imported') throw unsupported(`${deps.ids.keyArn(name!)} was not created with Origin EXTERNAL`);
    if (key.record.state !== 'pending-import') throw invalidState(`${deps.ids.keyArn(name!)} already has its key material (state ${key.record.state}).`);
    const { token, expiresAt } = await deps.importTokens.issue(name!, algorithm);
    return { KeyId: deps.ids.keyArn(name!), ImportToken: toBase64(token), PublicKey: toBase64(await deps.wrapping.publicKeyDer()), ParametersValidTo: epochSeconds(expiresAt) };
  },
});

export const ImportKeyMaterial = operation({
  input: Input({
    KeyId,
    ImportToken: Blob(4096),
    EncryptedKeyMaterial: Blob(MAX_WRAPPED_BYTES),
    ValidTo: Type.Optional(Type.Number()),
    ExpirationModel: Type.Optional(Type.String({ maxLength: 64 })),
    ImportType: Type.Optional(Type.String({ maxLength: 64 })),
    KeyMaterialDescription: Type.Optional(Type.String({ maxLength: 256 })),
    KeyMaterialId: Type.Optional(Type.String({ maxLength: 64 })),
  }),
  action: 'importKey',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    if ((input.ExpirationModel !== undefined && input.ExpirationModel !== 'KEY_MATERIAL_DOES_NOT_EXPIRE') || input.ValidTo !== undefined)
      throw unsupported('Expiring key material is not supported: use ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE');
    if (input.ImportType !== undefined && input.ImportType !== 'NEW_KEY_MATERIAL' && input.ImportType !== 'EXISTING_KEY_MATERIAL')
      throw validation(`1 validation error detected: Value '${input.ImportType.slice(0, 64)}' at 'importType' failed to satisfy constraint: Member must satisfy enum value set`);
    const token = blob('ImportToken', input.ImportToken, 1, 4096);
    const wrapped = blob('EncryptedKeyMaterial', input.EncryptedKeyMaterial, 1, MAX_WRAPPED_BYTES);
    const key = await deps.keys.get(name!);
    if (key.record.origin !== 'imported') throw unsupported(`${deps.ids.keyArn(name!)} was not created with Origin EXTERNAL`);
    if (key.record.state !== 'pending-import') throw invalidState(`${deps.ids.keyArn(name!)} already has its key material (state ${key.record.state}).`);
    const algorithm = await deps.importTokens.verify(token, name!);
    let material: Uint8Array;
    try {
      material = algorithm === 'rsa-oaep-sha256' ? await deps.wrapping.unwrapOaep(wrapped) : await deps.wrapping.unwrap(wrapped);
    } catch (e) {
      if (e instanceof KeyholdError && e.code === 'KH_DECRYPT_FAILED') throw new KmsError('InvalidCiphertextException', 'The wrapped key material could not be decrypted with the import parameters.', 'KH_DECRYPT_FAILED');
      throw e;
    }
    try {
      await deps.keys.importFirstMaterial(name!, { secret: material });
    } catch (e) {
      if (e instanceof KeyholdError && (e.code === 'KH_INPUT_INVALID' || e.code === 'KH_KEY_LEGACY_REQUIRED')) throw new KmsError('IncorrectKeyMaterialException', e.message, e.code);
      throw e;
    } finally {
      wipe(material);
    }
    return { KeyId: deps.ids.keyArn(name!) };
  },
});
