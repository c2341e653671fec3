/**
 * The server configuration file (JSON or YAML), documented in docs/configuration.md.
 * Every field has a default, so an empty file is a valid loopback server.
 */
import { Type, type Static } from '@sinclair/typebox';

export const TlsSchema = Type.Object(
  {
    certFile: Type.String({ minLength: 1, description: 'PEM certificate chain served on the API port' }),
    keyFile: Type.String({ minLength: 1, description: 'PEM private key of that certificate' }),
    clientCaFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM bundle of CAs that issue client certificates (enables mTLS)' })),
    requireClientCert: Type.Boolean({ default: false, description: 'Refuse connections without a valid client certificate' }),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    storage: Type.Object(
      {
        type: Type.Literal('sqlite', { default: 'sqlite' }),
        path: Type.String({ minLength: 1, default: './data/keyhold.db' }),
        maxSizeBytes: Type.Optional(Type.Integer({ minimum: 65536 })),
      },
      { additionalProperties: false, default: {} },
    ),
    listeners: Type.Object(
      {
        api: Type.Object(
          {
            host: Type.String({ minLength: 1, default: '127.0.0.1' }),
            port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
            tls: Type.Optional(TlsSchema),
          },
          { additionalProperties: false, default: {} },
        ),
        health: Type.Object(
          {
            host: Type.String({ minLength: 1, default: '127.0.0.1' }),
            port: Type.Integer({ minimum: 0, maximum: 65535, default: 8081 }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      { level: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')], { default: 'info' }) },
      { additionalProperties: false, default: {} },
    ),
    docs: Type.Object({ enabled: Type.Boolean({ default: true }) }, { additionalProperties: false, default: {} }),
    limits: Type.Object(
      {
        maxPlaintextBytes: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, default: 4 * 1024 * 1024, description: 'Largest plaintext or message per item' }),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: Type.Object(
      {
        admin: Type.Optional(
          Type.Object(
            {
              username: Type.String({ minLength: 1, maxLength: 128, default: 'admin' }),
              passwordHash: Type.String({ minLength: 1, description: 'scrypt hash in VSSM format ($s0$...); make one with `keyhold auth hash-password`' }),
            },
            { additionalProperties: false },
          ),
        ),
        tokenTtlSeconds: Type.Integer({ minimum: 30, maximum: 3600, default: 300 }),
        sessionMaxAgeSeconds: Type.Integer({ minimum: 60, maximum: 7 * 86400, default: 28800 }),
        issuer: Type.String({ minLength: 1, default: 'keyhold' }),
      },
      { additionalProperties: false, default: {} },
    ),
    audit: Type.Object(
      {
        file: Type.Optional(Type.String({ minLength: 1, description: 'Audit log file (JSON lines, hash-chained). Without it, requests are not audited.' })),
        checkpointEvery: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000, description: 'Write an Ed25519-signed checkpoint after this many entries' }),
      },
      { additionalProperties: false, default: {} },
    ),
    policy: Type.Object(
      {
        trustedKeys: Type.Array(
          Type.Object(
            {
              kid: Type.String({ minLength: 1, maxLength: 128, description: 'Key id that bundle signatures name in their JWS header' }),
              publicKey: Type.String({ minLength: 1, description: 'Ed25519 public key: PEM (SPKI) text, or a path to a PEM file' }),
            },
            { additionalProperties: false },
          ),
          { default: [], maxItems: 16, description: 'Keys trusted to sign policy bundles; never taken from a bundle' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Grace period for in-flight requests at SIGTERM, in milliseconds. */
    shutdownTimeoutMs: Type.Integer({ minimum: 0, maximum: 600_000, default: 10_000 }),
  },
  { additionalProperties: false },
);

export type KeyholdConfig = Static<typeof ConfigSchema>;
