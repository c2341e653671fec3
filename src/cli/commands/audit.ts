/** `keyhold audit verify FILE`: checks an audit log's hash chain offline; exit 0 with the count, or 1 at the first bad entry. */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { verifyLines } from '../../audit/audit-chain.js';
import { CliError } from '../http-client.js';
import { print, type OutputFormat } from '../output.js';

async function readLines(file: string): Promise<string[]> {
  const lines: string[] = [];
  try {
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) lines.push(line);
  } catch (e) {
    throw new CliError('KH_CLI_USAGE', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`, 2);
  }
  return lines;
}

export function registerAudit(program: Command, format: () => OutputFormat): void {
  const audit = program.command('audit').description('audit log tools');
  audit
    .command('verify')
    .argument('<file>', 'audit log file (JSON lines)')
    .description('verify the hash chain: reports the first bad entry, or OK with the count')
    .action(async (file: string) => {
      const result = verifyLines(await readLines(file));
      if (format() === 'json') print('json', result);
      else if (result.ok) process.stdout.write(`OK: ${result.count} entries, head ${result.head}\n`);
      else process.stdout.write(`FAILED at line ${result.line} (after ${result.count} good entries): ${result.reason}\n`);
      process.exitCode = result.ok ? 0 : 1;
    });
}
