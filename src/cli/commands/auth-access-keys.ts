/**
 * `keyhold auth access-key ...`: AWS-style access keys (/v1/auth/access-keys)
 * for a user or machine, with which the AWS CLI and SDKs call Keyhold's AWS
 * KMS-compatible API (requests signed with AWS Signature Version 4). The
 * secret access key is printed once, at creation.
 */
import type { Command } from 'commander';
import { call, CliError } from '../http-client.js';
import { print } from '../output.js';
import { clientOptions, type GlobalFlags } from './operator.js';
import { table } from './auth-users.js';
import { ACCESS_KEY_ID, type AccessKeyInfo } from '../../auth/access-keys.js';
import type { CliIo } from '../cli-io.js';

/** POST /v1/auth/access-keys answer. */
interface CreatedAccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  principalType: 'User' | 'Machine';
  principalName: string;
  description: string;
  createdAt: string;
}


/** Single-quoted for a POSIX shell (a secret holds "+" and "/", never a quote, but be safe). */
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function registerAuthAccessKeys(auth: Command, globals: () => GlobalFlags, io: CliIo): void {
  const accessKey = auth.command('access-key').description('AWS-style access keys (SigV4) for the AWS KMS-compatible API');

  accessKey
    .command('create')
    .description('issue an access key acting as a user or machine; the secret is printed this once')
    .option('--user <name>', 'the user the key acts as')
    .option('--machine <name>', 'the machine identity the key acts as')
    .option('--description <text>', 'what the key is for (shown by list)')
    .action(async (o: { user?: string; machine?: string; description?: string }) => {
      if ((o.user === undefined) === (o.machine === undefined)) throw new CliError('KH_CLI_USAGE', 'give exactly one of --user NAME or --machine NAME', 2);
      const g = globals();
      const body = {
        principalType: o.user !== undefined ? 'User' : 'Machine',
        principalName: o.user ?? o.machine,
        ...(o.description !== undefined && { description: o.description }),
      };
      const created = (await call(clientOptions(g), 'POST', '/v1/auth/access-keys', body)) as CreatedAccessKey;
      print(io.stdout, g.format, created);
      if (g.format === 'json') return;
      // The hint goes to stderr so stdout stays the key itself (scripts read it).
      io.stderr.write(
        'The secret access key is shown only now: store it (e.g. in ~/.aws/credentials). Use it with the AWS CLI or any AWS SDK:\n' +
          `  AWS_ACCESS_KEY_ID=${created.accessKeyId} AWS_SECRET_ACCESS_KEY=${shellQuote(created.secretAccessKey)} \\\n` +
          '    aws kms list-keys --region <compat.kms.region of the server> --endpoint-url <Keyhold KMS endpoint>\n',
      );
    });

  accessKey
    .command('list')
    .description('list access keys (never their secrets)')
    .action(async () => {
      const g = globals();
      const result = (await call(clientOptions(g), 'GET', '/v1/auth/access-keys')) as { accessKeys: AccessKeyInfo[] };
      if (g.format === 'json') return print(io.stdout, 'json', result);
      const rows = result.accessKeys.map((k) => [k.accessKeyId, `${k.principalType.toLowerCase()}:${k.principalName}`, k.createdAt, k.lastUsedAt ?? '-', k.description]);
      io.stdout.write(table([['ACCESS KEY ID', 'ACTS AS', 'CREATED', 'LAST USED', 'DESCRIPTION'], ...rows]));
    });

  accessKey
    .command('delete')
    .description('delete an access key; requests signed with it are refused from then on')
    .argument('<id>', 'access key id (KHAK…)')
    .action(async (id: string) => {
      if (!ACCESS_KEY_ID.test(id)) throw new CliError('KH_CLI_USAGE', 'an access key id is KHAK followed by 16 characters A-Z, 2-7', 2);
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'DELETE', `/v1/auth/access-keys/${id}`));
    });
}
