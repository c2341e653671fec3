/** Schemas shared by every route group. */
import { Type, type TSchema } from '@sinclair/typebox';

export const ErrorBody = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.String({ description: 'Stable KH_* code, see docs/errors.md' }),
        message: Type.String(),
        requestId: Type.String(),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, $id: 'ErrorBody', description: 'Every error answer has this shape.' },
);

/** Response map for a route: its success schema(s) plus the one error body for every 4xx/5xx. */
export function responses(ok: Record<number, TSchema>): Record<string, TSchema> {
  return { ...ok, '4xx': Type.Ref(ErrorBody), '5xx': Type.Ref(ErrorBody) };
}

export const SealStatusBody = Type.Object(
  {
    type: Type.Union([Type.Literal('shamir'), Type.Literal('pkcs11'), Type.Literal('enclave')]),
    recoverySeal: Type.Boolean({ description: 'shares are recovery shares: the HSM or the enclave unseals' }),
    migration: Type.Boolean({
      description: "the configured seal differs from the stored one, or this build's measurements differ from those the enclave seal is bound to: unseal with migrate: true",
    }),
    initialized: Type.Boolean(),
    sealed: Type.Boolean(),
    threshold: Type.Integer(),
    shares: Type.Integer(),
    progress: Type.Integer(),
    version: Type.String(),
    storage: Type.String(),
    autoUnseal: Type.Optional(
      Type.Object(
        {
          state: Type.Union([Type.Literal('retrying'), Type.Literal('stopped')], {
            description: 'retrying: with backoff (e.g. the HSM is away); stopped: not retried, e.g. the HSM refused the PIN (a real HSM would lock it): fix the configuration and restart',
          }),
          code: Type.String({ description: 'The KH_ code of the last failure' }),
          message: Type.String(),
        },
        { additionalProperties: false, description: 'While sealed with an automatic seal: why it has not unsealed itself' },
      ),
    ),
  },
  { additionalProperties: false },
);

export const ShamirParams = {
  shares: Type.Integer({ minimum: 1, maximum: 255, description: 'Number of shares to issue' }),
  threshold: Type.Integer({ minimum: 1, maximum: 255, description: 'Shares required to unseal' }),
};

/** Base64 share text; length-capped so nothing large reaches the decoder. */
export const ShareString = Type.String({ minLength: 1, maxLength: 128, description: 'One unseal share (base64)' });
