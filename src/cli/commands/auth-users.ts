/**
 * `keyhold auth user ...`: users who log in with a password
 * (/v1/auth/users). Passwords come from stdin, never from argv (shell
 * history, `ps`): typed twice on a terminal, one line from a pipe.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Command } from 'commander';
import { call, CliError } from '../http-client.js';
import { print } from '../output.js';
import { readSecretLine } from '../read-secret.js';
import { clientOptions, type GlobalFlags } from './operator.js';
import type { CliIo } from '../cli-io.js';

/** GET /v1/auth/users/:name. */
interface UserInfo {
  name: string;
  groups: string[];
  createdAt: string;
  builtIn: boolean;
}

/** Commander collector for repeatable options (`--group a --group b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Left-aligned columns, two spaces apart, no trailing blanks. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n').join('');
}

export const namePath = (collection: 'users' | 'machines', name: string) => `/v1/auth/${collection}/${encodeURIComponent(name)}`;

/** A new password from stdin, not echoed; on a terminal it is asked twice. */
async function readNewPassword(io: CliIo): Promise<string> {
  const password = await readSecretLine(io, 'New password (hidden): ');
  if (password === '') throw new CliError('KH_CLI_USAGE', 'the password is empty', 2);
  if (io.stdin.isTTY === true) {
    const a = Buffer.from(password);
    const b = Buffer.from(await readSecretLine(io, 'Repeat it (hidden): '));
    const same = a.length === b.length && timingSafeEqual(a, b);
    a.fill(0);
    b.fill(0);
    if (!same) throw new CliError('KH_CLI_USAGE', 'the passwords differ', 2);
  }
  return password;
}

export function registerAuthUsers(auth: Command, globals: () => GlobalFlags, io: CliIo): void {
  const user = auth.command('user').description('users who log in with a password');

  user
    .command('create')
    .description('create a user; the password is read from stdin (not echoed), at least 8 characters')
    .argument('<name>', 'user name: letters, digits, ".", "_", "@", "-"')
    .option('-g, --group <group>', 'group (repeatable); policies grant access to groups', collect, [])
    .action(async (name: string, o: { group: string[] }) => {
      const g = globals();
      const password = await readNewPassword(io);
      print(io.stdout, g.format, await call(clientOptions(g), 'POST', '/v1/auth/users', { name, password, groups: o.group }));
    });

  user
    .command('list')
    .description('list users (the configured admin included)')
    .action(async () => {
      const g = globals();
      const result = (await call(clientOptions(g), 'GET', '/v1/auth/users')) as { users: UserInfo[] };
      if (g.format === 'json') return print(io.stdout, 'json', result);
      const rows = result.users.map((u) => [u.name, u.groups.join(','), u.builtIn ? 'config' : u.createdAt]);
      io.stdout.write(table([['NAME', 'GROUPS', 'CREATED'], ...rows]));
    });

  user
    .command('show')
    .description("show a user's groups and creation time")
    .argument('<name>', 'user name')
    .action(async (name: string) => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'GET', namePath('users', name)));
    });

  user
    .command('delete')
    .description('delete a user, its second factor and its sessions')
    .argument('<name>', 'user name')
    .action(async (name: string) => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'DELETE', namePath('users', name)));
    });

  user
    .command('passwd')
    .description("set a user's password (read from stdin, not echoed); the user's sessions are revoked")
    .argument('<name>', 'user name')
    .action(async (name: string) => {
      const g = globals();
      const password = await readNewPassword(io);
      print(io.stdout, g.format, await call(clientOptions(g), 'POST', `${namePath('users', name)}/password`, { password }));
    });
}
