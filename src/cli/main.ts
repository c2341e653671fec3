#!/usr/bin/env node
/** The `keyhold` binary. Errors print as "Error <code>: message" with a non-zero exit, never a stack trace. */
import { Command, Option } from 'commander';
import { VERSION } from '../version.js';
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

const program = new Command('keyhold')
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

registerServer(program);
function globals(): GlobalFlags {
  const o = program.opts<Partial<GlobalFlags> & { e2e?: boolean; expectPcr?: Record<number, string>; attestationRoot?: string[] }>();
  const env = process.env;
  const pick = (flag: string | undefined, name: string) => flag ?? (env[name] === '' ? undefined : env[name]);
  const flags: GlobalFlags = { address: pick(o.address, 'KEYHOLD_ADDR') ?? 'http://127.0.0.1:8080', format: o.format ?? 'human' };
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

registerOperator(program, globals);
registerAudit(program, () => globals().format);
registerAuth(program, globals);
registerToken(program, globals);
registerKey(program, globals);
registerSecret(program, globals);
registerPolicy(program, globals);
registerAttest(program, globals);
registerAgent(program);

await runProgram(program);
