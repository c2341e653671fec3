/**
 * The enclave surface (docs/protocols.md §1-§2):
 * - GET  /v1/enclave             the channel key and its attestation
 * - GET  /v1/enclave/attestation a fresh document with the caller's nonce
 * - POST /v1/enclave/post        one encrypted request, one encrypted answer
 * All three are public and answer while sealed: the channel carries its own
 * credentials inside, and unsealing through it keeps shares from proxies.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { KeyholdError } from '../../errors.js';
import { NonceCache } from '../../auth/nonce-cache.js';
import {
  ChannelEnvelopeError,
  decodeHexField,
  FRESHNESS_WINDOW_MS,
  openRequest,
  parseJson,
  parseRequestEnvelope,
  sealResponse,
  type ParsedRequestEnvelope,
} from '../../crypto/e2e/protocol.js';
import type { ChannelSuite } from '../../crypto/e2e/suite.js';
import { responses } from '../schemas.js';
import type { ChannelKeys } from './channel-keys.js';
import type { EnclaveIdentity } from './enclave-identity.js';
import { dispatchInner, MAX_INNER_WRAPPING_BYTES, parseInner } from './inner-request.js';
import { checkJsonDepth } from '../json-limits.js';
import { AttestationRateLimit } from './attestation-rate-limit.js';

/** docs/protocols.md §2: the caller's nonce is hex of up to 64 bytes. */
const MAX_NONCE_BYTES = 64;

export interface ChannelRoutesOptions {
  readonly suite: ChannelSuite;
  readonly keys: ChannelKeys;
  /** Absent when no attestation provider is configured (attestation: null). */
  readonly identity: EnclaveIdentity | undefined;
  /**
   * The largest body limit of a route an inner request can reach: the
   * channel's own limit follows from it (an inner request is that body plus
   * its wrapping, encrypted, then hex), so the channel accepts no more from a
   * stranger than some real request needs.
   */
  readonly maxInnerBodyBytes: number;
  /** Per source address, for GET /v1/enclave/attestation (each answer is a fresh signature). */
  readonly attestationRateLimit: { readonly burst: number; readonly perSecond: number };
  readonly now?: () => number;
}

const ChannelKeyBody = Type.Object(
  {
    publicKey: Type.String({ description: 'X25519 channel key (hex, 32 bytes)' }),
    keyId: Type.String(),
    expiresAt: Type.String({ description: 'RFC 3339; the key is honoured for a grace period after this' }),
    attestation: Type.Union([Type.String({ description: 'base64 COSE_Sign1 whose public_key is this channel key' }), Type.Null()]),
  },
  { additionalProperties: false },
);

const Envelope = Type.Object(
  {
    ciphertext: Type.String({ description: 'hex' }),
    nonce: Type.String({ description: 'hex, 24 bytes' }),
    ephemeralPublicKey: Type.String({ description: 'hex, 32 bytes' }),
  },
  { additionalProperties: false },
);

function envelopeFailure(e: unknown): KeyholdError {
  if (e instanceof ChannelEnvelopeError) {
    return new KeyholdError(e.failure === 'decrypt' ? 'KH_E2E_DECRYPT_FAILED' : 'KH_E2E_ENVELOPE_INVALID', undefined, { cause: e });
  }
  return e instanceof KeyholdError ? e : new KeyholdError('KH_E2E_DECRYPT_FAILED', undefined, { cause: e });
}

export const channelRoutes: FastifyPluginAsyncTypebox<ChannelRoutesOptions> = async (app, opts) => {
  const { suite, keys, identity } = opts;
  const now = opts.now ?? Date.now;
  // An epk is remembered while a request carrying it could still be fresh (ts within ±60 s).
  const seen = new NonceCache({ maxLifetimeMs: 3 * FRESHNESS_WINDOW_MS });
  const freshDocuments = new AttestationRateLimit(opts.attestationRateLimit);

  app.get(
    '/v1/enclave',
    {
      config: { auth: 'none', allowSealed: true },
      schema: { operationId: 'getChannelKey', tags: ['enclave'], summary: 'The end-to-end channel key and its attestation', response: responses({ 200: ChannelKeyBody }) },
    },
    async () => {
      const key = keys.current();
      const document = identity === undefined ? null : Buffer.from(await identity.channelDocument(key)).toString('base64');
      return { publicKey: suite.toHex(key.pair.publicKey), keyId: key.keyId, expiresAt: new Date(key.expiresAt).toISOString(), attestation: document };
    },
  );

  app.get(
    '/v1/enclave/attestation',
    {
      config: { auth: 'none', allowSealed: true },
      schema: {
        operationId: 'getAttestation',
        tags: ['enclave'],
        summary: "This node's attestation document, with the caller's nonce",
        querystring: Type.Object({ nonce: Type.Optional(Type.String({ maxLength: 2 * MAX_NONCE_BYTES, description: 'hex, up to 64 bytes' })) }, { additionalProperties: false }),
        response: responses({
          200: Type.Object(
            {
              attestation: Type.String({ description: 'base64 COSE_Sign1 (docs/protocols.md §2)' }),
              publicKey: Type.String({ description: 'the channel key bound in public_key (hex)' }),
              keyId: Type.String(),
              tlsCertificateSha256: Type.Union([Type.String({ description: 'hex, as bound in user_data' }), Type.Null()]),
            },
            { additionalProperties: false },
          ),
        }),
      },
    },
    async (request) => {
      if (identity === undefined) throw new KeyholdError('KH_ATTESTATION_UNAVAILABLE');
      freshDocuments.take(request.ip);
      let nonce: Uint8Array | undefined;
      if (request.query.nonce !== undefined) {
        try {
          nonce = decodeHexField(suite, request.query.nonce, 'nonce', { min: 1 });
        } catch {
          throw new KeyholdError('KH_INPUT_INVALID', 'nonce must be hex of 1 to 64 bytes');
        }
      }
      const key = keys.current();
      const document = await identity.attest(key, nonce);
      const hash = identity.tlsCertificateHash;
      return {
        attestation: Buffer.from(document).toString('base64'),
        publicKey: suite.toHex(key.pair.publicKey),
        keyId: key.keyId,
        tlsCertificateSha256: hash === undefined ? null : suite.toHex(hash),
      };
    },
  );

  app.post(
    '/v1/enclave/post',
    {
      config: { auth: 'none', allowSealed: true },
      // Hex doubles the ciphertext (the inner request and a 16-byte tag); a little room for the other fields.
      bodyLimit: 2 * (opts.maxInnerBodyBytes + MAX_INNER_WRAPPING_BYTES + 16) + 4096,
      schema: {
        operationId: 'channelPost',
        tags: ['enclave'],
        summary: 'Send one request through the end-to-end encrypted channel',
        body: Type.Object(
          {
            // No maxLength: bodyLimit bounds it, and ajv would walk every character of a large body to count it.
            ciphertext: Type.String(),
            // Lengths are checked by parseRequestEnvelope, so every malformed envelope gets the same code.
            nonce: Type.String(),
            ephemeralPublicKey: Type.String(),
            keyId: Type.Optional(Type.String()),
          },
          { additionalProperties: false },
        ),
        response: responses({ 200: Envelope }),
      },
    },
    async (request) => {
      let parsed: ParsedRequestEnvelope;
      let plaintext: Uint8Array;
      try {
        parsed = parseRequestEnvelope(suite, request.body);
      } catch (e) {
        throw envelopeFailure(e);
      }
      const key = keys.find(parsed.keyId);
      if (key === undefined) throw new KeyholdError('KH_E2E_KEY_UNKNOWN');
      try {
        plaintext = openRequest(suite, key.pair, parsed);
      } catch (e) {
        throw envelopeFailure(e);
      }
      let inner;
      try {
        // The same depth limit as a direct body, before the plaintext is parsed.
        checkJsonDepth(plaintext);
        inner = parseInner(parseJson(plaintext));
      } catch (e) {
        // Only a holder of the channel key could have produced this plaintext; it is still just bad input.
        throw e instanceof KeyholdError ? e : new KeyholdError('KH_E2E_INNER_INVALID', undefined, { cause: e });
      } finally {
        // The plaintext may hold a bearer token; do not leave it in the heap longer than needed.
        plaintext.fill(0);
      }
      const t = now();
      if (Math.abs(t - inner.ts) > FRESHNESS_WINDOW_MS) throw new KeyholdError('KH_E2E_STALE');
      // Decryption succeeded, so only a holder of a real request can record an epk.
      if (seen.seen(suite.toHex(parsed.ephemeralPublicKey), inner.ts + FRESHNESS_WINDOW_MS, t)) throw new KeyholdError('KH_E2E_REPLAYED');
      const answer = await dispatchInner(app, request, inner);
      return sealResponse(suite, parsed.ephemeralPublicKey, answer);
    },
  );
};
