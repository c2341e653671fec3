/**
 * `keyhold auth machine ...`: machine identities (/v1/auth/machines) and
 * their key pairs. A machine logs in by signing a server challenge with its
 * private key, which stays on the machine; its tokens are bound to that key,
 * so every request it makes is signed too (--signing-key).
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { jwkThumbprint } from '../../auth/jwk-thumbprint.js';
import { call, CliError, loadPrivateKey } from '../http-client.js';
import { print } from '../output.js';
import { clientOptions, type GlobalFlags } from './operator.js';
import { collect, namePath, table } from './auth-users.js';
import { printLogin, publicJwk, readPublicKeyPem, signingKeyHint, signWithClientKey, type LoginAnswer } from './auth-keys.js';
import type { CliIo } from '../cli-io.js';

/** GET /v1/auth/machines/:name. */
interface MachineInfo {
  name: string;
  publicKeyJwk: Record<string, string>;
  jkt: string;
  alg: string;
  groups: string[];
  createdAt: string;
}

/** Writes a new private key file: owner-only, and never over an existing file. */
function writePrivateKeyFile(path: string, pem: string): void {
  try {
    writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CliError('KH_CLI_USAGE', `--out: ${path} exists; refusing to overwrite it`, 2);
    throw new CliError('KH_CLI_USAGE', `--out: cannot write ${path}: ${code ?? String(e)}`, 2);
  }
}

export function registerAuthMachines(auth: Command, globals: () => GlobalFlags, io: CliIo): void {
  const machine = auth.command('machine').description('machine identities that log in with a key pair');

  machine
    .command('keygen')
    .description('create a key pair: the private key goes to --out (PKCS#8 PEM, mode 0600), the public key PEM to stdout')
    .requiredOption('--out <file>', 'private key file to create (an existing file is never overwritten)')
    .addOption(new Option('--type <type>', 'key type').choices(['ed25519', 'p256']).default('ed25519'))
    .action((o: { out: string; type: 'ed25519' | 'p256' }) => {
      const g = globals();
      const { privateKey, publicKey } = o.type === 'p256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
      writePrivateKeyFile(o.out, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
      const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
      const jkt = jwkThumbprint(publicJwk(privateKey));
      if (g.format === 'json') return print(io.stdout, 'json', { privateKeyFile: o.out, type: o.type, jkt, publicKey: pem });
      io.stdout.write(pem);
      io.stderr.write(`Private key written to ${o.out} (mode 0600). Register the public key with: keyhold auth machine create NAME --public-key FILE\n`);
    });

  machine
    .command('create')
    .description('register a machine identity by its public key (Ed25519 or P-256)')
    .argument('<name>', 'machine name: letters, digits, ".", "_", "@", "-"')
    .requiredOption('--public-key <file>', 'PEM public key (a private key file works too: only its public half is sent)')
    .option('-g, --group <group>', 'group (repeatable); policies grant access to groups', collect, [])
    .action(async (name: string, o: { publicKey: string; group: string[] }) => {
      const g = globals();
      const publicKey = readPublicKeyPem(o.publicKey, '--public-key');
      const result = (await call(clientOptions(g), 'POST', '/v1/auth/machines', { name, publicKey, groups: o.group })) as MachineInfo;
      print(io.stdout, g.format, result);
    });

  machine
    .command('list')
    .description('list machine identities')
    .action(async () => {
      const g = globals();
      const result = (await call(clientOptions(g), 'GET', '/v1/auth/machines')) as { machines: MachineInfo[] };
      if (g.format === 'json') return print(io.stdout, 'json', result);
      const rows = result.machines.map((m) => [m.name, m.alg, m.jkt, m.groups.join(','), m.createdAt]);
      io.stdout.write(table([['NAME', 'ALG', 'KEY THUMBPRINT', 'GROUPS', 'CREATED'], ...rows]));
    });

  machine
    .command('show')
    .description("show a machine identity: its public key, thumbprint and groups")
    .argument('<name>', 'machine name')
    .action(async (name: string) => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'GET', namePath('machines', name)));
    });

  machine
    .command('delete')
    .description('delete a machine identity and its sessions')
    .argument('<name>', 'machine name')
    .action(async (name: string) => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'DELETE', namePath('machines', name)));
    });

  machine
    .command('login')
    .description('log in as a machine: sign a server challenge with --key; prints an access token bound to that key')
    .argument('<name>', 'machine name')
    .requiredOption('--key <file>', 'the machine private key (PEM)')
    .option('--issuer <issuer>', "the server's token issuer (auth.issuer in its configuration)", 'keyhold')
    .action(async (name: string, o: { key: string; issuer: string }) => {
      const g = globals();
      const key = loadPrivateKey(o.key, '--key', g.session);
      // The login routes take no token; none is sent, so none is signed.
      const c = { ...clientOptions(g), token: undefined };
      const { challenge } = (await call(c, 'POST', '/v1/auth/machine/challenge', { name })) as { challenge: string };
      const { machineLoginMessage } = await import('../../auth/machines.js');
      const signature = signWithClientKey(key, machineLoginMessage(o.issuer, name, challenge));
      const answer = (await call(c, 'POST', '/v1/auth/machine/login', { name, challenge, signature })) as LoginAnswer;
      printLogin(io, g.format, answer, signingKeyHint(answer, o.key));
    });
}
