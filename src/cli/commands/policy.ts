/**
 * `keyhold policy ...`: signed Cedar policy bundles (docs/policy.md).
 * keygen, sign and schema work locally (no server); push and show talk to
 * /v1/sys/policy. The policy modules are imported when a command runs, so
 * other commands do not pay for loading Cedar.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { call, CliError } from '../http-client.js';
import { print } from '../output.js';
import { clientOptions, type GlobalFlags } from './operator.js';
import type { CliIo } from '../cli-io.js';

const usage = (message: string) => new CliError('KH_CLI_USAGE', message, 2);

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw usage(`${what}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function writeFile(path: string, data: string, what: string, options: { mode?: number; flag?: string } = {}): void {
  try {
    writeFileSync(path, data, options);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw usage(`${what}: ${path} exists; refusing to overwrite it`);
    throw usage(`${what}: cannot write ${path}: ${code ?? String(e)}`);
  }
}

interface ActivePolicy {
  version: number;
  issuedAt: string;
  sha256: string;
  source: string;
  policies: string;
}

export function registerPolicy(program: Command, globals: () => GlobalFlags, io: CliIo): void {
  const policy = program.command('policy').description('signed Cedar policy bundles: keys, signing, push, show');

  policy
    .command('keygen')
    .description('create an Ed25519 bundle-signing key: the private key goes to --out (PKCS#8 PEM, mode 0600), the public key PEM to stdout')
    .requiredOption('--out <file>', 'private key file to create (an existing file is never overwritten)')
    .action((o: { out: string }) => {
      const g = globals();
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      writeFile(o.out, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, '--out', { mode: 0o600, flag: 'wx' });
      const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
      if (g.format === 'json') return print(io.stdout, 'json', { privateKeyFile: o.out, publicKey: pem });
      io.stdout.write(pem);
      io.stderr.write(
        `Private key written to ${o.out} (mode 0600); keep it offline.\n` +
          `Trust the public key in the server configuration: policy.trustedKeys: [{ kid: <KID>, publicKey: <the PEM above, or a file holding it> }]\n`,
      );
    });

  policy
    .command('sign')
    .description('check a bundle locally (shape and Cedar validation against the server schema), then sign its exact bytes')
    .argument('<bundle>', 'bundle file (JSON)')
    .requiredOption('--key <file>', 'Ed25519 private key (PKCS#8 PEM), from `keyhold policy keygen`')
    .requiredOption('--kid <kid>', 'key id, as configured in policy.trustedKeys')
    .option('--out <file>', 'signature file to write (default: stdout)')
    .action(async (file: string, o: { key: string; kid: string; out?: string }) => {
      const bytes = new Uint8Array(readFile(file, 'bundle'));
      const keyPem = readFile(o.key, '--key').toString('utf8');
      const { parseBundle, signBundle } = await import('../../policy/bundle.js');
      const { compilePolicySet } = await import('../../policy/policy-set.js');
      // Checked before signing so a broken bundle never carries a valid signature.
      compilePolicySet(parseBundle(bytes));
      let signature: string;
      try {
        signature = await signBundle(bytes, keyPem, o.kid);
      } catch (e) {
        throw usage(`--key: ${o.key}: ${e instanceof Error ? e.message : String(e)} (need an Ed25519 PKCS#8 PEM private key)`);
      }
      if (o.out === undefined) io.stdout.write(`${signature}\n`);
      else writeFile(o.out, `${signature}\n`, '--out');
    });

  policy
    .command('push')
    .description('activate a signed bundle on the server (the active bundle stays if anything is wrong)')
    .argument('<bundle>', 'bundle file (JSON), exactly as signed')
    .argument('<signature>', 'signature file from `keyhold policy sign`')
    .action(async (bundleFile: string, signatureFile: string) => {
      const g = globals();
      const bundle = readFile(bundleFile, 'bundle').toString('base64');
      const signature = readFile(signatureFile, 'signature').toString('utf8').trim();
      print(io.stdout, g.format, await call(clientOptions(g), 'POST', '/v1/sys/policy', { bundle, signature }));
    });

  policy
    .command('show')
    .description('show the active bundle: version, issue date, SHA-256, source and Cedar policies')
    .action(async () => {
      const g = globals();
      const active = (await call(clientOptions(g), 'GET', '/v1/sys/policy')) as ActivePolicy;
      if (g.format === 'json') return print(io.stdout, 'json', active);
      const { policies, ...meta } = active;
      print(io.stdout, 'human', meta);
      io.stdout.write(`\n${policies.endsWith('\n') ? policies : `${policies}\n`}`);
    });

  policy
    .command('schema')
    .description('print the Cedar schema bundles are validated against (namespace Keyhold)')
    .action(async () => {
      const { schemaText } = await import('../../policy/cedar-schema.js');
      io.stdout.write(`${schemaText()}\n`);
    });
}
