/**
 * Runs a commander program the way the `keyhold` binary does: errors print as
 * "Error <code>: message" with a non-zero exit, never a stack trace. Shared by
 * main.ts and test harnesses that build a smaller program.
 */
import { CommanderError, type Command } from 'commander';
import { KeyholdError } from '../errors.js';
import { CliError } from './http-client.js';

export async function runProgram(program: Command, argv: readonly string[] = process.argv): Promise<void> {
  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has already printed its message (help, version or a usage error).
      process.exitCode = e.exitCode === 0 ? 0 : 2;
    } else if (e instanceof CliError) {
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
}
