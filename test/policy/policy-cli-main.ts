/**
 * `keyhold` with only the policy commands, for policy-cli.test.ts: the same
 * global flags and error printing as src/cli/main.ts, so these tests do not
 * depend on where main.ts registers the command group.
 */
import { Command, CommanderError, Option } from 'commander';
import { KeyholdError } from '../../src/errors.js';
import { CliError } from '../../src/cli/http-client.js';
import { registerPolicy } from '../../src/cli/commands/policy.js';
import type { GlobalFlags } from '../../src/cli/commands/operator.js';

const program = new Command('keyhold')
  .option('-a, --address <url>')
  .option('-t, --token <token>')
  .addOption(new Option('-f, --format <format>').choices(['human', 'json']).default('human'))
  .exitOverride();
registerPolicy(program, () => {
  const o = program.opts<Partial<GlobalFlags>>();
  return { address: o.address ?? 'http://127.0.0.1:8080', format: o.format ?? 'human', ...(o.token !== undefined ? { token: o.token } : {}) };
});
try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exitCode = e.exitCode === 0 ? 0 : 2;
  else if (e instanceof CliError) {
    process.stderr.write(`Error ${e.code}: ${e.message}\n`);
    process.exitCode = e.exitCode;
  } else if (e instanceof KeyholdError) {
    process.stderr.write(`Error ${e.code}: ${e.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`Error KH_INTERNAL: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
