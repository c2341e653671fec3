/**
 * The `keyhold` command line as a function of its IO (cli-io.ts): main.ts
 * runs it with the real process, tests run a fresh program per call in
 * their own process. Errors print as "Error <code>: message" with a
 * non-zero exit, never a stack trace (run-program.ts).
 */
import { Command, Option } from 'commander';
import { VERSION } from '../version.js';
import type { CliIo } from './cli-io.js';
import { newClientSession } from './http-client.js';
import { runProgram } from './run-program.js';
import { registerOperator, type GlobalFlags } from './commands/operator.js';
import { registerKey } from './commands/key.js';
import { registerSecret } from './commands/secret.js';
import { registerServer } from './commands/server.js';
import { registerAudit } from './commands/audit.js';
import { registerAuth } from './commands/auth.js';
import { registerToken } from './commands/token.js';
import { registerPolicy } from './commands/policy.js';
import { collectPcr, registerAttest } from './commands/attest.js';
import { registerAgent } from './commands/agent.js';

/** A fresh program (commander keeps parsed options on it, so one per run). */
export function buildProgram(io: CliIo): Command {
  const program = new Command('keyhold')
    // Before any subcommand is added: commander copies these settings to each one as it is created.
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      // commander's own rule (80 columns unless a terminal says otherwise), on this run's streams.
      getOutHelpWidth: () => (io.stdout.isTTY === true ? io.stdout.columns : undefined) ?? 80,
      getErrHelpWidth: () => (io.stderr.isTTY === true ? io.stderr.columns : undefined) ?? 80,
    })
    .version(VERSION)
    .description('Keyhold: a confidential key vault')
    // Env values are read in globals(), not given as commander defaults, so --help never prints a token.
    .option('-a, --address <url>', 'Keyhold API address (env KEYHOLD_ADDR, default http://127.0.0.1:8080)')
    .option('-t, --token <token>', 'root or access token (env KEYHOLD_TOKEN)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['human', 'json']).default('human'))
    .option('--ca-cert <file>', 'CA bundle to verify the server certificate (env KEYHOLD_CACERT)')
    .option('--client-cert <file>', 'client certificate for mTLS (env KEYHOLD_CLIENT_CERT)')
    .option('--client-key <file>', 'client key for mTLS (env KEYHOLD_CLIENT_KEY)')
    .option('--signing-key <file>', 'PEM private key (Ed25519 or P-256) that signs every request, for key-bound tokens (env KEYHOLD_SIGNING_KEY)')
    .option('--e2e', "send every request through the end-to-end encrypted channel, after verifying the node's attestation (needs --expect-pcr)")
    .option('--expect-pcr <index=hex>', 'with --e2e and attest verify: PCR value the node must attest (repeatable)', collectPcr)
    .option('--attestation-root <pem>', "with --e2e and attest verify: also trust this attestation root (a dev server's enclave-sim/root-cert.pem); repeatable", (v: string, prev: string[] = []) => [...prev, v])
    .showHelpAfterError()
    .exitOverride();

  const session = newClientSession();
  registerServer(program, io);
  function globals(): GlobalFlags {
    const o = program.opts<Partial<GlobalFlags> & { e2e?: boolean; expectPcr?: Record<number, string>; attestationRoot?: string[] }>();
    const env = io.env;
    const pick = (flag: string | undefined, name: string) => flag ?? (env[name] === '' ? undefined : env[name]);
    const flags: GlobalFlags = { address: pick(o.address, 'KEYHOLD_ADDR') ?? 'http://127.0.0.1:8080', format: o.format ?? 'human', session };
    const token = pick(o.token, 'KEYHOLD_TOKEN');
    const caCert = pick(o.caCert, 'KEYHOLD_CACERT');
    const clientCert = pick(o.clientCert, 'KEYHOLD_CLIENT_CERT');
    const clientKey = pick(o.clientKey, 'KEYHOLD_CLIENT_KEY');
    const signingKey = pick(o.signingKey, 'KEYHOLD_SIGNING_KEY');
    return {
      ...flags,
      ...(token !== undefined ? { token } : {}),
      ...(caCert !== undefined ? { caCert } : {}),
      ...(clientCert !== undefined ? { clientCert } : {}),
      ...(clientKey !== undefined ? { clientKey } : {}),
      ...(signingKey !== undefined ? { signingKey } : {}),
      ...(o.expectPcr !== undefined ? { expectPcr: o.expectPcr } : {}),
      ...(o.attestationRoot !== undefined ? { attestationRoots: o.attestationRoot } : {}),
      ...(o.e2e === true ? { e2e: { expectedPcrs: o.expectPcr ?? {}, rootFiles: o.attestationRoot ?? [] } } : {}),
    };
  }

  registerOperator(program, globals, io);
  registerAudit(program, () => globals().format, io);
  registerAuth(program, globals, io);
  registerToken(program, globals, io);
  registerKey(program, globals, io);
  registerSecret(program, globals, io);
  registerPolicy(program, globals, io);
  registerAttest(program, globals, io);
  registerAgent(program, io);
  return program;
}

/** Runs `keyhold <io.argv>` to completion; the exit code goes to io.setExitCode. */
export async function runKeyhold(io: CliIo): Promise<void> {
  await runProgram(buildProgram(io), io);
}
