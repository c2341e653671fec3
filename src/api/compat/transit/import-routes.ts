/**
 * Vault transit BYOK (https://developer.hashicorp.com/vault/docs/secrets/transit#bring-your-own-key-byok):
 * `GET wrapping_key`, `POST keys/:name/import`, `POST keys/:name/import_version`.
 * The wire format is the keys layer's own (keys/wrapping-key.ts was built to
 * Vault's): RSA-OAEP-SHA256(ephemeral AES-256 key) || AES-KWP(material), so
 * `vault transit import` and scripts written for Vault work unchanged.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { KeyManager } from '../../../keys/key-manager.js';
import type { WrappingKey } from '../../../keys/wrapping-key.js';
import { fromBase64Strict } from '../../../crypto/bytes.js';
import { KeyInfo, keyholdType, keyInfo } from './key-types.js';
import { NameParams } from './keys-routes.js';
import { badRequest, envelope, vaultResponses } from './vault-shape.js';

const config = { auth: 'token' } as const;
const tags = ['vault-transit'];

/**
 * Vault lets the caller name the OAEP hash of the wrapped ephemeral key; the
 * wrapping key here unwraps SHA-256 only (Vault's default), so any other hash
 * is refused up front rather than failing later as "decryption failed".
 */
const HashFunction = Type.Optional(Type.String({ maxLength: 16, default: 'SHA256' }));
const Material = {
  ciphertext: Type.Optional(Type.String({ maxLength: 16384, description: 'base64 RSA-OAEP-SHA256(ephemeral key) || AES-KWP(key material)' })),
  public_key: Type.Optional(Type.String({ maxLength: 16384, description: 'PEM public key, to import a verify/encrypt-only key' })),
  hash_function: HashFunction,
};

function checkHash(hash: string | undefined): void {
  if (hash !== undefined && hash.toUpperCase() !== 'SHA256') throw badRequest(`hash_function ${hash} is not supported: wrap the ephemeral key with RSA-OAEP SHA-256`, 'KH_KEY_OPTION_UNSUPPORTED');
}

/** The PEM armour removed: the keys layer takes SPKI DER. */
function spkiDer(pem: string): Uint8Array {
  const body = pem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  const der = fromBase64Strict(body);
  if (der === undefined || der.length === 0) throw badRequest('public_key is not a PEM public key', 'KH_INPUT_INVALID');
  return der;
}

export const transitImportRoutes: FastifyPluginAsyncTypebox<{ keys: KeyManager; wrapping: WrappingKey }> = async (app, { keys, wrapping }) => {
  const material = async (b: { ciphertext?: string | undefined; public_key?: string | undefined; hash_function?: string | undefined }) => {
    checkHash(b.hash_function);
    if ((b.ciphertext === undefined) === (b.public_key === undefined)) throw badRequest('exactly one of ciphertext or public_key must be given');
    if (b.public_key !== undefined) return { publicKey: spkiDer(b.public_key) };
    const wrapped = fromBase64Strict(b.ciphertext!);
    if (wrapped === undefined) throw badRequest('ciphertext is not base64', 'KH_INPUT_INVALID');
    return { secret: await wrapping.unwrap(wrapped) };
  };

  app.get(
    '/wrapping_key',
    {
      config,
      schema: {
        operationId: 'transitWrappingKey',
        tags,
        summary: 'The RSA-4096 public key (PEM) to wrap key material for import',
        response: vaultResponses(Type.Object({ public_key: Type.String() }, { additionalProperties: false })),
      },
    },
    async (request) => envelope(request, { public_key: await wrapping.publicKeyPem() }),
  );

  app.post(
    '/keys/:name/import',
    {
      config,
      schema: {
        operationId: 'transitImportKey',
        tags,
        summary: 'Create a key from wrapped material (or a public key only)',
        params: NameParams,
        body: Type.Object(
          {
            ...Material,
            type: Type.Optional(Type.String({ maxLength: 64, default: 'aes256-gcm96' })),
            exportable: Type.Optional(Type.Boolean()),
            allow_rotation: Type.Optional(Type.Boolean()),
            derived: Type.Optional(Type.Boolean()),
            context: Type.Optional(Type.String({ maxLength: 1024 })),
            allow_plaintext_backup: Type.Optional(Type.Boolean()),
            auto_rotate_period: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ maxLength: 16 })])),
          },
          { additionalProperties: false },
        ),
        response: vaultResponses(KeyInfo),
      },
    },
    async (request) => {
      const b = request.body;
      if (b.derived === true) throw badRequest('key derivation is not supported by Keyhold', 'KH_KEY_OPTION_UNSUPPORTED');
      if (b.allow_plaintext_backup === true) throw badRequest('plaintext backups are not supported by Keyhold', 'KH_KEY_OPTION_UNSUPPORTED');
      // Vault's allow_rotation lets an imported key make new versions itself; Keyhold keys always can (documented difference).
      const type = keyholdType(b.type ?? 'aes256-gcm96', undefined);
      const m = await material(b);
      try {
        return envelope(request, keyInfo(await keys.importKey({ name: request.params.name, type, exportable: b.exportable ?? false, ...m })));
      } finally {
        m.secret?.fill(0);
      }
    },
  );

  app.post(
    '/keys/:name/import_version',
    {
      config,
      schema: {
        operationId: 'transitImportKeyVersion',
        tags,
        summary: 'Add a version from wrapped material (public_key for public-only keys)',
        params: NameParams,
        body: Type.Object({ ...Material, version: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }),
        response: vaultResponses(KeyInfo),
      },
    },
    async (request) => {
      // Vault's `version` fills in the private half of an existing public-only version; Keyhold versions are immutable.
      if (request.body.version !== undefined) throw badRequest('importing into an existing version is not supported: omit version to add a new one', 'KH_KEY_OPTION_UNSUPPORTED');
      const m = await material(request.body);
      try {
        return envelope(request, keyInfo(await keys.importNewVersion(request.params.name, m)));
      } finally {
        m.secret?.fill(0);
      }
    },
  );
};
