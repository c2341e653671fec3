/**
 * `keyhold agent --config FILE [-- CMD ARGS...]` (src/cli/agent/agent.ts):
 * provisions an attested workload with its secrets, then runs it (or stays
 * as a daemon without CMD). Progress goes to stderr as `keyhold-agent: ...`
 * lines with paths and field names only; the exit code is the workload's.
 */
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.js';

export function registerAgent(program: Command, io: CliIo): void {
  const log = {
    info: (m: string) => io.stderr.write(`keyhold-agent: ${m}\n`),
    warn: (m: string) => io.stderr.write(`keyhold-agent: warning: ${m}\n`),
  };
  program
    .command('agent')
    .description('attestation shim: prove this workload, fetch its secrets into memory-backed files and env vars, then run CMD (or stay as a daemon)')
    .requiredOption('-c, --config <file>', 'agent configuration (YAML or JSON; docs/agent.md)')
    .argument('[command...]', 'the workload to start, after --')
    .action(async (command: string[], opts: { config: string }) => {
      // Loaded when the command runs: the agent's modules (YAML, X.509, attestation providers) are
      // most of what the CLI would otherwise import for every other command.
      const [{ loadAgentConfig }, { runAgent }, { attestationProvider, VaultSession }] = await Promise.all([
        import('../agent/agent-config.js'),
        import('../agent/agent.js'),
        import('../agent/vault-session.js'),
      ]);
      const config = loadAgentConfig(opts.config);
      if (config.vault.attestation.skip) log.warn("vault.attestation.skip is set: the vault's identity is NOT verified (development only)");
      const provider = await attestationProvider(config.attestation);
      const session = new VaultSession(config, provider);
      let run;
      try {
        run = await runAgent(config, command, { source: session, log });
      } catch (e) {
        await session.close();
        throw e;
      }
      const stopDaemon = () => run.stop();
      // A daemon ends on TERM/INT and re-fetches on HUP; a workload gets the signals forwarded (workload-process.ts).
      if (command.length === 0) {
        for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, stopDaemon);
        process.on('SIGHUP', () => run.refreshNow());
      }
      try {
        io.setExitCode(await run.done);
      } finally {
        await session.close();
      }
    });
}
