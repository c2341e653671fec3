/**
 * Measurements of the installed Keyhold build, reported by the simulated
 * enclave as PCRs so that they change whenever the code does. They mirror the
 * roles of Nitro's PCRs (AWS "Where to get an enclave's measurements"):
 *
 * - PCR1 (kernel and bootstrap) -> the runtime: SHA-384 of
 *   "node <version> <platform> <arch>\n".
 * - PCR2 (application) -> the code: SHA-384 of a `sha384sum`-style manifest
 *   of the code folder (dist/ when built, src/ when run from source) and
 *   package.json, sorted by path, so anyone can recompute it with
 *   `find dist package.json -type f | LC_ALL=C sort | xargs sha384sum | sha384sum`.
 * - PCR0 (the whole image) -> SHA-384(PCR1 || PCR2).
 *
 * PCRs 3-15 are zero, as on a Nitro enclave that uses none of them (a zero
 * PCR3/4/8 means no IAM role, instance or signing certificate was measured).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PCR_BYTES = 48;
export const SIMULATED_PCR_COUNT = 16;

export interface Measurements {
  /** The package root that was measured. */
  readonly root: string;
  /** The code folder inside it (dist or src). */
  readonly codeDir: string;
  readonly files: number;
  /** Index -> 48-byte value, PCR0..15. */
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
}

const sha384 = (data: Uint8Array | string): Buffer => createHash('sha384').update(data).digest();

/** Finds the package root of the running Keyhold (the folder holding its package.json). */
export function installedPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'keyhold') return dir;
      } catch {
        // An unreadable package.json is not ours; keep walking up.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the keyhold package root above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** The code folder this module was loaded from: dist when built, src when run through tsx. */
function runningCodeDir(root: string): string {
  const here = relative(root, fileURLToPath(import.meta.url)).split(sep)[0];
  return here === 'src' ? 'src' : 'dist';
}

function listFiles(root: string, dir: string, out: string[]): void {
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) listFiles(root, path, out);
    else if (entry.isFile()) out.push(path);
  }
}

/** The manifest text whose SHA-384 is PCR2 (exactly `sha384sum` output, byte-order sorted). */
export function codeManifest(root: string, codeDir: string): { text: string; files: number } {
  if (!statSync(join(root, codeDir), { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${join(root, codeDir)} is not a directory`);
  const paths: string[] = ['package.json'];
  listFiles(root, codeDir, paths);
  // Byte order, as `LC_ALL=C sort` gives.
  paths.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const text = paths.map((p) => `${sha384(readFileSync(join(root, p))).toString('hex')}  ${p}\n`).join('');
  return { text, files: paths.length };
}

export function runtimeDescription(): string {
  return `node ${process.version} ${process.platform} ${process.arch}\n`;
}

/** Measures a Keyhold package (default: the one running). */
export function measureBuild(options: { root?: string; codeDir?: string } = {}): Measurements {
  const root = options.root ?? installedPackageRoot();
  const codeDir = options.codeDir ?? (options.root === undefined ? runningCodeDir(root) : existsSync(join(root, 'dist')) ? 'dist' : 'src');
  const manifest = codeManifest(root, codeDir);
  const pcr1 = sha384(runtimeDescription());
  const pcr2 = sha384(manifest.text);
  const pcr0 = sha384(Buffer.concat([pcr1, pcr2]));
  const pcrs = new Map<number, Uint8Array>();
  for (let i = 0; i < SIMULATED_PCR_COUNT; i++) pcrs.set(i, new Uint8Array(PCR_BYTES));
  pcrs.set(0, new Uint8Array(pcr0));
  pcrs.set(1, new Uint8Array(pcr1));
  pcrs.set(2, new Uint8Array(pcr2));
  return { root, codeDir, files: manifest.files, pcrs };
}
