/**
 * `keyhold operator ...`: init, unseal, seal, status, rotate, key-status, rekey.
 * Talks to a running server (--address / KEYHOLD_ADDR). Exit codes: 0 ok,
 * 1 error, 2 usage error or (for `status`) sealed, as Vault's CLI does.
 */
import type { Command } from 'commander';
import { call, CliError, type ClientOptions, type ClientSession } from '../http-client.js';
import { print, type OutputFormat } from '../output.js';
import { parseIntInRange, parseShareCount } from '../parse.js';
import { MAX_ROOT_TTL_SECONDS } from '../../auth/root-token.js';
import { readSecretLine, readSecretLines, warnSecretArguments } from '../read-secret.js';
import type { CliIo } from '../cli-io.js';
import { collectShareKeys, encryptShares, shareRecipients } from '../share-keys.js';

export interface GlobalFlags {
  address: string;
  token?: string;
  format: OutputFormat;
  caCert?: string;
  clientCert?: string;
  clientKey?: string;
  /** PEM private key that signs every request (for key-bound tokens). */
  signingKey?: string;
  /** --e2e: use the end-to-end channel, pinned to these PCRs and roots. */
  e2e?: { expectedPcrs: Record<number, string>; rootFiles: string[] };
  /** --expect-pcr (global: used by --e2e and by attest verify). */
  expectPcr?: Record<number, string>;
  /** --attestation-root PEM files trusted besides the AWS Nitro root. */
  attestationRoots?: string[];
  /** Keys and channels kept for this run only (http-client.ts). */
  session?: ClientSession;
}

export function clientOptions(flags: GlobalFlags): ClientOptions {
  return {
    address: flags.address,
    token: flags.token,
    caCert: flags.caCert,
    clientCert: flags.clientCert,
    clientKey: flags.clientKey,
    signingKey: flags.signingKey,
    e2e: flags.e2e,
    session: flags.session,
  };
}

/**
 * Submits shares from the arguments, or else from stdin (one per line) until
 * the server says the operation is complete or the input ends.
 * @throws CliError KH_CLI_USAGE when no share was given at all
 */
async function submitShares(io: CliIo, fromArguments: string[], prompt: string, submit: (share: string) => Promise<unknown>): Promise<unknown> {
  let last: unknown;
  const shares: AsyncIterable<string> | string[] = fromArguments.length > 0 ? fromArguments : readSecretLines(io, prompt);
  for await (const share of shares) {
    last = await submit(share);
    const step = last as { complete?: boolean; progress?: number; required?: number };
    if (step.complete === true) break;
    if (io.stdin.isTTY === true && fromArguments.length === 0) io.stderr.write(`Progress ${step.progress}/${step.required}\n`);
  }
  if (last === undefined) throw new CliError('KH_CLI_USAGE', 'no share given: pipe the shares on stdin, one per line', 2);
  return last;
}

/** The exit code of `status`, so scripts can test sealed state. */
function statusExitCode(status: { sealed?: unknown }): number {
  return status.sealed === true ? 2 : 0;
}

export function registerOperator(program: Command, globals: () => GlobalFlags, io: CliIo): void {
  const operator = program.command('operator').description('initialise, unseal, seal and maintain the vault');

  operator
    .command('init')
    .description('initialise: create the root key and print the unseal shares and the root token (once)')
    .option('--shares <n>', 'number of unseal shares', parseShareCount, 5)
    .option('--threshold <t>', 'shares required to unseal', parseShareCount, 3)
    .option(
      '--share-keys <keys>',
      'encrypt share N to the Nth age public key (age1..., or a file holding one), comma-separated or repeated, one per share in order; no share is printed in the clear (docs/operator.md)',
      collectShareKeys,
    )
    .action(async (opts: { shares: number; threshold: number; shareKeys?: string[] }) => {
      const g = globals();
      // Every key is checked before the server creates shares that only these keys will ever open.
      const recipients = opts.shareKeys === undefined ? undefined : await shareRecipients(opts.shareKeys, opts.shares);
      const result = (await call(clientOptions(g), 'POST', '/v1/sys/init', { shares: opts.shares, threshold: opts.threshold })) as {
        shares: string[];
        threshold: number;
        rootToken: string;
        recoveryShares?: boolean;
      };
      const kind = result.recoveryShares === true ? 'Recovery' : 'Unseal';
      if (recipients !== undefined) {
        // The vault is initialised now: whatever fails below, the root token and every share encrypted so far are printed.
        const { armored, failedShare } = await encryptShares(result.shares, recipients);
        if (g.format === 'json') print(io.stdout, 'json', { ...result, shares: armored, shareRecipients: recipients.slice(0, armored.length) });
        else armored.forEach((a, i) => io.stdout.write(`${kind} share ${i + 1} (encrypted to ${recipients[i]}):\n${a}\n`));
        if (failedShare !== undefined) {
          // Never the share in the clear instead: whoever runs init must not hold a quorum.
          if (g.format !== 'json') io.stdout.write(`\nInitial root token: ${result.rootToken}\n`);
          throw new CliError(
            'KH_CLI_SHARES_LOST',
            `Keyhold is initialised, but share ${failedShare} could not be encrypted to its key: the shares are lost (${armored.length} of ${result.shares.length} were encrypted). Wipe the storage and run init again.`,
          );
        }
        if (g.format === 'json') return;
      } else {
        if (g.format === 'json') return print(io.stdout, 'json', result);
        result.shares.forEach((s, i) => io.stdout.write(`${kind} share ${i + 1}: ${s}\n`));
      }
      io.stdout.write(`\nInitial root token: ${result.rootToken}\n\n`);
      io.stdout.write(
        `Keyhold is initialised with ${result.shares.length} shares and a threshold of ${result.threshold}.\n` +
          (recipients !== undefined
            ? `Send each holder their encrypted share; it opens only with their age key: age --decrypt -i KEY share.age | keyhold operator unseal\n`
            : `Distribute the shares now: they are not stored anywhere and will not be shown again.\n`) +
          (result.recoveryShares === true
            ? `The automatic seal (HSM or enclave) unsealed Keyhold. Recovery shares authorise rekeying, unsealing after a manual seal and seal migration (with the enclave seal also re-binding the root key to a new build); with the HSM seal they decrypt nothing.\n`
            : `Keyhold is sealed; unseal it with ${result.threshold} share(s): keyhold operator unseal\n`),
      );
    });

  operator
    .command('unseal')
    .argument('[share]', 'one unseal share (better omitted: then read from stdin, not echoed; an argument is visible in the process list)')
    .option('--reset', 'discard the shares submitted so far')
    .option('--migrate', 'migrate to the seal this server is configured for (Shamir <-> pkcs11 or enclave), or re-bind the enclave seal to this build, when the threshold is reached')
    .description('submit one unseal share (a recovery share with an HSM seal) and show progress')
    .action(async (share: string | undefined, opts: { reset?: boolean; migrate?: boolean }) => {
      const g = globals();
      if (share !== undefined) warnSecretArguments(io, 'unseal shares');
      const key = opts.reset === true ? undefined : (share ?? (await readSecretLine(io, 'Unseal share (hidden): ')));
      const body = key === undefined ? { reset: true } : { key, ...(opts.migrate === true ? { migrate: true } : {}) };
      print(io.stdout, g.format, await call(clientOptions(g), 'POST', '/v1/sys/unseal', body));
    });

  operator
    .command('seal')
    .description('seal: wipe every key from the server memory (needs a root token)')
    .action(async () => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'POST', '/v1/sys/seal'));
    });

  operator
    .command('status')
    .description('show initialised / sealed / progress / threshold / version (exit 2 when sealed)')
    .action(async () => {
      const g = globals();
      const status = (await call(clientOptions(g), 'GET', '/v1/sys/seal-status')) as { sealed?: unknown };
      print(io.stdout, g.format, status);
      io.setExitCode(statusExitCode(status));
    });

  operator
    .command('rotate')
    .description('add a keyring term and make it active (old records stay readable)')
    .action(async () => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'POST', '/v1/sys/rotate'));
    });

  operator
    .command('key-status')
    .description('show the active keyring term')
    .action(async () => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'GET', '/v1/sys/key-status'));
    });

  operator
    .command('rekey')
    .description('issue new unseal shares given a threshold of the current ones (read from stdin, one per line)')
    .argument('[shares...]', 'current shares (deprecated: visible in the process list; pipe them on stdin instead)')
    .option('--init', 'start a rekey (with --shares/--threshold)')
    .option('--shares <n>', 'new number of shares', parseShareCount)
    .option('--threshold <t>', 'new threshold', parseShareCount)
    .option('--nonce <nonce>', 'nonce of the rekey in progress (printed by --init)')
    .option('--cancel', 'cancel the rekey in progress')
    .option('--status', 'show the rekey in progress')
    .option(
      '--share-keys <keys>',
      'encrypt new share N to the Nth age public key, as for init; give it to the run that submits the current shares (it prints the new ones)',
      collectShareKeys,
    )
    .action(async (shares: string[], opts: { init?: boolean; shares?: number; threshold?: number; nonce?: string; cancel?: boolean; status?: boolean; shareKeys?: string[] }) => {
      const g = globals();
      const c = clientOptions(g);
      if (opts.cancel === true) return print(io.stdout, g.format, await call(c, 'DELETE', '/v1/sys/rekey/init'));
      if (opts.status === true) return print(io.stdout, g.format, await call(c, 'GET', '/v1/sys/rekey/init'));
      if (shares.length > 0) warnSecretArguments(io, 'shares');
      let nonce = opts.nonce;
      const starts = opts.init === true || (nonce === undefined && opts.shares !== undefined);
      if (opts.shareKeys !== undefined && opts.init === true && shares.length === 0)
        throw new CliError('KH_CLI_USAGE', '--share-keys goes with the run that submits the current shares (`rekey --nonce N --share-keys ...`), which is the one that prints the new shares', 2);
      let recipients: string[] | undefined;
      // Every key is checked before a share is submitted: the last one completes the rekey, and then the old shares are gone.
      if (opts.shareKeys !== undefined && starts && opts.shares !== undefined) recipients = await shareRecipients(opts.shareKeys, opts.shares);
      if (starts) {
        if (opts.shares === undefined || opts.threshold === undefined) throw new CliError('KH_CLI_USAGE', 'rekey --init needs --shares and --threshold', 2);
        const started = (await call(c, 'POST', '/v1/sys/rekey/init', { shares: opts.shares, threshold: opts.threshold })) as { nonce: string };
        nonce = started.nonce;
        if (opts.init === true && shares.length === 0) return print(io.stdout, g.format, started);
      }
      if (nonce === undefined) throw new CliError('KH_CLI_USAGE', 'give --nonce (from `rekey --init`) or start one with --shares and --threshold', 2);
      if (opts.shareKeys !== undefined && recipients === undefined) {
        const open = (await call(c, 'GET', '/v1/sys/rekey/init')) as { started?: boolean; nonce?: string; newShares?: number };
        if (open.started !== true || open.newShares === undefined) throw new CliError('KH_REKEY_NOT_STARTED', 'No rekey is in progress: start one with `keyhold operator rekey --init`.');
        if (open.nonce !== nonce) throw new CliError('KH_REKEY_NONCE_MISMATCH', 'The nonce does not match the rekey in progress (`keyhold operator rekey --status`).');
        recipients = await shareRecipients(opts.shareKeys, open.newShares);
      }
      const last = await submitShares(io, shares, 'Current unseal share (hidden, empty line to stop): ', (key) => call(c, 'POST', '/v1/sys/rekey/update', { key, nonce }));
      const result = last as { complete?: boolean; shares?: string[]; threshold?: number };
      if (result.complete === true && recipients !== undefined) {
        // The old shares no longer unseal: whatever fails below, every new share encrypted so far is printed.
        const { armored, failedShare } = await encryptShares(result.shares ?? [], recipients);
        if (g.format === 'json') print(io.stdout, 'json', { ...result, shares: armored, shareRecipients: recipients.slice(0, armored.length) });
        else armored.forEach((a, i) => io.stdout.write(`New unseal share ${i + 1} (encrypted to ${recipients[i]}):\n${a}\n`));
        if (failedShare !== undefined)
          throw new CliError(
            'KH_CLI_SHARES_LOST',
            `The rekey is complete and the old shares no longer unseal, but new share ${failedShare} could not be encrypted to its key: it is lost (${armored.length} of ${result.shares?.length ?? 0} were encrypted). ` +
              `If at least ${result.threshold ?? '?'} were, their holders can rekey again now; otherwise do not seal or restart this node: unsealing it again would need the lost share.`,
          );
        if (g.format === 'human') io.stdout.write('\nRekey complete: the old shares no longer unseal. Send each holder their encrypted share; it opens only with their age key.\n');
        return;
      }
      if (result.complete === true && g.format === 'human') {
        result.shares?.forEach((s, i) => io.stdout.write(`New unseal share ${i + 1}: ${s}\n`));
        io.stdout.write('\nRekey complete: the old shares no longer unseal. Distribute the new shares now; they will not be shown again.\n');
        return;
      }
      print(io.stdout, g.format, result);
    });

  operator
    .command('generate-root')
    .description('mint a new root token from a threshold of unseal shares (recovery shares with an HSM seal)')
    .argument('[shares...]', 'shares (deprecated: visible in the process list; read from stdin, one per line, when omitted)')
    .option('--nonce <nonce>', 'nonce of the generation in progress (otherwise a new one is started)')
    .option('--ttl <seconds>', 'the new root token stops working after this many seconds (revoke it after use either way)', parseIntInRange(1, MAX_ROOT_TTL_SECONDS))
    .option('--cancel', 'cancel the generation in progress')
    .option('--status', 'show the generation in progress')
    .action(async (shares: string[], opts: { nonce?: string; ttl?: number; cancel?: boolean; status?: boolean }) => {
      const g = globals();
      const c = clientOptions(g);
      if (opts.cancel === true) return print(io.stdout, g.format, await call(c, 'DELETE', '/v1/sys/generate-root/init'));
      if (opts.status === true) return print(io.stdout, g.format, await call(c, 'GET', '/v1/sys/generate-root/init'));
      if (shares.length > 0) warnSecretArguments(io, 'shares');
      const init = `/v1/sys/generate-root/init${opts.ttl === undefined ? '' : `?ttlSeconds=${opts.ttl}`}`;
      const cancel = '`keyhold operator generate-root --cancel`';
      let nonce = opts.nonce;
      if (nonce === undefined) {
        try {
          nonce = ((await call(c, 'POST', init)) as { nonce: string }).nonce;
        } catch (e) {
          // Typically a one-shot run that failed earlier left its generation open.
          if (e instanceof CliError && e.code === 'KH_ROOT_GENERATION_IN_PROGRESS')
            throw new CliError(e.code, `${e.message} Continue it with --nonce (shown by \`keyhold operator generate-root --status\`), or cancel it with ${cancel} and run this again.`, e.exitCode);
          throw e;
        }
      }
      const started = opts.nonce === undefined ? nonce : undefined;
      let last: unknown;
      try {
        last = await submitShares(io, shares, 'Share (hidden, empty line to stop): ', (key) => call(c, 'POST', '/v1/sys/generate-root/update', { key, nonce }));
      } catch (e) {
        // A generation this run started and left open (a malformed share, too few shares) makes the next run fail:
        // say how to end it. One that reached the threshold with wrong shares was ended by the server.
        if (started === undefined || !(e instanceof CliError)) throw e;
        const open = (await call(c, 'GET', '/v1/sys/generate-root/init').catch(() => undefined)) as { started?: boolean; nonce?: string } | undefined;
        if (open?.started !== true || open.nonce !== started) throw e;
        throw new CliError(e.code, `${e.message} The root token generation this command started is still in progress: continue it with --nonce ${started}, or cancel it with ${cancel}.`, e.exitCode);
      }
      const result = last as { complete?: boolean; rootToken?: string; progress?: number; required?: number };
      if (g.format === 'human' && result.complete === true)
        return void io.stdout.write(`New root token: ${result.rootToken}\n\nRevoke it when the task is done: KEYHOLD_TOKEN=... keyhold token revoke-self\n`);
      if (g.format === 'human') return void io.stdout.write(`Progress ${result.progress}/${result.required}; continue with --nonce ${nonce}\n`);
      print(io.stdout, g.format, result);
    });
}
