/**
 * `keyhold measure` and `keyhold attest ...`: what a user runs to decide
 * whether to trust a Keyhold node.
 *
 * - `keyhold measure [--root DIR]` prints the PCRs the simulated enclave
 *   reports for a build (attestation/simulated/measure.ts), to compare with a
 *   node's document. For a real enclave, PCRs come from `nitro-cli build-enclave`.
 * - `keyhold attest verify [FILE]` verifies a document (base64 or raw CBOR);
 *   without FILE it asks the node at --address for one with a fresh random
 *   nonce. The global `--expect-pcr I=HEX` pins measurements and
 *   `--attestation-root PEM` adds a trust anchor (a simulated root); the AWS
 *   Nitro root is always trusted.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { measureBuild } from '../../attestation/simulated/measure.js';
import { AWS_NITRO_ROOT_G1 } from '../../attestation/nitro/aws-root.js';
import { call, CliError } from '../http-client.js';
import { print } from '../output.js';
import { clientOptions, type GlobalFlags } from './operator.js';
import { readAllStdin, type CliIo } from '../cli-io.js';

const hex = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('hex'));

/** "I=HEX" for --expect-pcr, collected into a record. */
export function collectPcr(value: string, previous: Record<number, string> = {}): Record<number, string> {
  const m = /^(\d{1,2})=((?:[0-9a-fA-F]{2}){32,64})$/.exec(value);
  if (m === null || Number(m[1]) > 31) throw new InvalidArgumentError('expected INDEX=HEX, e.g. 0=5f1e...(96 hex digits)');
  return { ...previous, [Number(m[1])]: (m[2] as string).toLowerCase() };
}

function readPem(file: string): X509Certificate {
  try {
    return new X509Certificate(readFileSync(file));
  } catch (e) {
    throw new CliError('KH_CLI_USAGE', `--attestation-root: ${file} is not a PEM certificate (${e instanceof Error ? e.message : String(e)})`, 2);
  }
}

/** A document file: raw CBOR (starts with an array or tag 18 byte) or base64 text. */
async function readDocument(io: CliIo, file: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = file === '-' ? await readAllStdin(io) : readFileSync(file);
  } catch (e) {
    throw new CliError('KH_CLI_USAGE', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`, 2);
  }
  if (bytes[0] === 0x84 || bytes[0] === 0xd2) return bytes;
  return Buffer.from(bytes.toString('utf8').trim(), 'base64');
}

/** --nonce: whole hex bytes, 1 to 1024 of them (AWS's limit), never silently truncated. */
function parseNonce(hex: string): Buffer {
  if (!/^(?:[0-9a-fA-F]{2}){1,1024}$/.test(hex)) throw new CliError('KH_CLI_USAGE', '--nonce must be hex of 1 to 1024 bytes', 2);
  return Buffer.from(hex, 'hex');
}

interface VerifyFlags {
  nonce?: string;
  maxAge?: number;
  at?: string;
}

export function registerAttest(program: Command, globals: () => GlobalFlags, io: CliIo): void {
  program
    .command('measure')
    .description('print the PCRs a simulated enclave reports for a Keyhold build (default: this installation)')
    .option('--root <dir>', 'package root of the build to measure (the folder with package.json and dist/)')
    .action((opts: { root?: string }) => {
      let m;
      try {
        m = measureBuild(opts.root === undefined ? {} : { root: opts.root });
      } catch (e) {
        throw new CliError('KH_CLI_USAGE', `cannot measure: ${e instanceof Error ? e.message : String(e)}`, 2);
      }
      print(io.stdout, globals().format, { root: m.root, code: m.codeDir, files: m.files, pcr0: hex(m.pcrs.get(0)), pcr1: hex(m.pcrs.get(1)), pcr2: hex(m.pcrs.get(2)) });
    });

  const attest = program.command('attest').description('attestation documents');
  attest
    .command('verify')
    .argument('[file]', 'document file (base64 or CBOR; - for stdin); default: fetch one from the node at --address')
    .option('--nonce <hex>', 'nonce the document must carry (with a file); default for a fetched document: a fresh random one')
    .option('--max-age <seconds>', 'refuse documents older than this', (v) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected seconds');
      return Number(v);
    })
    .option('--at <iso-time>', 'verify as of this time instead of now (old documents)')
    .description('verify an attestation document: signature, chain to the AWS Nitro root (or an --attestation-root), PCRs, nonce')
    .action(async (file: string | undefined, opts: VerifyFlags) => {
      const flags = globals();
      const expectPcr = flags.expectPcr;
      let document: Uint8Array;
      let nonce: Uint8Array | undefined;
      if (file === undefined) {
        nonce = opts.nonce === undefined ? randomBytes(32) : parseNonce(opts.nonce);
        // The document authenticates itself; fetching it through the channel (--e2e) would be circular.
        const answer = (await call({ ...clientOptions(flags), e2e: undefined }, 'GET', `/v1/enclave/attestation?nonce=${hex(nonce)}`)) as { attestation: string };
        document = Buffer.from(answer.attestation, 'base64');
      } else {
        document = await readDocument(io, file);
        if (opts.nonce !== undefined) nonce = parseNonce(opts.nonce);
      }
      const now = opts.at === undefined ? new Date() : new Date(opts.at);
      if (Number.isNaN(now.getTime())) throw new CliError('KH_CLI_USAGE', '--at: not a date', 2);
      // Loaded here: the X.509 stack it needs is most of the CLI's start-up for every other command.
      const { verifyNitroDocument } = await import('../../attestation/nitro/verify.js');
      const doc = verifyNitroDocument(document, {
        now,
        trustedRoots: [AWS_NITRO_ROOT_G1, ...(flags.attestationRoots ?? []).map(readPem)],
        ...(expectPcr !== undefined && { expectedPcrs: expectPcr }),
        ...(nonce !== undefined && { nonce }),
        ...(opts.maxAge !== undefined && { maxAgeMs: opts.maxAge * 1000 }),
      });
      const pinned = Object.keys(expectPcr ?? {}).length;
      print(io.stdout, flags.format, {
        verified: true,
        pcrsPinned: pinned,
        ...(pinned === 0 && { warning: 'no --expect-pcr given: the document is genuine, but any code could have produced it' }),
        moduleId: doc.moduleId,
        timestamp: new Date(doc.timestamp).toISOString(),
        pcr0: hex(doc.pcrs.get(0)),
        pcr1: hex(doc.pcrs.get(1)),
        pcr2: hex(doc.pcrs.get(2)),
        publicKey: hex(doc.publicKey),
        userData: hex(doc.userData),
        nonce: hex(doc.nonce),
      });
    });
}
