/**
 * `keyhold audit verify FILE [--public-key PEMFILE]`: checks an audit log
 * offline: its hash chain and, given the node's pinned public key (GET
 * /v1/sys/audit/public-key), every checkpoint's signature. Exit 0 with
 * "OK <count> entries, <k> checkpoints verified", or 1 at the first bad line.
 * Entries after the last checkpoint are covered only by the chain, so the
 * output says how many there are: a cut or rewritten tail is visible only
 * against a head (count and hash) kept from an earlier run.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { verifyLines, type VerifyResult } from '../../audit/audit-chain.js';
import { checkpointVerifier, type CheckpointVerifier } from '../../audit/checkpoint.js';
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

async function readPublicKey(file: string): Promise<CheckpointVerifier> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError('KH_CLI_USAGE', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`, 2);
  }
  try {
    return checkpointVerifier(pem);
  } catch {
    throw new CliError('KH_CLI_USAGE', `${file} is not an Ed25519 public key in PEM (SPKI) form`, 2);
  }
}

function human(result: VerifyResult): string {
  if (!result.ok) return `FAILED at line ${result.line} (after ${result.count} good entries): ${result.reason}\n`;
  const out = [`OK ${result.count} entries, ${result.verified} checkpoints verified`, `head ${result.head}`];
  const unchecked = result.checkpoints - result.verified;
  if (unchecked > 0) out.push(`${unchecked} checkpoints not checked: pass --public-key (the PEM of GET /v1/sys/audit/public-key)`);
  if (result.afterLastCheckpoint > 0) out.push(`${result.afterLastCheckpoint} entries after the last checkpoint are covered only by the chain`);
  return `${out.join('\n')}\n`;
}

export function registerAudit(program: Command, format: () => OutputFormat): void {
  const audit = program.command('audit').description('audit log tools');
  audit
    .command('verify')
    .argument('<file>', 'audit log file (JSON lines)')
    .option('--public-key <pemfile>', "the node's audit public key (PEM), to check checkpoint signatures")
    .description('verify the hash chain and signed checkpoints: reports the first bad entry, or OK with the count')
    .action(async (file: string, opts: { publicKey?: string }) => {
      const publicKey = opts.publicKey === undefined ? undefined : await readPublicKey(opts.publicKey);
      const result = verifyLines(await readLines(file), publicKey === undefined ? {} : { publicKey });
      if (format() === 'json') print('json', result);
      else process.stdout.write(human(result));
      process.exitCode = result.ok ? 0 : 1;
    });
}
