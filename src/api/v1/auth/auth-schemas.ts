/** Schemas shared by the /v1/auth routes. */
import { Type } from '@sinclair/typebox';

export const TokenBody = Type.Object(
  {
    accessToken: Type.String(),
    tokenType: Type.Literal('Bearer'),
    expiresIn: Type.Integer(),
    sessionId: Type.String(),
    boundTo: Type.Optional(Type.Object({ jkt: Type.Optional(Type.String()), 'x5t#S256': Type.Optional(Type.String()) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

/** A public JWK (Ed25519 or P-256); private members are refused by the schema. */
export const PublicJwk = Type.Object(
  {
    kty: Type.Union([Type.Literal('OKP'), Type.Literal('EC')]),
    crv: Type.Union([Type.Literal('Ed25519'), Type.Literal('P-256')]),
    x: Type.String({ maxLength: 64 }),
    y: Type.Optional(Type.String({ maxLength: 64 })),
    kid: Type.Optional(Type.String({ maxLength: 128 })),
    alg: Type.Optional(Type.String({ maxLength: 32 })),
    use: Type.Optional(Type.String({ maxLength: 16 })),
  },
  { additionalProperties: false },
);

export const IdentityName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$' });
export const GroupList = Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }), { maxItems: 32, default: [] });
export const NameParams = Type.Object({ name: IdentityName }, { additionalProperties: false });
