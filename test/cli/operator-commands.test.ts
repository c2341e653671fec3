/** The operator CLI against a real server: init, unseal, status, rotate, seal, rekey, and its errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listeningVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runCli } from '../helpers/cli.js';

test('an operator initialises, unseals, rotates, seals, rekeys and generates a root token from the CLI', async (t) => {
  const dir = tempDir(t);
  const server = await listeningVault(t, dir);
  const env = { KEYHOLD_ADDR: server.apiUrl };

  const uninit = await runCli(['operator', 'status'], env);
  assert.equal(uninit.code, 2, 'status exits 2 while sealed');
  assert.match(uninit.stdout, /initialized\s+false/);

  const init = await runCli(['operator', 'init', '--shares', '3', '--threshold', '2', '--format', 'json'], env);
  assert.equal(init.code, 0, init.stderr);
  const { shares, rootToken } = JSON.parse(init.stdout) as { shares: string[]; rootToken: string };
  assert.equal(shares.length, 3);

  const human = await runCli(['operator', 'init', '--shares', '1', '--threshold', '1'], env);
  assert.equal(human.code, 1);
  assert.match(human.stderr, /^Error KH_ALREADY_INITIALIZED: /);

  const u1 = await runCli(['operator', 'unseal', shares[0]!], env);
  assert.match(u1.stdout, /progress\s+1/);
  // The share can come from stdin (not echoed, not in argv or shell history).
  const u2 = await runCli(['operator', 'unseal'], env, `${shares[2]}\n`);
  assert.equal(u2.code, 0, u2.stderr);
  assert.match(u2.stdout, /sealed\s+false/);
  assert.equal((await runCli(['operator', 'status'], env)).code, 0);

  const authed = { ...env, KEYHOLD_TOKEN: rootToken };
  const rotated = await runCli(['operator', 'rotate', '-f', 'json'], authed);
  assert.equal(JSON.parse(rotated.stdout).term, 2);
  const noToken = await runCli(['operator', 'rotate'], env);
  assert.equal(noToken.code, 1);
  assert.match(noToken.stderr, /KH_AUTH_TOKEN_MISSING/);
  const badToken = await runCli(['operator', 'key-status', '--token', 'khr.nope'], env);
  assert.match(badToken.stderr, /KH_AUTH_TOKEN_INVALID/);

  const rekey = await runCli(['operator', 'rekey', '--shares', '2', '--threshold', '2', shares[0]!, shares[1]!], env);
  assert.equal(rekey.code, 0, rekey.stderr);
  const fresh = [...rekey.stdout.matchAll(/New unseal share \d: (\S+)/g)].map((m) => m[1]!);
  assert.equal(fresh.length, 2);

  const sealed = await runCli(['operator', 'seal'], authed);
  assert.match(sealed.stdout, /sealed\s+true/);
  assert.equal((await runCli(['operator', 'unseal', fresh[0]!], env)).code, 0);
  assert.match((await runCli(['operator', 'unseal', fresh[1]!], env)).stdout, /sealed\s+false/);

  // A new root token from the (new) shares, one at a time with the nonce, as share holders would.
  const partial = await runCli(['operator', 'generate-root', fresh[0]!], env);
  assert.equal(partial.code, 0, partial.stderr);
  const nonce = /--nonce (\S+)/.exec(partial.stdout)?.[1];
  assert.ok(nonce, partial.stdout);
  const minted = await runCli(['operator', 'generate-root', '--nonce', nonce, fresh[1]!], env);
  const token = /New root token: (khr\.\S+)/.exec(minted.stdout)?.[1];
  assert.ok(token, minted.stdout + minted.stderr);
  assert.equal((await runCli(['key', 'list'], { ...env, KEYHOLD_TOKEN: token })).code, 0);
});

test('CLI errors are one line with a code and a non-zero exit, never a stack trace', async () => {
  const unreachable = await runCli(['operator', 'status'], { KEYHOLD_ADDR: 'http://127.0.0.1:1' });
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /^Error KH_CLI_UNREACHABLE: cannot reach Keyhold at http:\/\/127\.0\.0\.1:1/);
  const usage = await runCli(['operator', 'init', '--shares', 'many']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /expected an integer/);
  const badAddr = await runCli(['operator', 'status', '--address', 'not a url']);
  assert.equal(badAddr.code, 2);
  for (const r of [unreachable, usage, badAddr]) assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('--help never shows the token from the environment', async () => {
  const help = await runCli(['--help'], { KEYHOLD_TOKEN: 'khr.super-secret-value' });
  assert.equal(help.code, 0);
  assert.doesNotMatch(help.stdout + help.stderr, /super-secret-value/);
});
