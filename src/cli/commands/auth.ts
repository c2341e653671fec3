/** `keyhold auth ...`: hash a password for the configuration, log in, revoke sessions. */
import type { Command } from 'commander';
import { call, CliError } from '../http-client.js';
import { print } from '../output.js';
import { readSecretLine } from '../read-secret.js';
import { clientOptions, type GlobalFlags } from './operator.js';

export function registerAuth(program: Command, globals: () => GlobalFlags): void {
  const auth = program.command('auth').description('passwords, logins and sessions');

  auth
    .command('hash-password')
    .description('read a password from stdin (not echoed) and print its scrypt hash for auth.admin.passwordHash')
    .action(async () => {
      const password = await readSecretLine('Password (hidden): ');
      if (password === '') throw new CliError('KH_CLI_USAGE', 'the password is empty', 2);
      const { hashPassword } = await import('../../auth/password.js');
      process.stdout.write(`${await hashPassword(password)}\n`);
    });

  auth
    .command('login')
    .description('log in with a password (read from stdin, not echoed); prints the access token')
    .requiredOption('-u, --username <name>', 'username')
    .action(async (o: { username: string }) => {
      const g = globals();
      const password = await readSecretLine('Password (hidden): ');
      const result = (await call(clientOptions(g), 'POST', '/v1/auth/login', { username: o.username, password })) as { accessToken: string };
      if (g.format === 'json') return print('json', result);
      process.stdout.write(`${result.accessToken}\n`);
    });

  auth
    .command('revoke')
    .description('revoke sessions: --session ID, --subject NAME or --all')
    .option('--session <id>', 'one session')
    .option('--subject <name>', 'every session of a subject')
    .option('--all', 'every session')
    .action(async (o: { session?: string; subject?: string; all?: boolean }) => {
      const chosen = [o.session !== undefined, o.subject !== undefined, o.all === true].filter(Boolean).length;
      if (chosen !== 1) throw new CliError('KH_CLI_USAGE', 'give exactly one of --session, --subject or --all', 2);
      const body = o.session !== undefined ? { sessionId: o.session } : o.subject !== undefined ? { subject: o.subject } : { all: true };
      const g = globals();
      print(g.format, await call(clientOptions(g), 'POST', '/v1/auth/revoke', body));
    });
}
