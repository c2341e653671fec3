/**
 * `keyhold` with only the policy commands, for policy-cli.test.ts: the same
 * global flags and error printing as src/cli/main.ts, so these tests do not
 * depend on where main.ts registers the command group.
 */
import { Command, Option } from 'commander';
import { runProgram } from '../../src/cli/run-program.js';
import { processIo } from '../../src/cli/cli-io.js';
import { registerPolicy } from '../../src/cli/commands/policy.js';
import type { GlobalFlags } from '../../src/cli/commands/operator.js';

const program = new Command('keyhold')
  .option('-a, --address <url>')
  .option('-t, --token <token>')
  .addOption(new Option('-f, --format <format>').choices(['human', 'json']).default('human'))
  .exitOverride();
const io = processIo();
const globals = (): GlobalFlags => {
  const o = program.opts<Partial<GlobalFlags>>();
  return { address: o.address ?? 'http://127.0.0.1:8080', format: o.format ?? 'human', ...(o.token !== undefined ? { token: o.token } : {}) };
};
registerPolicy(program, globals, io);
await runProgram(program, io);
