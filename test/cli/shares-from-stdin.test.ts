/**
 * Issue 15 L6: shares never need to be command-line arguments (visible in
 * /proc/<pid>/cmdline to every local user): rekey and generate-root read
 * them from stdin, one per line, and the argument form still works but
 * warns. Also the root token CLI of M7 (token lookup-self / revoke-self).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runningVault } from '../helpers/keyhold.js';
import { runCli } from '../helpers/cli.js';

const WARNING = /visible to other users of this machine/;

test('L6: operator rekey reads the current shares from stdin, one per line, without a warning; as arguments it warns', async (t) => {
  const { server, shares } = await runningVault(t);
  const env = { KEYHOLD_ADDR: server.apiUrl };
  const piped = await runCli(['operator', 'rekey', '--shares', '2', '--threshold', '2'], env, `${shares[0]}\n\n${shares[1]}\n`);
  assert.equal(piped.code, 0, piped.stderr);
  const fresh = [...piped.stdout.matchAll(/New unseal share \d: (\S+)/g)].map((m) => m[1]!);
  assert.equal(fresh.length, 2, piped.stdout);
  assert.doesNotMatch(piped.stderr, WARNING);

  const argv = await runCli(['operator', 'rekey', '--shares', '3', '--threshold', '2', fresh[0]!, fresh[1]!], env);
  assert.equal(argv.code, 0, argv.stderr);
  assert.match(argv.stderr, WARNING);
  assert.equal([...argv.stdout.matchAll(/New unseal share \d: /g)].length, 3);

  const none = await runCli(['operator', 'rekey', '--shares', '2', '--threshold', '2'], env, '');
  assert.equal(none.code, 2);
  assert.match(none.stderr, /KH_CLI_USAGE.*stdin/);
  assert.equal((await runCli(['operator', 'rekey', '--cancel'], env)).code, 0);
});

test('L6 + M7: generate-root reads shares from stdin and takes --ttl; the new token looks itself up and revokes itself', async (t) => {
  const { server, shares, rootToken } = await runningVault(t);
  const env = { KEYHOLD_ADDR: server.apiUrl };
  const minted = await runCli(['operator', 'generate-root', '--ttl', '600'], env, `${shares[1]}\n${shares[2]}\n`);
  assert.equal(minted.code, 0, minted.stderr);
  assert.doesNotMatch(minted.stderr, WARNING);
  assert.match(minted.stdout, /revoke-self/);
  const token = /New root token: (khr\.\S+)/.exec(minted.stdout)?.[1];
  assert.ok(token, minted.stdout);
  const authed = { ...env, KEYHOLD_TOKEN: token };

  const self = JSON.parse((await runCli(['token', 'lookup-self', '-f', 'json'], authed)).stdout) as { accessor: string; origin: string; expiresAt: string };
  assert.equal(self.origin, 'generate-root');
  assert.ok(Date.parse(self.expiresAt) > Date.now() + 500_000);
  const listed = await runCli(['token', 'list-root', '-f', 'json'], { ...env, KEYHOLD_TOKEN: rootToken });
  assert.ok(listed.stdout.includes(self.accessor) && !listed.stdout.includes(token.slice(4)));

  assert.equal((await runCli(['token', 'revoke-self'], authed)).code, 0);
  const after = await runCli(['key', 'list'], authed);
  assert.equal(after.code, 1);
  assert.match(after.stderr, /KH_AUTH_TOKEN_INVALID/);
  const again = await runCli(['token', 'revoke-accessor', self.accessor], { ...env, KEYHOLD_TOKEN: rootToken });
  assert.match(again.stderr, /KH_ROOT_TOKEN_NOT_FOUND/);
});
