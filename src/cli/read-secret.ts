/** Reads one line (a share) from stdin without echoing it when stdin is a terminal. */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

export async function readSecretLine(prompt: string): Promise<string> {
  const tty = process.stdin.isTTY === true;
  if (tty) process.stderr.write(prompt);
  const muted = new Writable({ write: (_chunk, _enc, cb) => cb() });
  const rl = createInterface({ input: process.stdin, output: tty ? muted : undefined, terminal: tty });
  try {
    for await (const line of rl) return line.trim();
    return '';
  } finally {
    rl.close();
    if (tty) process.stderr.write('\n');
  }
}
