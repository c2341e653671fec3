/**
 * The workload the agent starts (`keyhold agent -- CMD ARGS`): a child with
 * the secrets in its environment and KEYHOLD_SECRETS_DIR pointing at the
 * files, stdio inherited. The agent forwards termination signals to it, and
 * its exit is the agent's exit (after the files are wiped).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { CliError } from '../http-client.js';

/** SIGHUP too: untrapped it would end the agent without wiping the files, and the workload decides what a hang-up means. */
const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const;

/**
 * Variables the workload does not inherit from the agent: the agent's own
 * credentials and configuration are not the workload's business.
 */
function inheritedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KEYHOLD_')) env[k] = v;
  return env;
}

export class WorkloadProcess {
  readonly #child: ChildProcess;
  readonly exited: Promise<number>;
  readonly #forwarders = new Map<string, () => void>();

  constructor(command: string, args: readonly string[], secretEnv: Readonly<Record<string, string>>, secretsDir: string) {
    this.#child = spawn(command, [...args], { env: { ...inheritedEnv(), ...secretEnv, KEYHOLD_SECRETS_DIR: secretsDir }, stdio: 'inherit' });
    this.exited = new Promise((resolve, reject) => {
      this.#child.once('error', (e: NodeJS.ErrnoException) => reject(new CliError('KH_AGENT_WORKLOAD_FAILED', `cannot start ${command}: ${e.code ?? e.message}`)));
      // A workload killed by a signal exits as a shell reports it: 128 + signal number.
      this.#child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal])));
    });
    for (const sig of FORWARDED) {
      const forward = () => this.signal(sig);
      this.#forwarders.set(sig, forward);
      process.on(sig, forward);
    }
    void this.exited.finally(() => this.#unhook()).catch(() => undefined);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(sig);
  }

  #unhook(): void {
    for (const [sig, fn] of this.#forwarders) process.off(sig, fn);
    this.#forwarders.clear();
  }
}
