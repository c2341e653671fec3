/**
 * `keyhold token ...`: root tokens, as Vault's `token lookup -self`,
 * `token revoke -self` and `token revoke -accessor`. A root token is for the
 * task at hand: revoke it after use (generate-root makes a new one from a
 * quorum of shares when needed). Sessions are revoked with `keyhold auth revoke`.
 */
import type { Command } from 'commander';
import { call } from '../http-client.js';
import { print } from '../output.js';
import { clientOptions, type GlobalFlags } from './operator.js';
import type { CliIo } from '../cli-io.js';

export function registerToken(program: Command, globals: () => GlobalFlags, io: CliIo): void {
  const token = program.command('token').description('root tokens: list by accessor, look up, revoke (revoke a root token after use)');

  token
    .command('list-root')
    .description('every live root token: accessor, origin, creation and expiry (never the token itself)')
    .action(async () => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'GET', '/v1/sys/root-tokens'));
    });

  token
    .command('lookup-self')
    .description('the accessor, origin and expiry of the root token in use (KEYHOLD_TOKEN / --token)')
    .action(async () => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'GET', '/v1/sys/root-token/lookup-self'));
    });

  token
    .command('revoke-self')
    .description('revoke the root token in use; it stops working on the next request')
    .action(async () => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'POST', '/v1/sys/root-token/revoke-self'));
    });

  token
    .command('revoke-accessor')
    .description('revoke the root token with this accessor (from list-root)')
    .argument('<accessor>', 'khra.… accessor')
    .action(async (accessor: string) => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'POST', '/v1/sys/root-token/revoke-accessor', { accessor }));
    });
}
