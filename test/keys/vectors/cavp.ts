/**
 * Reader for NIST CAVP response files (.rsp) and the RFC vector files in the
 * same "Name = value" format, as Debian's python3-cryptography-vectors ships
 * them (located through test/helpers/vectors.ts, packagedVectors).
 *
 * A file is a run of blocks separated by blank lines. Bracketed headers
 * (`[Keylen = 128]`, `[P-256,SHA-256]`, `[mod = 2048]`) set the section for the
 * blocks that follow, until the next run of headers. Inside a block each line
 * is `Name = value` (values are hex unless the file says otherwise), or a bare
 * word such as `FAIL` (a GCM decryption that must fail). Lines starting with
 * `#` are comments. CRLF and LF line ends are both accepted.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assertPresent, type PublishedVectors } from '../../helpers/vectors.js';

export interface CavpBlock {
  /** The bracketed headers in force: `Name = value` headers by name, a bare header (`P-256,SHA-256`) under "name". */
  readonly section: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, string>>;
  /** Bare words of the block, e.g. FAIL. */
  readonly flags: readonly string[];
  /** 1-based line of the block's first line, for failure messages. */
  readonly line: number;
}

const PAIR = /^([^=]+?)\s*=\s*(.*)$/;

export function parseCavp(text: string): CavpBlock[] {
  const blocks: CavpBlock[] = [];
  let section: Record<string, string> = {};
  let inHeaders = false;
  let fields: Record<string, string> = {};
  let flags: string[] = [];
  let start = 0;
  const flush = () => {
    if (Object.keys(fields).length > 0 || flags.length > 0) blocks.push({ section: { ...section }, fields, flags, line: start });
    fields = {};
    flags = [];
  };
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('#')) return;
    if (line === '') {
      flush();
      return;
    }
    const header = /^\[(.*)\]$/.exec(line);
    if (header) {
      flush();
      if (!inHeaders) section = {};
      inHeaders = true;
      const pair = PAIR.exec(header[1]!);
      if (pair) section[pair[1]!] = pair[2]!;
      else section.name = header[1]!;
      return;
    }
    inHeaders = false;
    if (Object.keys(fields).length === 0 && flags.length === 0) start = i + 1;
    const pair = PAIR.exec(line);
    if (pair) fields[pair[1]!] = pair[2]!;
    else flags.push(line);
  });
  flush();
  return blocks;
}

/** Reads and parses a packaged vector file; absent, it throws the one-line reason. */
export function loadCavp(vectors: PublishedVectors): CavpBlock[] {
  const blocks = parseCavp(readFileSync(assertPresent(vectors), 'utf8'));
  assert.ok(blocks.length > 0, `${vectors.path}: no vectors`);
  return blocks;
}

/** A named field that must be there. */
export function field(b: CavpBlock, name: string, file: string): string {
  const v = b.fields[name];
  assert.ok(v !== undefined, `${file} line ${b.line}: no ${name}`);
  return v;
}

/** Hex of any length, "" for empty, an odd length padded on the left (CAVP prints some numbers that way). */
export function cavpHex(s: string): Uint8Array {
  assert.match(s, /^[0-9a-fA-F]*$/, `not hex: ${s.slice(0, 40)}`);
  return new Uint8Array(Buffer.from(s.length % 2 === 1 ? `0${s}` : s, 'hex'));
}

/** The big-endian integer of `hex` as exactly `bytes` bytes (left-padded with zeros). */
export function fixedWidth(hex: string, bytes: number): Uint8Array {
  const v = unsignedBytes(hex);
  assert.ok(v.length <= bytes, `${hex.slice(0, 20)}… does not fit in ${bytes} bytes`);
  const out = new Uint8Array(bytes);
  out.set(v, bytes - v.length);
  return out;
}

/** Minimal big-endian bytes of a non-negative integer given in hex (no leading zero bytes). */
export function unsignedBytes(hex: string): Uint8Array {
  const raw = cavpHex(hex);
  let i = 0;
  while (i < raw.length - 1 && raw[i] === 0) i++;
  return raw.subarray(i);
}
