/**
 * Node arguments that run a TypeScript entry point in a child process: its
 * compiled copy when the tests run from the runner's compiled tree
 * (scripts/build-test-tree.mjs puts `x.js` beside a link to `x.ts`), otherwise
 * the source through tsx. A child started through tsx spends about 2 s of CPU
 * on the loader before it does anything.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const TSX = fileURLToPath(import.meta.resolve('tsx'));

/** `tsFile`: an absolute path to a .ts file; for the CLI, pass the tree's own src/cli/main.ts (see cli.ts). */
export function nodeArgsFor(tsFile: string): string[] {
  const compiled = tsFile.replace(/\.ts$/, '.js');
  return compiled !== tsFile && existsSync(compiled) ? ['--enable-source-maps', compiled] : ['--import', TSX, tsFile];
}
