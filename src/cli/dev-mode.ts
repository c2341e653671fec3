/**
 * `keyhold server --dev`: one command from nothing to a ready vault.
 *
 * SQLite in a data dir (a fresh temp dir unless --data-dir, removed again
 * when the server stops), loopback only, initialised with a single share and
 * unsealed. The unseal key and root token
 * are printed and, so that the same --data-dir can be restarted, kept in
 * <data-dir>/dev-credentials.json (mode 0600). Never use this in production:
 * the file defeats the seal.
 *
 * Workload provisioning works out of the box too: the role `dev` of
 * auth.attestRoles pins this build's PCR0, so `keyhold agent` with the
 * simulated provider on the same root logs in as it and, by the default
 * policy, reads the secrets under `dev/`. A ready agent configuration is
 * written to <data-dir>/agent.yaml and the banner shows how to run it.
 */
import { closeSync, existsSync, fsyncSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { resolveConfig } from '../config/load-config.js';
import type { KeyholdConfig } from '../config/config-schema.js';
import { KeyholdError } from '../errors.js';
import { generateRootToken, isAcceptableToken, RootTokens } from '../auth/root-token.js';
import { startServer, type RunningKeyhold } from '../api/server.js';
import { measureBuild } from '../attestation/simulated/measure.js';

/** The workload role dev mode defines: a workload of this very build (docs/agent.md). */
export const DEV_WORKLOAD_ROLE = 'dev';

export interface DevOptions {
  dataDir?: string | undefined;
  rootToken?: string | undefined;
  apiPort?: number | undefined;
  healthPort?: number | undefined;
  logLevel?: KeyholdConfig['log']['level'] | undefined;
}

interface DevCredentials {
  unsealKey: string;
  rootToken: string;
}

export interface DevServer {
  server: RunningKeyhold;
  dataDir: string;
  /** The data dir is a fresh temp dir (no --data-dir): nothing in it outlives the server. */
  temporary: boolean;
  credentials: DevCredentials;
  /** Removes a temporary data dir (once the server is closed); a --data-dir is kept. */
  removeTemporaryData(): void;
}

/** Written atomically (temp file, fsync, rename) so a crash never leaves a half-written file. */
function writeCredentials(file: string, credentials: DevCredentials): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(credentials, null, 2));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

function readCredentials(file: string, dataDir: string): DevCredentials {
  if (!existsSync(file)) throw new KeyholdError('KH_CONFIG_INVALID', `${dataDir} holds a vault that was not created by --dev (no dev-credentials.json)`);
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<DevCredentials>;
    if (typeof parsed.unsealKey === 'string' && typeof parsed.rootToken === 'string') return { unsealKey: parsed.unsealKey, rootToken: parsed.rootToken };
  } catch {
    /* fall through */
  }
  throw new KeyholdError('KH_CONFIG_INVALID', `${file} is damaged; this dev vault cannot be unsealed (start with a new --data-dir)`);
}

export async function startDevServer(options: DevOptions): Promise<DevServer> {
  if (options.rootToken !== undefined && !isAcceptableToken(options.rootToken))
    throw new KeyholdError('KH_CONFIG_INVALID', '--dev-root-token must be 1-256 printable ASCII characters without spaces');
  const temporary = options.dataDir === undefined;
  const dataDir = resolve(options.dataDir ?? mkdtempSync(join(tmpdir(), 'keyhold-dev-')));
  // Only a directory this run created with mkdtemp is ever removed.
  const removeTemporaryData = () => {
    if (temporary) rmSync(dataDir, { recursive: true, force: true });
  };
  const buildPcr0 = Buffer.from(measureBuild().pcrs.get(0)!).toString('hex');
  const config = resolveConfig({
    storage: { type: 'sqlite', path: join(dataDir, 'keyhold.db') },
    listeners: {
      api: { host: '127.0.0.1', port: options.apiPort ?? 8080 },
      health: { host: '127.0.0.1', port: options.healthPort ?? 8081 },
    },
    log: { level: options.logLevel ?? 'warn' },
    audit: { file: join(dataDir, 'audit.log') },
    // A simulated enclave, so attestation, the E2E channel and key release work out of the box.
    enclave: { provider: 'simulated', simulated: { rootDir: join(dataDir, 'enclave-sim') }, trustSimulatedRoot: true },
    auth: { attestRoles: { [DEV_WORKLOAD_ROLE]: { pcrs: { 0: buildPcr0 } } } },
  });
  let server: RunningKeyhold;
  try {
    server = await startServer(config);
  } catch (e) {
    removeTemporaryData();
    throw e;
  }
  try {
    const { seal, tokens } = server.services;
    const credsFile = join(dataDir, 'dev-credentials.json');
    let credentials: DevCredentials;
    if (!(await seal.status()).initialized) {
      const rootToken = options.rootToken ?? generateRootToken();
      const { shares } = await seal.initialize({ shares: 1, threshold: 1 }, (barrier) => [RootTokens.seedOp(barrier, rootToken, { origin: 'dev' })]);
      credentials = { unsealKey: shares[0]!, rootToken };
      writeCredentials(credsFile, credentials);
    } else {
      credentials = readCredentials(credsFile, dataDir);
    }
    await seal.unseal(credentials.unsealKey);
    if (options.rootToken !== undefined && options.rootToken !== credentials.rootToken) {
      await tokens.create(options.rootToken, { origin: 'dev' });
      credentials = { ...credentials, rootToken: options.rootToken };
    }
    writeAgentExample(dataDir, server.apiUrl, buildPcr0);
    return { server, dataDir, temporary, credentials, removeTemporaryData };
  } catch (e) {
    await server.close();
    removeTemporaryData();
    throw e;
  }
}

/** <data-dir>/agent.yaml: a `keyhold agent` configuration for this dev server (role dev, secret dev/db). */
function writeAgentExample(dataDir: string, apiUrl: string, pcr0: string): void {
  const sim = join(dataDir, 'enclave-sim');
  writeFileSync(
    join(dataDir, 'agent.yaml'),
    `# keyhold agent configuration for this dev server (docs/agent.md)
vault:
  address: ${apiUrl}
  attestation:
    expectPcrs: { 0: "${pcr0}" }     # the vault must run this build
    roots: [ "${join(sim, 'root-cert.pem')}" ]     # the simulated enclave's root (dev only)
attestation:
  provider: simulated
  simulated: { rootDir: "${sim}" }
role: ${DEV_WORKLOAD_ROLE}
secrets:
  - path: dev/db
    env: { DB_PASSWORD: password }
    files: { db-password: password }
`,
    { mode: 0o600 },
  );
}

/** How this CLI was invoked, so the banner's commands paste as they are. */
export function cliInvocation(argv1 = process.argv[1] ?? 'keyhold'): string {
  return basename(argv1) === 'keyhold' ? 'keyhold' : `node ${relative(process.cwd(), argv1) || argv1}`;
}

export function devBanner(dev: DevServer, pcr0?: string): string {
  const { apiUrl, healthUrl } = dev.server;
  const token = dev.credentials.rootToken;
  const root = join(dev.dataDir, 'enclave-sim', 'root-cert.pem');
  const enclave =
    pcr0 === undefined
      ? ''
      : `
Simulated enclave (PCR0 of this build: ${pcr0.slice(0, 16)}...):

  ${cliInvocation()} measure                                   # the PCRs to expect from this build
  ${cliInvocation()} attest verify --attestation-root ${root} --expect-pcr 0=${pcr0}
  ${cliInvocation()} --e2e --attestation-root ${root} --expect-pcr 0=${pcr0} key encrypt payments 'via the E2E channel'

Provision an attested workload (role "${DEV_WORKLOAD_ROLE}" reads secrets under ${DEV_WORKLOAD_ROLE}/):

  ${cliInvocation()} secret put dev/db password=s3cret
  ${cliInvocation()} agent --config ${join(dev.dataDir, 'agent.yaml')} -- sh -c 'echo "$DB_PASSWORD" && cat "$KEYHOLD_SECRETS_DIR/db-password"'
`;
  return `
Keyhold dev server is running: initialised, unsealed, ready.
WARNING: dev mode keeps its unseal key in the data dir. Never use it for real keys.

  API:         ${apiUrl}    (OpenAPI docs: ${apiUrl}/docs)
  Health:      ${healthUrl}/health    metrics: ${healthUrl}/metrics
  Data dir:    ${dev.dataDir}    (audit log: ${dev.server.config.audit.file ?? 'off'})${dev.temporary ? `
               (temporary: removed when the server stops; keep data across restarts with --data-dir <dir>)` : ''}
  Unseal key:  ${dev.credentials.unsealKey}
  Root token:  ${token}
               (outside dev mode a root token is for the task at hand: revoke it after use with "keyhold token revoke-self")

Try it (in another terminal):

  export KEYHOLD_ADDR=${apiUrl} KEYHOLD_TOKEN=${token}
  ${cliInvocation()} key create payments
  ${cliInvocation()} key encrypt payments 'hello'      # prints keyhold:v1:...
  ${cliInvocation()} key decrypt payments keyhold:v1:...
  curl -s -H "Authorization: Bearer $KEYHOLD_TOKEN" "$KEYHOLD_ADDR/v1/keys"
${enclave}
Stop with Ctrl-C (keys are wiped from memory on exit${dev.temporary ? ', the temporary data dir is removed' : ''}).
`;
}
