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

/**
 * The V8 flags scripts/run-tests.mjs gives test processes (WebAssembly on the
 * baseline compiler, a larger young generation), passed on to their children:
 * a server or CLI a test starts pays the same ~1.5 s for optimising Cedar.
 */
const TEST_V8_FLAGS = process.execArgv.filter((a) => a === '--liftoff-only' || a.startsWith('--max-semi-space-size='));

/**
 * `tsFile`: an absolute path to a .ts file; for the CLI, pass the tree's own
 * src/cli/main.ts (see cli.ts). `nodeDefaults`: run with V8's default tiers,
 * for a test about what the optimising compiler does.
 */
export function nodeArgsFor(tsFile: string, options: { readonly nodeDefaults?: boolean } = {}): string[] {
  const compiled = tsFile.replace(/\.ts$/, '.js');
  const flags = options.nodeDefaults === true ? [] : TEST_V8_FLAGS;
  return compiled !== tsFile && existsSync(compiled) ? [...flags, '--enable-source-maps', compiled] : [...flags, '--import', TSX, tsFile];
}
