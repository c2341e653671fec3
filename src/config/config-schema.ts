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

export const Pkcs11Schema = Type.Object(
  {
    module: Type.String({ minLength: 1, description: 'Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so' }),
    slot: Type.Optional(Type.Integer({ minimum: 0, description: 'Slot index (or use tokenLabel)' })),
    tokenLabel: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: 'Token label (or use slot)' })),
    pinEnv: Type.Optional(Type.String({ minLength: 1, description: 'Environment variable holding the user PIN' })),
    pinFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the user PIN (never put the PIN in this file)' })),
    keyLabel: Type.String({ minLength: 1, maxLength: 64, default: 'keyhold-root-wrap', description: 'Label of the wrapping key on the token' }),
    mechanism: Type.Union([Type.Literal('aes-gcm'), Type.Literal('rsa-oaep')], { default: 'aes-gcm', description: 'aes-gcm (CKM_AES_GCM) or rsa-oaep (CKM_RSA_PKCS_OAEP, SHA-256) for HSMs without AES-GCM' }),
    generateKey: Type.Boolean({ default: false, description: 'Create the wrapping key (sensitive, non-extractable, token object) when it is missing' }),
    oaepHash: Type.Union([Type.Literal('sha256'), Type.Literal('sha1')], { default: 'sha256', description: 'Hash of RSA-OAEP (sha1 for HSMs that offer no other, e.g. SoftHSM2 2.6; OAEP stays secure with SHA-1)' }),
  },
  { additionalProperties: false },
);

/** One workload role (docs/secrets.md "Workload login"). */
export const AttestRoleSchema = Type.Object(
  {
    // Optional fields with documented defaults (applied by auth/attest-login.ts): TypeBox does not fill defaults inside a Record.
    pcrs: Type.Optional(
      Type.Record(Type.String({ pattern: '^(?:[0-9]|1[0-5])$' }), Type.String({ pattern: '^(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{96}|[0-9a-fA-F]{128})$' }), {
        description: 'PCR index (0-15) -> required value (hex; 48 bytes for Nitro). A role needs pcrs or moduleIdPrefix (or allowAnyMeasurement)',
      }),
    ),
    moduleIdPrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "The document's module_id must start with this" })),
    allowAnyMeasurement: Type.Optional(
      Type.Boolean({ description: 'A role without pcrs or moduleIdPrefix accepts ANY enclave of any AWS account; refused unless this is true (tests, trials)' }),
    ),
    allowDebug: Type.Optional(Type.Boolean({ description: 'Accept debug-mode enclaves (PCR0-2 all zero). Default false' })),
    groups: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }), { maxItems: 32, description: 'Groups of the Workload principal. Default none' })),
    tokenTtlSeconds: Type.Optional(Type.Integer({ minimum: 30, maximum: 3600, description: 'Lifetime of the access tokens of this role. Default 900' })),
  },
  { additionalProperties: false },
);
export type AttestRoleConfig = Static<typeof AttestRoleSchema>;

export const ConfigSchema = Type.Object(
  {
    storage: Type.Object(
      {
        type: Type.Literal('sqlite', { default: 'sqlite' }),
        path: Type.String({ minLength: 1, default: './data/keyhold.db' }),
        maxSizeBytes: Type.Optional(Type.Integer({ minimum: 65536 })),
        rollbackAnchor: Type.Optional(
          Type.Object(
            {
              file: Type.Optional(
                Type.String({ minLength: 1, description: 'A file on another mount than the database that records the latest storage generation, so a rollback of the whole database is detected (docs/storage-rollback.md)' }),
              ),
              hsmCounter: Type.Optional(
                Type.Boolean({ description: "Keep the latest storage generation in a data object on the pkcs11 seal's token as well (needs seal.pkcs11)" }),
              ),
              maxLagGenerations: Type.Optional(
                Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Writes are refused (KH_STORAGE_ANCHOR_UNAVAILABLE) while an anchor is more than this many generations behind the database (default 1000)' }),
              ),
              maxLagSeconds: Type.Optional(
                Type.Integer({ minimum: 1, maximum: 86_400, description: 'Writes are refused (KH_STORAGE_ANCHOR_UNAVAILABLE) while an anchor has been behind the database for longer than this (default 30)' }),
              ),
            },
            { additionalProperties: false },
          ),
        ),
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
            trustProxy: Type.Array(Type.String({ minLength: 2, maxLength: 64, pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$' }), {
              maxItems: 64,
              default: [],
              description:
                'Reverse proxies (addresses or CIDRs) whose X-Forwarded-For is believed, read from the right: the client address is the first one not in this list. Default none: the TCP peer is the client (docs/configuration.md)',
            }),
            acceptListMethod: Type.Boolean({
              default: true,
              description: "Accept Vault's HTTP LIST method (Vault CLI, hvac, node-vault): each connection is read through a small HTTP/1.1 framing view that turns LIST into GET ?list=true (docs/compat.md)",
            }),
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
        publicRequests: Type.Object(
          {
            burst: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 600, description: 'Requests to unauthenticated routes one source address (IPv6: one /64) may make at once' }),
            perSecond: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 200, description: 'Then this many per second' }),
          },
          { additionalProperties: false, default: {} },
        ),
        largeBodyBudgetBytes: Type.Integer({
          minimum: 1024 * 1024,
          maximum: 4 * 1024 * 1024 * 1024,
          default: 64 * 1024 * 1024,
          description: 'Bodies over 64 KiB being received at once, in bytes declared (a chunked body counts as its route limit); beyond it 503 KH_BUSY with Retry-After',
        }),
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
        attestRoles: Type.Record(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$' }), AttestRoleSchema, {
          default: {},
          maxProperties: 256,
          description: 'Workload login (POST /v1/auth/attest/login): role name -> the measurements an attested workload must present, and the groups it gets',
        }),
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
    seal: Type.Object(
      {
        type: Type.Union([Type.Literal('shamir'), Type.Literal('pkcs11'), Type.Literal('enclave')], {
          default: 'shamir',
          description:
            'shamir: unseal shares; pkcs11: the root key is wrapped by an HSM key and the node unseals itself; enclave: the root key is wrapped by a key only this build in this (simulated) enclave can derive, and the node unseals itself (needs enclave.provider: simulated)',
        }),
        disabled: Type.Boolean({ default: false, description: 'With type pkcs11 or enclave: this seal is being migrated away from (to Shamir)' }),
        pkcs11: Type.Optional(Pkcs11Schema),
      },
      { additionalProperties: false, default: {} },
    ),
    entropy: Type.Object(
      {
        source: Type.Union([Type.Literal('os'), Type.Literal('pkcs11')], { default: 'os', description: 'pkcs11: mix the HSM RNG (seal.pkcs11) into every generation' }),
        mode: Type.Literal('augmentation', { default: 'augmentation' }),
        required: Type.Boolean({ default: true, description: 'Fail generation closed when the HSM cannot supply bytes' }),
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
    enclave: Type.Object(
      {
        provider: Type.Union([Type.Literal('none'), Type.Literal('simulated'), Type.Literal('nsm')], {
          default: 'none',
          description: 'Attestation provider: simulated (dev/test, Nitro-format documents under a local root) or nsm (inside an AWS Nitro enclave)',
        }),
        simulated: Type.Object(
          { rootDir: Type.Optional(Type.String({ minLength: 1, description: 'Folder of the simulated root CA (created on first start); default: <storage dir>/enclave-sim' })) },
          { additionalProperties: false, default: {} },
        ),
        nsm: Type.Object(
          {
            helperPath: Type.String({ minLength: 1, default: '/usr/local/bin/keyhold-nsm', description: 'The NSM helper executable built into the enclave image (deploy/nitro)' }),
            timeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000 }),
          },
          { additionalProperties: false, default: {} },
        ),
        channel: Type.Object(
          {
            enabled: Type.Boolean({ default: true, description: 'Serve the end-to-end encrypted channel (GET /v1/enclave, POST /v1/enclave/post)' }),
            rotateSeconds: Type.Integer({ minimum: 60, maximum: 7 * 86400, default: 3600, description: 'Lifetime of a channel key' }),
            graceSeconds: Type.Integer({ minimum: 0, maximum: 86400, default: 300, description: 'How long the previous channel key is still honoured after rotation' }),
          },
          { additionalProperties: false, default: {} },
        ),
        trustedRoots: Type.Array(Type.String({ minLength: 1 }), {
          default: [],
          maxItems: 16,
          description: 'Extra attestation roots (PEM files) trusted for recipient documents, besides the AWS Nitro root',
        }),
        attestationRateLimit: Type.Object(
          {
            burst: Type.Integer({ minimum: 1, maximum: 10_000, default: 100, description: 'Fresh attestation documents one address may get at once' }),
            perSecond: Type.Integer({ minimum: 1, maximum: 10_000, default: 50, description: 'Then this many per second' }),
          },
          { additionalProperties: false, default: {} },
        ),
        trustSimulatedRoot: Type.Boolean({ default: false, description: "Trust this node's own simulated root for recipient documents (dev and tests only)" }),
      },
      { additionalProperties: false, default: {} },
    ),
    compat: Type.Object(
      {
        kms: Type.Object(
          {
            region: Type.String({
              minLength: 1,
              maxLength: 32,
              pattern: '^[a-z0-9]+(-[a-z0-9]+)*$',
              default: 'us-east-1',
              description: 'AWS region this node answers as: SigV4 credential scopes must name it, and KMS key ARNs carry it',
            }),
            accountId: Type.String({ pattern: '^[0-9]{12}$', default: '111122223333', description: 'The 12-digit AWS account id shown in KMS key ARNs' }),
          },
          { additionalProperties: false, default: {} },
        ),
        vssm: Type.Optional(
          Type.Object(
            {
              rootPassword: Type.Optional(
                Type.String({ minLength: 1, description: "scrypt hash ($s0$...) of the VSSM administrator password, VSSM's rootPassword; without it the admin endpoints refuse" }),
              ),
              rpcCertificate: Type.Optional(
                Type.String({
                  minLength: 1,
                  description: "base64 DER X.509 certificate (RSA) of this node, VSSM's rpcCertificate: the API port serves it once bootstrap gives its private key (until then a throwaway self-signed one); backups are wrapped to it",
                }),
              ),
              clientTrustStore: Type.Array(Type.String({ minLength: 1 }), {
                default: [],
                maxItems: 64,
                description: 'base64 DER CA certificates whose client certificates may use the VSSM service endpoints (with rpcCertificate; otherwise listeners.api.tls.clientCaFile)',
              }),
            },
            { additionalProperties: false, description: 'The VSSM REST API under /REST/v1/ (docs/compat.md#vssm); `keyhold server --vssm-config` fills it from a VSSM config.json' },
          ),
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
