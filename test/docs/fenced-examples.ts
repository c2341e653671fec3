/**
 * The fenced code blocks of a Markdown document, classified as examples.
 *
 * Every fence names its language. Shell blocks (`sh`, `bash`) are examples
 * that run; JavaScript blocks (`js`, `mjs`) run only with a marker naming the
 * file the text tells the reader to save them as; any of them can instead be
 * skipped with a reason. The marker is an HTML comment on the line right
 * before the fence (invisible when the Markdown is rendered):
 *
 *   <!-- example: node sdk-example.mjs -->     save as sdk-example.mjs, run `node sdk-example.mjs`
 *   <!-- example: skip (needs an HSM) -->      not run; the reason is reported with the skip
 *
 * Other languages (`text`, `yaml`, `cedar`, `json`...) are output samples,
 * diagrams and configuration fragments, never run.
 */

export type ExampleKind =
  | { readonly kind: 'shell' }
  | { readonly kind: 'node'; readonly file: string }
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'not-code' };

export interface FencedBlock {
  readonly document: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly lang: string;
  readonly code: string;
  readonly example: ExampleKind;
}

const SHELL = new Set(['sh', 'bash']);
const SCRIPT = new Set(['js', 'mjs']);
/** Languages that must never be left without a decision: code a reader could paste. */
const CODE = new Set([...SHELL, ...SCRIPT, 'ts', 'typescript', 'javascript', 'shell', 'console']);

const MARKER = /^<!-- example: (.*) -->$/;
const SKIP = /^skip \((.+)\)$/;
const NODE = /^node ([A-Za-z0-9_-]+\.mjs)$/;

function classify(document: string, line: number, lang: string, marker: string | undefined): ExampleKind {
  const where = `${document}:${line}`;
  if (lang === '') throw new Error(`${where}: a fence must name its language (text for output samples and diagrams)`);
  if (marker !== undefined) {
    const skip = SKIP.exec(marker);
    if (skip !== null) {
      if (!CODE.has(lang)) throw new Error(`${where}: a ${lang} block is never run, it needs no skip marker`);
      return { kind: 'skip', reason: skip[1]!.trim() };
    }
    const node = NODE.exec(marker);
    if (node !== null) {
      if (!SCRIPT.has(lang)) throw new Error(`${where}: "node FILE.mjs" marks a js block, not ${lang}`);
      return { kind: 'node', file: node[1]! };
    }
    throw new Error(`${where}: unknown example marker "${marker}" (expected "skip (reason)" or "node FILE.mjs")`);
  }
  if (SHELL.has(lang)) return { kind: 'shell' };
  if (CODE.has(lang)) throw new Error(`${where}: a ${lang} block needs a marker: "node FILE.mjs" (the file the text names) or "skip (reason)"`);
  return { kind: 'not-code' };
}

/** Parses top-level ``` fences; throws on a block without a decision or an unclosed fence. */
export function fencedBlocks(document: string, markdown: string): FencedBlock[] {
  const lines = markdown.split('\n');
  const blocks: FencedBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`${document}:${start + 1}: unclosed fence`);
    let prev = start - 1;
    while (prev >= 0 && lines[prev]!.trim() === '') prev--;
    const marker = prev >= 0 ? MARKER.exec(lines[prev]!.trim())?.[1] : undefined;
    const lang = open[1]!;
    blocks.push({ document, line: start + 1, lang, code: body.join('\n') + '\n', example: classify(document, start + 1, lang, marker) });
  }
  return blocks;
}

/** "README.md:42 node dist/cli/main.js key create payments": how a block is named in the test report. */
export function blockTitle(block: FencedBlock): string {
  const first = block.code.split('\n').find((l) => l.trim() !== '' && !l.startsWith('//') && !l.startsWith('#') && !l.startsWith('import ')) ?? '';
  return `${block.document}:${block.line} ${first.trim().slice(0, 70)}`;
}
