/**
 * Vault transit sign, verify and hmac, each with the hash in the path or the
 * body, over the keys layer's signMessage/verifyMessage/computeHmac/verifyHmac.
 * Vault's defaults are applied explicitly (SHA2-256, RSA-PSS, ASN.1 ECDSA), so
 * a Vault client gets what it would get from Vault. Signatures and HMACs are
 * vault:v<N>:<base64> (base64url for marshaling_algorithm jws, as Vault).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeyManager } from '../../../keys/key-manager.js';
import type { ManagedKey } from '../../../keys/managed-key.js';
import { signMessage, verifyMessage, type SignRequestOptions } from '../../../keys/operations/sign.js';
import { computeHmac, verifyHmac } from '../../../keys/operations/hmac.js';
import { hsmSign, hsmVerify } from '../../../keys/hsm/sign.js';
import type { HashName } from '../../../crypto/signature/signature-scheme.js';
import { runItems } from './batch.js';
import { base64Field, batchBodyLimit, batchBody, batchData, config, refuseDerivation, tags, type TransitLimits } from './crypto-routes.js';
import { fromVault, toVault } from './vault-ciphertext.js';
import { badRequest, vaultResponses } from './vault-shape.js';

/** Vault hash_algorithm names Keyhold signs and MACs with. */
const VAULT_HASHES: Readonly<Record<string, HashName>> = { sha1: 'sha1', 'sha2-256': 'sha256', 'sha2-384': 'sha384', 'sha2-512': 'sha512' };
const VAULT_NAME: Readonly<Record<HashName, string>> = { sha1: 'sha1', sha256: 'sha2-256', sha384: 'sha2-384', sha512: 'sha2-512' };

function hashOf(name: string | undefined): HashName | undefined {
  if (name === undefined) return undefined;
  const h = VAULT_HASHES[name];
  if (h === undefined) throw badRequest(`unsupported hash algorithm ${name}: Keyhold signs with sha1 (legacy keys), sha2-256, sha2-384 or sha2-512`, 'KH_KEY_OPTION_UNSUPPORTED');
  return h;
}

interface SignFields {
  hash_algorithm?: string | undefined;
  prehashed?: boolean | undefined;
  signature_algorithm?: 'pss' | 'pkcs1v15' | undefined;
  marshaling_algorithm?: 'asn1' | 'jws' | undefined;
  salt_length?: string | undefined;
  context?: string | undefined;
}

/** Vault's sign options for this key, in the keys layer's terms. */
function signOptions(key: ManagedKey, item: SignFields, pathHash: string | undefined): SignRequestOptions {
  const type = key.record.type;
  const rsa = type.includes('rsa-');
  const ecdsa = type.includes('ecdsa-');
  if (item.salt_length !== undefined && item.salt_length !== 'auto') throw badRequest('salt_length other than auto is not supported', 'KH_KEY_OPTION_UNSUPPORTED');
  if (!rsa && !ecdsa) {
    // Ed25519 (and ML-DSA) sign the message itself: Vault ignores the hash for them.
    if (item.prehashed === true) throw badRequest(`prehashed input is not supported for ${type} keys`, 'KH_KEY_OPTION_UNSUPPORTED');
    return {};
  }
  const options: SignRequestOptions = { hash: hashOf(pathHash ?? item.hash_algorithm ?? 'sha2-256'), prehashed: item.prehashed ?? false };
  if (rsa) options.signatureAlgorithm = item.signature_algorithm ?? 'pss';
  if (ecdsa) options.signatureFormat = item.marshaling_algorithm === 'jws' ? 'p1363' : 'der';
  return options;
}

const jws = (item: SignFields) => item.marshaling_algorithm === 'jws';
/** vault:vN:<base64> with the payload in base64url, as Vault's JWS marshaling. */
const toUrl = (s: string) => s.replace(/^(vault:v[0-9]+:)(.*)$/, (_m, p: string, b: string) => p + Buffer.from(b, 'base64').toString('base64url'));
const fromUrl = (s: string) => s.replace(/^(vault:v[0-9]+:)(.*)$/, (_m, p: string, b: string) => p + Buffer.from(b, 'base64url').toString('base64'));

export const transitSignRoutes: FastifyPluginAsyncTypebox<{ keys: KeyManager; limits: TransitLimits }> = async (app, { keys, limits }) => {
  const max = limits.maxPlaintextBytes;
  const Input = Type.Optional(Type.String({ maxLength: Math.ceil(max / 3) * 4, description: 'base64' }));
  const SignItem = {
    input: Input,
    key_version: Type.Optional(Type.Integer({ minimum: 0 })),
    hash_algorithm: Type.Optional(Type.String({ maxLength: 16 })),
    context: Type.Optional(Type.String({ maxLength: 4096 })),
    prehashed: Type.Optional(Type.Boolean()),
    signature_algorithm: Type.Optional(Type.Union([Type.Literal('pss'), Type.Literal('pkcs1v15')])),
    marshaling_algorithm: Type.Optional(Type.Union([Type.Literal('asn1'), Type.Literal('jws')])),
    salt_length: Type.Optional(Type.String({ maxLength: 8 })),
  };
  const { key_version: _kv, ...VerifyBase } = SignItem;
  const VerifyItem = { ...VerifyBase, signature: Type.Optional(Type.String({ maxLength: 16384 })), hmac: Type.Optional(Type.String({ maxLength: 1024 })) };
  const HmacItem = { input: Input, key_version: Type.Optional(Type.Integer({ minimum: 0 })), algorithm: Type.Optional(Type.String({ maxLength: 16 })) };
  const Name = Type.String({ minLength: 1, maxLength: 128 });
  const HashParam = Type.String({ maxLength: 16 });
  const params = (withHash: boolean) => Type.Object({ name: Name, ...(withHash && { hash: HashParam }) }, { additionalProperties: false });
  const inHsm = (key: ManagedKey) => key.spec.kind === 'hsm';
  const input = (value: string | undefined) => {
    if (value === undefined) throw badRequest('missing input', 'KH_BAD_REQUEST');
    return base64Field('input', value, max);
  };
  /** HMAC keys have a fixed hash in Keyhold: a different one is refused rather than silently replaced. */
  const checkHmacHash = (key: ManagedKey, name: string | undefined) => {
    if (name === undefined || key.spec.kind !== 'hmac') return;
    if (hashOf(name) !== key.spec.hash) throw badRequest(`this key computes HMAC-${VAULT_NAME[key.spec.hash]}: Keyhold HMAC keys have a fixed hash (key_size at creation)`, 'KH_KEY_OPTION_UNSUPPORTED');
  };

  type Req = FastifyRequest<{ Params: { name: string; hash?: string }; Body: Record<string, unknown> }>;

  for (const withHash of [false, true]) {
    const suffix = withHash ? '/:hash' : '';
    app.post(
      `/sign/:name${suffix}`,
      {
        config,
        bodyLimit: batchBodyLimit(max),
        schema: {
          operationId: withHash ? 'transitSignWithHash' : 'transitSign',
          tags,
          summary: 'Sign base64 input (or batch_input); signature vault:v<N>:...',
          params: params(withHash),
          body: batchBody(SignItem),
          response: vaultResponses(batchData({ signature: Type.Optional(Type.String()), key_version: Type.Optional(Type.Integer()) })),
        },
      },
      async (request, reply) => {
        const { name, hash } = (request as Req).params;
        const key = await keys.get(name);
        return runItems(request, reply, request.body, async (item) => {
          refuseDerivation(item);
          const options = { ...signOptions(key, item, hash), ...(item.key_version !== undefined && item.key_version > 0 && { version: item.key_version }) };
          const bytes = input(item.input);
          const r = inHsm(key) ? await hsmSign(keys.hsm, key, bytes, options) : signMessage(key, bytes, options);
          const signature = toVault(r.signature);
          return { signature: jws(item) ? toUrl(signature) : signature, key_version: r.version };
        }, () => key.checkUsable());
      },
    );

    app.post(
      `/verify/:name${suffix}`,
      {
        config,
        bodyLimit: batchBodyLimit(max),
        schema: {
          operationId: withHash ? 'transitVerifyWithHash' : 'transitVerify',
          tags,
          summary: 'Verify a vault:v<N>: signature, or an hmac, over base64 input (or batch_input)',
          params: params(withHash),
          body: batchBody(VerifyItem),
          response: vaultResponses(batchData({ valid: Type.Optional(Type.Boolean()) })),
        },
      },
      async (request, reply) => {
        const { name, hash } = (request as Req).params;
        const key = await keys.get(name);
        return runItems(request, reply, request.body, (item) => {
          refuseDerivation(item);
          const bytes = input(item.input);
          if (item.hmac !== undefined) {
            if (item.signature !== undefined) throw badRequest('provide one of signature or hmac, not both', 'KH_BAD_REQUEST');
            checkHmacHash(key, hash ?? item.hash_algorithm);
            return { valid: verifyHmac(key, bytes, fromVault(item.hmac, 'hmac')).valid };
          }
          if (item.signature === undefined) throw badRequest('missing signature or hmac to verify', 'KH_BAD_REQUEST');
          const signature = fromVault(jws(item) ? fromUrl(item.signature) : item.signature, 'signature');
          const options = signOptions(key, item, hash);
          return { valid: (inHsm(key) ? hsmVerify(key, bytes, signature, options) : verifyMessage(key, bytes, signature, options)).valid };
        }, () => key.checkUsable());
      },
    );

    app.post(
      `/hmac/:name${suffix}`,
      {
        config,
        bodyLimit: batchBodyLimit(max),
        schema: {
          operationId: withHash ? 'transitHmacWithHash' : 'transitHmac',
          tags,
          summary: 'HMAC of base64 input (or batch_input) with an hmac key; vault:v<N>:<base64>',
          params: params(withHash),
          body: batchBody(HmacItem),
          response: vaultResponses(batchData({ hmac: Type.Optional(Type.String()), key_version: Type.Optional(Type.Integer()) })),
        },
      },
      async (request: FastifyRequest, reply: FastifyReply) => {
        const { name, hash } = (request as Req).params;
        const body = request.body as Parameters<typeof runItems<{ input?: string; key_version?: number; algorithm?: string; reference?: string }>>[2];
        const key = await keys.get(name);
        return runItems(request, reply, body, (item) => {
          checkHmacHash(key, hash ?? item.algorithm);
          const r = computeHmac(key, input(item.input), item.key_version !== undefined && item.key_version > 0 ? item.key_version : undefined);
          return { hmac: toVault(r.hmac), key_version: r.version };
        }, () => key.checkUsable());
      },
    );
  }
};
