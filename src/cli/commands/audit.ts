/**
 * `keyhold audit verify FILE [--public-key PEMFILE] [--expect-head SEQ:HASH]`:
 * checks an audit log offline: its hash chain and, given the node's pinned
 * public key (GET /v1/sys/audit/public-key), the signed genesis, every
 * checkpoint's signature and the signed cadence (no run of entries longer
 * than it, so no checkpoint can be dropped). --expect-head names a checkpoint
 * a monitor saw earlier: a log cut before it, or rewritten from it, fails.
 * Every damaged line is reported ("line N: reason") and verification carries
 * on after it; exit 0 with "OK <count> entries, <k> checkpoints verified",
 * 1 when anything is damaged, 2 for a usage error.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { verifyLines, type VerifyResult } from '../../audit/audit-chain.js';
import { checkpointVerifier, type CheckpointVerifier } from '../../audit/checkpoint.js';
import { CliError } from '../http-client.js';
import { print, type OutputFormat } from '../output.js';
import type { CliIo } from '../cli-io.js';

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

/** Damaged lines printed before the summary; the JSON output lists them all. */
const MAX_PRINTED = 100;

function parseHead(value: string): { seq: number; hash: string } {
  const m = /^([1-9][0-9]{0,15}):([0-9a-f]{64})$/.exec(value);
  if (m === null || !Number.isSafeInteger(Number(m[1]))) throw new CliError('KH_CLI_USAGE', '--expect-head takes SEQ:HASH (the seq and 64-hex hash of a checkpoint, as `audit verify` prints it)', 2);
  return { seq: Number(m[1]), hash: m[2]! };
}

function human(result: VerifyResult): string {
  if (!result.ok) {
    const out = result.damaged.slice(0, MAX_PRINTED).map((d) => (d.line === 0 ? `log: ${d.reason}` : `line ${d.line}: ${d.reason}`));
    if (result.damaged.length > MAX_PRINTED) out.push(`... and ${result.damaged.length - MAX_PRINTED} more (--format json lists them all)`);
    out.push(`FAILED ${result.damaged.length} problem(s); ${result.count} entries read, ${result.verified} checkpoints verified`);
    return `${out.join('\n')}\n`;
  }
  const out = [`OK ${result.count} entries, ${result.verified} checkpoints verified`, `head ${result.head}`];
  if (result.lastCheckpoint !== null) out.push(`last checkpoint ${result.lastCheckpoint.seq}:${result.lastCheckpoint.hash} (keep it: --expect-head next time)`);
  const unchecked = result.checkpoints - result.verified;
  if (unchecked > 0) out.push(`${unchecked} checkpoints not checked: pass --public-key (the PEM of GET /v1/sys/audit/public-key)`);
  if (result.afterLastCheckpoint > 0) out.push(`${result.afterLastCheckpoint} entries after the last checkpoint: signed by the next one, until then covered by the chain (and the node's chain MAC)`);
  return `${out.join('\n')}\n`;
}

export function registerAudit(program: Command, format: () => OutputFormat, io: CliIo): void {
  const audit = program.command('audit').description('audit log tools');
  audit
    .command('verify')
    .argument('<file>', 'audit log file (JSON lines)')
    .option('--public-key <pemfile>', "the node's audit public key (PEM), to check the genesis, checkpoint signatures and cadence")
    .option('--expect-head <seq:hash>', 'a checkpoint seen earlier (by a monitor): fail when the log is cut before it or differs at it')
    .description('verify the hash chain and signed checkpoints: reports every damaged line, or OK with the count')
    .action(async (file: string, opts: { publicKey?: string; expectHead?: string }) => {
      const expectHead = opts.expectHead === undefined ? undefined : parseHead(opts.expectHead);
      const publicKey = opts.publicKey === undefined ? undefined : await readPublicKey(opts.publicKey);
      const result = verifyLines(await readLines(file), { ...(publicKey !== undefined && { publicKey }), ...(expectHead !== undefined && { expectHead }) });
      if (format() === 'json') print(io.stdout, 'json', result);
      else io.stdout.write(human(result));
      io.setExitCode(result.ok ? 0 : 1);
    });
}
