/** Reads one line (a share) from stdin without echoing it when stdin is a terminal. */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { CliIo } from './cli-io.js';

export async function readSecretLine(io: CliIo, prompt: string): Promise<string> {
  const tty = io.stdin.isTTY === true;
  if (tty) io.stderr.write(prompt);
  const muted = new Writable({ write: (_chunk, _enc, cb) => cb() });
  const rl = createInterface({ input: io.stdin, output: tty ? muted : undefined, terminal: tty });
  try {
    for await (const line of rl) return line.trim();
    return '';
  } finally {
    rl.close();
    if (tty) io.stderr.write('\n');
  }
}

/**
 * Reads secrets (shares) one per line from stdin: hidden with a prompt before
 * each on a terminal, where an empty line ends the input; from a pipe until
 * it ends (blank lines skipped). The caller stops early by breaking out of the loop.
 */
export async function* readSecretLines(io: CliIo, prompt: string): AsyncGenerator<string> {
  const tty = io.stdin.isTTY === true;
  const muted = new Writable({ write: (_chunk, _enc, cb) => cb() });
  const rl = createInterface({ input: io.stdin, output: tty ? muted : undefined, terminal: tty });
  try {
    if (tty) io.stderr.write(prompt);
    for await (const raw of rl) {
      const line = raw.trim();
      if (tty) io.stderr.write('\n');
      if (line === '') {
        if (tty) return;
        continue;
      }
      yield line;
      if (tty) io.stderr.write(prompt);
    }
  } finally {
    rl.close();
  }
}

/**
 * Said when a secret was given as a command-line argument: any local user
 * can read it in the process list (/proc/<pid>/cmdline, `ps`) while the
 * command runs, and it stays in the shell history (issue 15 L6).
 */
export function warnSecretArguments(io: CliIo, what: string): void {
  io.stderr.write(`Warning: ${what} given as arguments are visible to other users of this machine (process list) and kept in your shell history; pipe them on stdin instead, one per line.\n`);
}
