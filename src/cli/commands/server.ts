/** `keyhold server`: run a node from a config file, or `--dev` for a ready local vault. */
import type { Command } from 'commander';
import type { KeyholdConfig } from '../../config/config-schema.js';
import { parsePort } from '../parse.js';
import { nextStep } from '../next-step.js';
import type { CliIo } from '../cli-io.js';

interface ServerFlags {
  config?: string;
  /** A file, or true: look for VSSM's config.json where VSSM does. */
  vssmConfig?: string | true;
  dev?: boolean;
  devRootToken?: string;
  dataDir?: string;
  apiPort?: number;
  healthPort?: number;
  logLevel?: KeyholdConfig['log']['level'];
}

export function registerServer(program: Command, io: CliIo): void {
  program
    .command('server')
    .description('run a Keyhold node (sealed until unsealed), or --dev for an initialised, unsealed local vault')
    .option('-c, --config <file>', 'configuration file (JSON or YAML; see docs/configuration.md)')
    .option('--vssm-config [file]', "serve the VSSM API from a VSSM config.json as is (default: ./config.json, else /etc/vssm/config.json); without --config, on VSSM's ports 8080/8081 on all interfaces, data in ./data")
    .option('--dev', 'dev mode: SQLite in a data dir, loopback only, initialised and unsealed, prints a root token')
    .option('--dev-root-token <token>', 'dev mode: use this root token (for scripts)')
    .option('--data-dir <dir>', 'dev mode: keep data here (default: a fresh temp dir)')
    .option('--api-port <port>', 'override the API port', parsePort)
    .option('--health-port <port>', 'override the health/metrics port', parsePort)
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .action(async (flags: ServerFlags) => {
      // Loaded here, not at the top: client commands (key, operator) start without the server code.
      const { handleSignals, startServer } = await import('../../api/server.js');
      const { loadConfigFile, resolveConfig } = await import('../../config/load-config.js');
      const { devBanner, startDevServer } = await import('../dev-mode.js');
      if (flags.dev === true) {
        const dev = await startDevServer({ dataDir: flags.dataDir, rootToken: flags.devRootToken, apiPort: flags.apiPort, healthPort: flags.healthPort, logLevel: flags.logLevel });
        // Signals first: a supervisor may send SIGTERM as soon as it sees the banner.
        // A temp data dir (no --data-dir) goes with the server: its credentials file defeats the seal.
        handleSignals(dev.server, dev.server.config.shutdownTimeoutMs, (code) => {
          dev.removeTemporaryData();
          process.exit(code);
        });
        const pcrs = await dev.server.services.enclave?.provider.pcrs();
        const pcr0 = pcrs?.get(0);
        io.stdout.write(devBanner(dev, pcr0 === undefined ? undefined : Buffer.from(pcr0).toString('hex')));
        return;
      }
      const env = { ...io.env };
      if (flags.apiPort !== undefined) env.KEYHOLD_API_PORT = String(flags.apiPort);
      if (flags.healthPort !== undefined) env.KEYHOLD_HEALTH_PORT = String(flags.healthPort);
      if (flags.logLevel !== undefined) env.KEYHOLD_LOG_LEVEL = flags.logLevel;
      let config = flags.config !== undefined ? loadConfigFile(flags.config, env) : resolveConfig({}, env);
      if (flags.vssmConfig !== undefined) {
        const { findVssmConfig, readVssmConfig, vssmServerDefaults } = await import('../../config/vssm-config.js');
        const vssm = readVssmConfig(flags.vssmConfig === true ? findVssmConfig() : flags.vssmConfig);
        config = flags.config !== undefined ? resolveConfig({ ...config, compat: { ...config.compat, vssm } }, env) : resolveConfig(vssmServerDefaults(vssm), env);
      }
      const server = await startServer(config);
      handleSignals(server, config.shutdownTimeoutMs);
      const status = await server.services.seal.status();
      server.api.log.info({ api: server.apiUrl, health: server.healthUrl, initialized: status.initialized, sealed: status.sealed }, 'keyhold listening');
      // After the automatic seals' first unseal attempt (buildKeyhold awaits it): a node that unsealed itself is not told to unseal.
      const next = nextStep(status, { vssmBootstrap: config.compat.vssm?.rpcCertificate !== undefined && status.sealed });
      io.stdout.write(`Keyhold ${status.version} listening on ${server.apiUrl} (health ${server.healthUrl}); ${next}\n`);
    });
}
