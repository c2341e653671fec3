/**
 * The composition root: builds storage, barrier, seal, auth and both Fastify
 * apps from a configuration. Nothing else wires services together. Tests use
 * it with `inject()`; server.ts adds listening and signals.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { PinoLoggerOptions } from 'fastify/types/logger.js';
import type { KeyholdConfig } from '../config/config-schema.js';
import { KeyholdError } from '../errors.js';
import type { PhysicalBackend } from '../storage/backend.js';
import { SqliteBackend } from '../storage/sqlite-backend.js';
import { Barrier } from '../barrier/barrier.js';
import { DEFAULT_ANCHOR_LAG } from '../barrier/anchors.js';
import { SealManager } from '../seal/seal-manager.js';
import { AutoUnsealer } from '../seal/auto-unseal.js';
import { hsmSealWrapper } from '../seal/seal-wrap.js';
import { HsmConnection, Pkcs11Seal, readPin } from '../seal/pkcs11/pkcs11-seal.js';
import { EnclaveSeal } from '../seal/enclave-seal.js';
import type { RootKeyWrapper } from '../seal/root-key-wrapper.js';
import { enclaveSealProblem } from '../config/load-config.js';
import type { AttestationProvider } from '../attestation/provider.js';
import { loadOrCreateSealingSecret } from '../attestation/simulated/sealing-secret.js';
import { wipe } from '../crypto/bytes.js';
import { EntropyMixer } from '../crypto/entropy-mixer.js';
import { osEntropy, setEntropySource } from '../crypto/random.js';
import { RootTokens } from '../auth/root-token.js';
import { SigningKeys } from '../auth/signing-keys.js';
import { Sessions } from '../auth/sessions.js';
import { AccessTokens } from '../auth/access-tokens.js';
import { Totp } from '../auth/totp.js';
import { Users } from '../auth/users.js';
import { Machines } from '../auth/machines.js';
import { AccessKeys } from '../auth/access-keys.js';
import { LoginThrottle } from '../auth/login-throttle.js';
import { NonceCache } from '../auth/nonce-cache.js';
import { PolicyEngine } from '../policy/policy-engine.js';
import { loginRoutes } from './v1/auth/login-routes.js';
import { attestLoginRoutes } from './v1/auth/attest-login-routes.js';
import { AttestationRateLimit } from './enclave/attestation-rate-limit.js';
import { AttestLogin } from '../auth/attest-login.js';
import { sessionRoutes } from './v1/auth/session-routes.js';
import { identityRoutes } from './v1/auth/identity-routes.js';
import { accessKeyRoutes } from './v1/auth/access-keys-routes.js';
import { policyRoutes } from './sys/policy-routes.js';
import { KeyManager } from '../keys/key-manager.js';
import { WrappingKey } from '../keys/wrapping-key.js';
import { AuditLog } from '../audit/audit-log.js';
import { FileAuditDevice } from '../audit/file-device.js';
import { AuditSigningKey } from '../audit/signing-key.js';
import { AuditHeadRecord } from '../audit/audit-head.js';
import { installAudit } from './audit-hooks.js';
import { auditRoutes } from './sys/audit-routes.js';
import { VERSION } from '../version.js';
import { ErrorBody } from './schemas.js';
import { frameworkErrorHandler, installErrorHandlers } from './error-handler.js';
import { installGates } from './hooks.js';
import { installRequestLimits } from './request-limits.js';
import { sharedSchemaCompilers } from './schema-compilers.js';
import { enforceRouteContract, type RouteSummary } from './route-contract.js';
import { Metrics } from './health/metrics.js';
import { FileAnchor } from '../storage/file-anchor.js';
import type { RollbackAnchor } from '../storage/rollback-anchor.js';
import { HsmCounterAnchor } from '../seal/pkcs11/hsm-counter-anchor.js';
import { buildHealthApp } from './health/health-app.js';
import { healthRoutes } from './health/health-routes.js';
import { sealRoutes } from './sys/seal-routes.js';
import { rekeyRoutes } from './sys/rekey-routes.js';
import { generateRootRoutes } from './sys/generate-root-routes.js';
import { rootTokenRoutes } from './sys/root-token-routes.js';
import { keyringRoutes } from './sys/keyring-routes.js';
import { toolsRoutes } from './sys/tools-routes.js';
import { keysRoutes } from './v1/keys-routes.js';
import { keyOperationsRoutes } from './v1/key-operations-routes.js';
import { secretsRoutes } from './v1/secrets/secrets-routes.js';
import { dataKeySource } from './v1/secrets/data-key-source.js';
import { SecretManager } from '../secrets/secret-manager.js';
import { channelRoutes } from './enclave/channel-routes.js';
import { ChannelKeys } from './enclave/channel-keys.js';
import { EnclaveIdentity } from './enclave/enclave-identity.js';
import { createAttestationProvider, simulatedRootDir, trustedAttestationRoots } from './enclave/attestation-provider.js';
import { RecipientVerifier } from '../keys/release/recipient.js';
import { nodeChannelSuite } from '../crypto/e2e/node-suite.js';
import { isTransitUrl, transitFrameworkError, transitPlugin, TRANSIT_PREFIX } from './compat/transit/transit-plugin.js';
import { isVssmUrl, vssmFrameworkError, vssmPlugin, VSSM_PREFIX } from './compat/vssm/vssm-plugin.js';
import { registerVssmHealth } from './compat/vssm/vssm-health.js';
import { installTransportTls, vssmHttpsOptions, watchTransportKey } from './compat/vssm/vssm-tls.js';
import { TransportKey } from '../cluster/transport-key.js';
import { isKmsRequest, kmsFrameworkError, kmsPlugin } from './compat/kms/kms-plugin.js';
import { KeyIds } from './compat/kms/key-ids.js';
import { KeyAliases } from '../keys/key-aliases.js';
import { ImportTokens } from '../keys/import-token.js';
import { acceptListMethod, refuseUnservedList } from './http-list-method.js';
import './route-config.js';

/** Default body limit; routes that accept more declare their own. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;

export interface KeyholdServices {
  readonly backend: PhysicalBackend;
  readonly barrier: Barrier;
  readonly seal: SealManager;
  readonly tokens: RootTokens;
  readonly keys: KeyManager;
  readonly secrets: SecretManager;
  readonly audit: AuditLog;
  readonly sessions: Sessions;
  readonly accessTokens: AccessTokens;
  readonly users: Users;
  readonly machines: Machines;
  /** AWS-style access keys (SigV4) mapped to users and machines; the KMS-compatible API authenticates with them. */
  readonly accessKeys: AccessKeys;
  readonly policy: PolicyEngine;
  readonly metrics: Metrics;
  /** The HSM connection when seal.pkcs11 is in use. */
  readonly hsm: HsmConnection | undefined;
  /** With an automatic seal (pkcs11, enclave): the unsealer, whose lastError says why the vault is still sealed. */
  readonly autoUnsealer: AutoUnsealer | undefined;
  readonly entropyMixer: EntropyMixer | undefined;
  /** The attestation provider and channel binding, when enclave.provider is set. */
  readonly enclave: EnclaveIdentity | undefined;
  readonly channelKeys: ChannelKeys;
}

export interface KeyholdApp {
  readonly config: KeyholdConfig;
  readonly services: KeyholdServices;
  readonly api: FastifyInstance;
  readonly health: FastifyInstance;
  /** Every API route with its declared auth (documentation routes excluded). */
  readonly routes: readonly RouteSummary[];
  /** Stops accepting requests, waits for in-flight ones, wipes keys, closes storage. */
  close(): Promise<void>;
}

/** Never log a credential, share or body: only the request line and the code of a failure. */
export function loggerOptions(level: KeyholdConfig['log']['level']): PinoLoggerOptions {
  return {
    level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-keyhold-token"]', 'req.headers["x-vault-token"]', 'req.headers.cookie', 'req.body', 'res.body'],
      censor: '[redacted]',
    },
  };
}

function tlsOptions(config: KeyholdConfig): FastifyServerOptions & { https?: object } {
  const tls = config.listeners.api.tls;
  if (tls === undefined) return {};
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new KeyholdError('KH_CONFIG_INVALID', `cannot read ${what} ${file}`, { cause: e });
    }
  };
  const clientCa = tls.clientCaFile === undefined ? undefined : read(tls.clientCaFile, 'listeners.api.tls.clientCaFile');
  return {
    https: {
      cert: read(tls.certFile, 'listeners.api.tls.certFile'),
      key: read(tls.keyFile, 'listeners.api.tls.keyFile'),
      minVersion: 'TLSv1.2',
      ...(clientCa === undefined ? {} : { ca: clientCa, requestCert: true, rejectUnauthorized: tls.requireClientCert }),
    },
  };
}

export interface BuildOptions {
  /** Use this backend instead of the configured one (tests). */
  backend?: PhysicalBackend;
  /** Fastify logger: false in tests, pino options in a server. */
  logger?: boolean | PinoLoggerOptions;
  /**
   * Use this attestation provider instead of building the configured one
   * (tests that simulate another build with other PCRs). The app closes it.
   */
  attestationProvider?: AttestationProvider;
}

/**
 * The enclave seal for `provider`: this build's measurements and the
 * simulated enclave's sealing secret (created on first use in its root folder).
 * @throws KeyholdError KH_CONFIG_INVALID when the provider has no sealing key (none, nsm).
 */
async function enclaveSeal(config: KeyholdConfig, provider: AttestationProvider | undefined): Promise<EnclaveSeal> {
  const problem = enclaveSealProblem('enclave', provider?.kind ?? 'none');
  if (problem !== undefined) throw new KeyholdError('KH_CONFIG_INVALID', `invalid configuration: ${problem}`);
  const secret = loadOrCreateSealingSecret(simulatedRootDir(config));
  try {
    return await EnclaveSeal.create({ measurements: provider!, sealingSecret: secret });
  } finally {
    wipe(secret);
  }
}

export async function buildKeyhold(config: KeyholdConfig, options: BuildOptions = {}): Promise<KeyholdApp> {
  const backend =
    options.backend ??
    new SqliteBackend({ path: config.storage.path, ...(config.storage.maxSizeBytes !== undefined ? { maxSizeBytes: config.storage.maxSizeBytes } : {}) });
  const barrier = new Barrier(backend);
  // Storage rollback (docs/storage-rollback.md): events are logged by the API logger once it exists.
  const storageLog = { error: (_m: string): void => {}, warn: (_m: string): void => {} };
  // One HSM connection serves the pkcs11 seal, entropy augmentation and HSM-backed keys; it opens on demand.
  const p11 = config.seal.pkcs11;
  const wantsHsm = p11 !== undefined;
  let hsm: HsmConnection | undefined;
  try {
    hsm = wantsHsm ? new HsmConnection(p11, readPin(p11)) : undefined;
  } catch (e) {
    await backend.close();
    throw e;
  }
  const hsmSeal = hsm !== undefined && config.seal.type === 'pkcs11' ? new Pkcs11Seal(hsm, p11!) : undefined;
  const anchors: RollbackAnchor[] = [];
  if (config.storage.rollbackAnchor?.file !== undefined) anchors.push(new FileAnchor(config.storage.rollbackAnchor.file));
  if (config.storage.rollbackAnchor?.hsmCounter === true) {
    if (hsm === undefined) {
      await backend.close();
      throw new KeyholdError('KH_CONFIG_INVALID', 'invalid configuration: storage.rollbackAnchor.hsmCounter needs seal.pkcs11');
    }
    anchors.push(new HsmCounterAnchor(() => hsm.client()));
  }
  if (anchors.length > 0) {
    const ra = config.storage.rollbackAnchor;
    barrier.setRollbackAnchors(
      anchors,
      { error: (m) => storageLog.error(m), warn: (m) => storageLog.warn(m) },
      { maxLagGenerations: ra?.maxLagGenerations ?? DEFAULT_ANCHOR_LAG.maxLagGenerations, maxLagSeconds: ra?.maxLagSeconds ?? DEFAULT_ANCHOR_LAG.maxLagSeconds },
    );
  }
  // Critical records are seal-wrapped under the HSM seal; a disabled one (migrating away) still unwraps them.
  if (hsmSeal !== undefined) barrier.setSealWrapper(hsmSealWrapper(hsmSeal), !config.seal.disabled);
  // The attestation provider comes first: the enclave seal derives its key from the measurements it reports.
  let provider: AttestationProvider | undefined;
  let bound: EnclaveSeal | undefined;
  try {
    provider = options.attestationProvider ?? (await createAttestationProvider(config));
    bound = config.seal.type === 'enclave' ? await enclaveSeal(config, provider) : undefined;
  } catch (e) {
    await provider?.close();
    await backend.close();
    throw e;
  }
  // The enclave seal wraps only the root key: there is no seal wrapping of records under it.
  const autoSeal: RootKeyWrapper | undefined = hsmSeal ?? bound;
  const seal = new SealManager({
    backend,
    barrier,
    version: VERSION,
    ...(autoSeal !== undefined && !config.seal.disabled ? { autoSeal } : {}),
    ...(autoSeal !== undefined && config.seal.disabled ? { previousSeal: autoSeal } : {}),
  });
  // Entropy augmentation is process-wide (every generation calls entropy()); close() restores the OS source.
  const mixer =
    hsm !== undefined && config.entropy.source === 'pkcs11' ? new EntropyMixer({ external: (n) => hsm.randomSync(n), required: config.entropy.required }) : undefined;
  if (mixer !== undefined) setEntropySource(mixer);
  // Connect now so the first generation finds the HSM ready; a failure here is
  // reported by the auto-unsealer or the first draw, and retried by them.
  await hsm?.client().catch(() => undefined);
  const tokens = new RootTokens(barrier);
  const keys = new KeyManager(barrier, { hsm });
  const secrets = new SecretManager(barrier, { dataKeys: dataKeySource(keys) });
  const signingKeys = new SigningKeys(barrier, config.auth.tokenTtlSeconds * 1000);
  const sessions = new Sessions(barrier, config.auth.sessionMaxAgeSeconds * 1000);
  const accessTokens = new AccessTokens(signingKeys, sessions, { issuer: config.auth.issuer, audience: config.auth.issuer, ttlSeconds: config.auth.tokenTtlSeconds });
  const users = new Users(barrier, config.auth.admin);
  const machines = new Machines(barrier, config.auth.issuer);
  // SigV4 credential scopes must name compat.kms.region; the KMS plugin authenticates its requests with this.
  const accessKeys = new AccessKeys(barrier, { users, machines, region: config.compat.kms.region });
  const totp = new Totp(barrier, config.auth.issuer);
  const policy = new PolicyEngine(barrier, config.policy.trustedKeys, { error: (m) => storageLog.error(m) });
  const auditSigningKey = new AuditSigningKey(barrier);
  let device: FileAuditDevice | undefined;
  try {
    device =
      config.audit.file === undefined
        ? undefined
        : await FileAuditDevice.open(config.audit.file, {
            checkpoints: { every: config.audit.checkpointEvery, signer: auditSigningKey },
            // The last durable checkpoint, behind the barrier: a deleted or cut log is then damage, not a first start.
            head: new AuditHeadRecord(barrier),
          });
  } catch (e) {
    bound?.dispose();
    await provider?.close();
    await backend.close();
    throw e;
  }
  const audit = new AuditLog(barrier, device, auditSigningKey);
  let enclave: EnclaveIdentity | undefined;
  let recipients: RecipientVerifier;
  let attest: AttestLogin;
  try {
    enclave = provider === undefined ? undefined : new EnclaveIdentity(provider, config.listeners.api.tls === undefined ? undefined : readFileSync(config.listeners.api.tls.certFile));
    // Workload logins trust exactly the roots key release trusts.
    const attestationRoots = trustedAttestationRoots(config, provider);
    recipients = new RecipientVerifier(attestationRoots);
    attest = new AttestLogin(barrier, config.auth.attestRoles, attestationRoots);
  } catch (e) {
    bound?.dispose();
    await provider?.close();
    await device?.close();
    await backend.close();
    throw e;
  }
  const channelKeys = new ChannelKeys(nodeChannelSuite, { rotateMs: config.enclave.channel.rotateSeconds * 1000, graceMs: config.enclave.channel.graceSeconds * 1000 });
  channelKeys.start();
  const metrics = new Metrics(seal);
  if (mixer !== undefined) metrics.watchEntropy(mixer.stats);
  if (device !== undefined) metrics.watchAudit(device);
  metrics.watchStorage(barrier, policy);
  let shuttingDown = false;
  // VSSM mode (compat.vssm.rpcCertificate): the API port's TLS is the transport key's, once bootstrap gives it.
  const vssm = config.compat.vssm;
  const transport = vssm?.rpcCertificate === undefined ? undefined : new TransportKey({ backend, barrier, seal, certificate: Buffer.from(vssm.rpcCertificate, 'base64') });
  const vssmHttps = vssm?.rpcCertificate === undefined ? undefined : await vssmHttpsOptions(vssm);

  const api = Fastify({
    logger: options.logger ?? loggerOptions(config.log.level),
    // Per-request lines are the audit log's job; the error handler logs failures.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: DEFAULT_BODY_LIMIT,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    // Only listed proxies are believed: X-Forwarded-For is read from the right, stopping at the first untrusted hop,
    // so the login throttle and per-address limits count the real client, and nobody else can pick their address.
    ...(config.listeners.api.trustProxy.length === 0 ? {} : { trustProxy: config.listeners.api.trustProxy }),
    return503OnClosing: true,
    // Router-level failures answer in the shape of the API the path belongs to.
    frameworkErrors: (error, request, reply) =>
      isTransitUrl(request.url)
        ? transitFrameworkError(error, request, reply)
        : vssm !== undefined && isVssmUrl(request.url)
          ? vssmFrameworkError(error, request, reply)
          : isKmsRequest(request)
          ? kmsFrameworkError(error, request, reply)
          : frameworkErrorHandler(error, request, reply),
    // Key names are up to 128 characters; longer parameters are refused by the router.
    routerOptions: { maxParamLength: 256 },
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
    // Each route schema is compiled once per process, not once per app build.
    schemaController: sharedSchemaCompilers,
    ...(vssmHttps === undefined ? tlsOptions(config) : { https: vssmHttps }),
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Before any other connection listener: Vault clients' LIST method, served as Vault's GET ?list=true on transit.
  if (config.listeners.api.acceptListMethod) acceptListMethod(api.server, { listAsGet: isTransitUrl });
  const routes: RouteSummary[] = [];
  enforceRouteContract(api, routes);
  api.addSchema(ErrorBody);
  installErrorHandlers(api);
  api.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id).header('cache-control', 'no-store');
  });
  refuseUnservedList(api);
  installGates(api, { seal, tokens, accessTokens, policy, nonces: new NonceCache(), isShuttingDown: () => shuttingDown, secondFactorEnrolled: (user) => totp.required(user) });
  // After the gates: token routes reach the large-body budget only once authenticated and authorised.
  const requestLimits = installRequestLimits(api, { ...config.limits, defaultBodyLimit: DEFAULT_BODY_LIMIT });
  // Answers sent while shutting down close their connection, so idle keep-alive
  // sockets do not hold the process open until keepAliveTimeout.
  api.addHook('onSend', async (_request, reply) => {
    if (shuttingDown) reply.header('connection', 'close');
  });
  metrics.instrument(api);
  storageLog.error = (m) => api.log.error(m);
  storageLog.warn = (m) => api.log.warn(m);
  installAudit(api, { audit, barrier });
  // A damaged audit log never stops the node: it is reported here, set aside at the first unsealed write (docs/configuration.md, Audit log).
  device?.onDamage((d) =>
    api.log.error(
      { code: d.code, file: d.file, setAsideAs: d.setAsideAs, lastCheckpoint: d.lastCheckpoint, reason: d.reason },
      d.setAsideAs === undefined ? 'the audit log does not verify; it will be set aside at the first audited request' : 'the audit log did not verify: set aside, a new log started',
    ),
  );

  await api.register(swagger, {
    openapi: {
      info: { title: 'Keyhold API', version: VERSION, description: 'Confidential key vault. Errors: see docs/errors.md.' },
      components: { securitySchemes: { rootToken: { type: 'http', scheme: 'bearer' } } },
      security: [{ rootToken: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    // Vault transit answers PUT wherever it answers POST (its CLI writes with PUT); the spec lists each operation once, as POST.
    transformObject: (documents) => {
      const spec = 'openapiObject' in documents ? documents.openapiObject : documents.swaggerObject;
      for (const [path, item] of Object.entries(spec.paths ?? {})) if (path.startsWith(TRANSIT_PREFIX) && item !== undefined) delete (item as { put?: unknown }).put;
      return spec;
    },
  });
  if (config.docs.enabled) {
    await api.register(async (docs) => {
      // The API description is public and useful to an operator of a sealed vault.
      docs.addHook('onRoute', (route) => {
        route.config = { ...(route.config ?? {}), auth: 'none', allowSealed: true };
        route.schema = { ...(route.schema ?? {}), hide: true };
      });
      await docs.register(swaggerUi, { routePrefix: '/docs' });
    });
  }

  await api.register(healthRoutes, { seal });
  await api.register(sealRoutes, { seal, tokens });
  await api.register(rekeyRoutes, { seal });
  await api.register(generateRootRoutes, { seal, tokens });
  await api.register(rootTokenRoutes, { tokens });
  await api.register(keyringRoutes, { seal, barrier });
  await api.register(toolsRoutes, { recipients });
  await api.register(auditRoutes, { audit });
  await api.register(loginRoutes, { users, machines, sessions, accessTokens, totp, throttle: new LoginThrottle() });
  await api.register(attestLoginRoutes, { attest, sessions, accessTokens, throttle: new LoginThrottle(), challengeRateLimit: new AttestationRateLimit(config.enclave.attestationRateLimit) });
  await api.register(sessionRoutes, { sessions, accessTokens, signingKeys, totp, rootTokens: tokens });
  await api.register(identityRoutes, { users, machines, sessions, totp, policy });
  await api.register(accessKeyRoutes, { accessKeys, users, machines, policy });
  await api.register(policyRoutes, { policy });
  // One wrapping key object: /v1 and transit import share its cached private key.
  const wrapping = new WrappingKey(barrier);
  await api.register(keysRoutes, { keys, wrapping, policy });
  await api.register(keyOperationsRoutes, { keys, limits: config.limits, recipients });
  await api.register(secretsRoutes, { secrets, recipients, policy });
  await api.register(transitPlugin, { prefix: TRANSIT_PREFIX, keys, limits: config.limits, recipients, wrapping, policy });
  // AWS KMS (JSON 1.1) at POST /: SigV4 with Keyhold access keys, the policy engine and audit per operation.
  const aliases = new KeyAliases(barrier);
  const kmsIds = new KeyIds({ region: config.compat.kms.region, accountId: config.compat.kms.accountId, aliases });
  await api.register(kmsPlugin, { keys, aliases, ids: kmsIds, wrapping, importTokens: new ImportTokens(barrier), recipients, accessKeys, policy });
  if (vssm !== undefined) {
    // VSSM's REST API, only where configured: its default policy lets any trusted client certificate use every key.
    await api.register(vssmPlugin, {
      prefix: VSSM_PREFIX,
      keys,
      barrier,
      audit,
      policy,
      rootPassword: vssm.rootPassword,
      throttle: new LoginThrottle(),
      transport,
      maxBytes: config.limits.maxPlaintextBytes,
    });
  }
  if (config.enclave.channel.enabled) {
    // Registered last: an inner request carries at most the largest body of a route it can reach, plus its JSON wrapping.
    const maxInnerBodyBytes = requestLimits.largestInnerBodyLimit();
    await api.register(channelRoutes, { suite: nodeChannelSuite, keys: channelKeys, identity: enclave, maxInnerBodyBytes, attestationRateLimit: config.enclave.attestationRateLimit });
  }

  const health = buildHealthApp({ seal, metrics });
  if (vssm !== undefined) registerVssmHealth(health, { seal, transport });
  let stopTransportWatch: (() => void) | undefined;
  if (vssm !== undefined && transport !== undefined) {
    transport.onInstalled((key) => {
      installTransportTls(api.server, vssm, key);
      api.log.info('VSSM: the API port now serves rpcCertificate');
    });
    stopTransportWatch = watchTransportKey(transport, () => seal.sealed, (e) => api.log.warn({ err: e }, 'VSSM: loading the transport key failed'));
  }

  // With an automatic seal the node unseals itself; while the HSM is unreachable it stays sealed and retries,
  // and a build the enclave seal is not bound to stays sealed until an operator re-binds or migrates.
  const unsealer =
    seal.configuredType !== 'shamir'
      ? new AutoUnsealer(seal, { info: (m) => api.log.info(m), warn: (o, m) => api.log.warn(o, m), error: (o, m) => api.log.error(o, m) })
      : undefined;
  if (unsealer !== undefined) {
    metrics.watchAutoUnseal(unsealer);
    await unsealer.start();
  }

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      shuttingDown = true;
      await unsealer?.stop();
      stopTransportWatch?.();
      await api.close();
      await health.close();
      await barrier.flushAnchors();
      await seal.seal();
      await device?.close();
      await backend.close();
      await hsm?.close();
      channelKeys.close();
      bound?.dispose();
      await provider?.close();
      if (mixer !== undefined) setEntropySource(osEntropy);
    })();
    return closed;
  };

  return { config, services: { backend, barrier, seal, tokens, keys, secrets, audit, sessions, accessTokens, users, machines, accessKeys, policy, metrics, hsm, autoUnsealer: unsealer, entropyMixer: mixer, enclave, channelKeys }, api, health, routes, close };
}
