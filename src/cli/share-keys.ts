/**
 * `operator init --share-keys`: each unseal (or recovery) share encrypted to
 * its holder's age public key (https://age-encryption.org/v1, via the
 * age-encryption package), so no one terminal sees every share in the clear.
 * This is Keyhold's counterpart of Vault's `-pgp-keys`: one recipient per
 * share, in order; the output is ASCII-armored age files, and a holder runs
 * `age --decrypt -i <identity> share-N.age | keyhold operator unseal`.
 */
import { readFileSync } from 'node:fs';
import { CliError } from './http-client.js';

/** One --share-keys value: comma-separated entries, appended to the earlier ones (the option is repeatable). */
export function collectShareKeys(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)];
}

/**
 * An entry is a recipient (`age1...`) or a file holding exactly one (age's
 * recipients-file format: `#` comments and blank lines ignored).
 * @throws CliError KH_CLI_USAGE (exit 2) when it cannot be read or is not one age recipient.
 */
export function resolveRecipient(entry: string): string {
  if (entry.startsWith('age1')) return entry;
  let text: string;
  try {
    text = readFileSync(entry, 'utf8');
  } catch (e) {
    throw new CliError('KH_CLI_USAGE', `--share-keys: cannot read ${entry}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 2);
  }
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  if (lines.length !== 1 || !lines[0]!.startsWith('age1'))
    throw new CliError('KH_CLI_USAGE', `--share-keys: ${entry} must hold exactly one age public key (age1..., as printed by age-keygen); it holds ${lines.length} non-comment lines`, 2);
  return lines[0]!;
}

/**
 * Checks every recipient before anything is sent to the server: a typo found
 * after init would leave a share nobody can decrypt.
 * @throws CliError KH_CLI_USAGE (exit 2) for a count other than `shares` or a recipient age refuses.
 */
export async function shareRecipients(entries: readonly string[], shares: number): Promise<string[]> {
  if (entries.length !== shares) throw new CliError('KH_CLI_USAGE', `--share-keys names ${entries.length} public keys but --shares is ${shares}: give one per share, in order`, 2);
  const recipients = entries.map(resolveRecipient);
  const { Encrypter } = await import('age-encryption');
  for (const [i, r] of recipients.entries()) {
    try {
      // A trial encryption: once init has answered, a share that cannot be encrypted is a share lost.
      const e = new Encrypter();
      e.addRecipient(r);
      await e.encrypt('keyhold share-key check');
    } catch (e) {
      throw new CliError('KH_CLI_USAGE', `--share-keys: entry ${i + 1} (${entries[i]}) is not a valid age recipient: ${e instanceof Error ? e.message : String(e)}`, 2);
    }
  }
  if (new Set(recipients).size !== recipients.length) throw new CliError('KH_CLI_USAGE', '--share-keys names the same public key twice: one holder would get two shares', 2);
  return recipients;
}

/** Each share encrypted to its recipient (same order) and armored. */
export async function encryptShares(shares: readonly string[], recipients: readonly string[]): Promise<string[]> {
  const { Encrypter, armor } = await import('age-encryption');
  return Promise.all(
    shares.map(async (share, i) => {
      const e = new Encrypter();
      e.addRecipient(recipients[i]!);
      return armor.encode(await e.encrypt(share));
    }),
  );
}
