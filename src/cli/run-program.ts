/**
 * Runs a commander program the way the `keyhold` binary does: errors print as
 * "Error <code>: message" with a non-zero exit, never a stack trace. Shared by
 * keyhold-program.ts and test harnesses that build a smaller program.
 */
import { CommanderError, type Command } from 'commander';
import { KeyholdError } from '../errors.js';
import type { CliIo } from './cli-io.js';
import { CliError } from './http-client.js';

export async function runProgram(program: Command, io: CliIo): Promise<void> {
  try {
    await program.parseAsync([...io.argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has already printed its message (help, version or a usage error).
      io.setExitCode(e.exitCode === 0 ? 0 : 2);
    } else if (e instanceof CliError) {
      io.stderr.write(`Error ${e.code}: ${e.message}\n`);
      io.setExitCode(e.exitCode);
    } else if (e instanceof KeyholdError) {
      io.stderr.write(`Error ${e.code}: ${e.message}\n`);
      io.setExitCode(1);
    } else {
      io.stderr.write(`Error KH_INTERNAL: ${e instanceof Error ? e.message : String(e)}\n`);
      io.setExitCode(1);
    }
  }
}
