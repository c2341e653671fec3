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

/** Entries are named by position, never by value: a mistaken paste may be a secret (an age identity, a share). */
const nth = (i: number): string => `entry ${i + 1} of --share-keys`;

/** age's identity (private key) encoding, `AGE-SECRET-KEY-1...` (Bech32, so any case). */
const isIdentity = (text: string): boolean => text.trim().toUpperCase().startsWith('AGE-SECRET-KEY-');

const IDENTITY_REFUSED = 'is an age identity (secret key): give its public key (age1..., as `age-keygen -y` prints it), and treat that secret key as exposed';

/**
 * An entry is a recipient (`age1...`) or a file holding exactly one (age's
 * recipients-file format: `#` comments and blank lines ignored). `index` is
 * its position, used in errors in place of the entry itself.
 * @throws CliError KH_CLI_USAGE (exit 2) when it cannot be read or is not one age recipient.
 */
export function resolveRecipient(entry: string, index: number): string {
  if (entry.startsWith('age1')) return entry;
  // Checked before the entry is tried as a path, so no error (ENOENT...) is about it.
  if (isIdentity(entry)) throw new CliError('KH_CLI_USAGE', `${nth(index)} ${IDENTITY_REFUSED}`, 2);
  let text: string;
  try {
    text = readFileSync(entry, 'utf8');
  } catch (e) {
    // Not echoed: an entry that is no readable file may be anything pasted by mistake.
    throw new CliError('KH_CLI_USAGE', `cannot read ${nth(index)} as a file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'}): give an age public key (age1...) or a file holding one`, 2);
  }
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  // A key file as age-keygen writes it: the identity line, with the public key only in a comment.
  if (lines.some(isIdentity)) throw new CliError('KH_CLI_USAGE', `${nth(index)} (the file ${entry}) holds an age identity (secret key): give the public key file (age-keygen -y ${entry})`, 2);
  if (lines.length !== 1 || !lines[0]!.startsWith('age1'))
    throw new CliError('KH_CLI_USAGE', `${nth(index)} (the file ${entry}) must hold exactly one age public key (age1..., as printed by age-keygen); it holds ${lines.length} non-comment lines`, 2);
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
    } catch {
      // age's message may quote the recipient; the position is enough.
      throw new CliError('KH_CLI_USAGE', `${nth(i)} is not a valid age public key (age1..., as printed by age-keygen)`, 2);
    }
  }
  if (new Set(recipients).size !== recipients.length) throw new CliError('KH_CLI_USAGE', '--share-keys names the same public key twice: one holder would get two shares', 2);
  return recipients;
}

/** The shares encrypted so far, and the first that could not be (1-based), if any. */
export interface EncryptedShares {
  readonly armored: readonly string[];
  readonly failedShare?: number;
}

/**
 * Each share encrypted to its recipient (same order) and armored, one after
 * the other, stopping at the first failure: the caller prints what was
 * encrypted and says which share is lost. Never throws, so a failure after
 * init cannot swallow the root token and the shares already encrypted; a share
 * is never returned in the clear. More shares than recipients is a failure.
 */
export async function encryptShares(shares: readonly string[], recipients: readonly string[]): Promise<EncryptedShares> {
  const armored: string[] = [];
  try {
    const { Encrypter, armor } = await import('age-encryption');
    for (const [i, share] of shares.entries()) {
      const recipient = recipients[i];
      if (recipient === undefined) return { armored, failedShare: i + 1 };
      const e = new Encrypter();
      e.addRecipient(recipient);
      armored.push(armor.encode(await e.encrypt(share)));
    }
  } catch {
    return { armored, failedShare: armored.length + 1 };
  }
  return { armored };
}
