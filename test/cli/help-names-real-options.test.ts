/**
 * Every `--option` a help text mentions exists: walks commander's program
 * tree, renders each command's full --help (descriptions, options,
 * arguments, added help text) and checks each `--name` in it against the
 * options of that command and of its ancestors (the globals). A mention
 * written as `<subcommand> --name` (e.g. "printed by `rekey --init`") is
 * checked against that subcommand instead. The dev-server banner's command
 * lines and every `keyhold ...` command in the README and docs/ are checked
 * the same way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import type { CliIo } from '../../src/cli/cli-io.js';
import { buildProgram } from '../../src/cli/keyhold-program.js';
import { REPO_ROOT } from '../helpers/repo-root.js';

function quietIo(): CliIo & { out: string[] } {
  const out: string[] = [];
  const sink = { isTTY: false, write: (c: string | Uint8Array) => out.push(typeof c === 'string' ? c : Buffer.from(c).toString('utf8')) };
  return { argv: [], env: {}, stdin: Readable.from([]), stdout: sink, stderr: sink, setExitCode: () => {}, out };
}

function* walk(cmd: Command, path: string[] = []): Generator<{ cmd: Command; path: string[]; ancestors: Command[] }> {
  const ancestors: Command[] = [];
  for (let p = cmd.parent; p !== null; p = p.parent) ancestors.push(p);
  yield { cmd, path, ancestors };
  for (const sub of cmd.commands) yield* walk(sub, [...path, sub.name()]);
}

const longNames = (cmd: Command): Set<string> => new Set(cmd.options.map((o) => o.long).filter((l): l is string => l !== undefined));

/**
 * The texts of `cmd` itself: its description, its options' and arguments'
 * descriptions, and text added with addHelpText (what --help prints beyond
 * commander's own listing). Its subcommands' one-line descriptions, which
 * its --help also lists, are checked with each subcommand.
 */
function textsOf(path: string[]): string[] {
  const io = quietIo();
  let cmd: Command = buildProgram(io);
  for (const name of path) cmd = cmd.commands.find((c) => c.name() === name)!;
  cmd.outputHelp();
  const added = io.out.join('').replace(cmd.helpInformation(), '');
  return [cmd.description(), ...cmd.options.map((o) => o.description), ...cmd.registeredArguments.map((a) => a.description), added];
}

test('every --option named in a --help text exists on that command or globally', () => {
  const program = buildProgram(quietIo());
  const problems: string[] = [];
  let commands = 0;
  for (const { cmd, path, ancestors } of walk(program)) {
    commands++;
    const known = new Set(['--help', '--version']);
    for (const c of [cmd, ...ancestors]) for (const l of longNames(c)) known.add(l);
    const everywhere = [...walk(program)].map((w) => w.cmd);
    for (const text of textsOf(path)) {
      for (const m of text.matchAll(/(?:([a-z][a-z-]*) )?(--[a-z][a-z0-9-]*)/g)) {
        const [, word, option] = m as unknown as [string, string | undefined, string];
        // "`rekey --init`", "keyhold agent --config": an option of the command named just before it.
        const named = word === undefined ? undefined : everywhere.find((c) => c.name() === word && c !== cmd);
        const ok = known.has(option) || (named !== undefined && longNames(named).has(option));
        if (!ok) problems.push(`keyhold ${path.join(' ')} --help mentions ${option}${named !== undefined ? ` (not an option of ${word} either)` : ''}, which does not exist`);
      }
    }
  }
  assert.ok(commands > 40, `walked ${commands} commands`);
  assert.deepEqual([...new Set(problems)], []);
});

/**
 * Problems with one `keyhold ...` command line: a word that names no command
 * (when none does), or an --option that is neither the resolved command's
 * nor an ancestor's. Words that are not subcommands (arguments, option
 * values) are skipped.
 */
function commandLineProblems(program: Command, words: readonly string[], shown: string): string[] {
  const problems: string[] = [];
  let cmd: Command = program;
  const known = new Set([...longNames(program), '--help', '--version']);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!.replace(/[`"']/g, '');
    if (w === '--') break;
    if (w.startsWith('--')) {
      const name = w.split('=')[0]!;
      if (!known.has(name)) problems.push(`${name} in "${shown}"`);
      // An option taking a value skips it.
      const option = [cmd, program].flatMap((c) => c.options).find((o) => o.long === name);
      if (option !== undefined && (option.required || option.optional) && !w.includes('=')) i++;
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (sub === undefined) continue;
    cmd = sub;
    for (const l of longNames(cmd)) known.add(l);
  }
  if (cmd === program && !words.some((w) => w === '--help' || w === '--version')) problems.push(`no command in "${shown}"`);
  return problems;
}

test('every command line the dev-server banner prints names a real command and real options', async () => {
  const { devBanner } = await import('../../src/cli/dev-mode.js');
  const dev = {
    server: { apiUrl: 'http://127.0.0.1:8200', healthUrl: 'http://127.0.0.1:8201', config: { audit: { file: '/tmp/d/audit.log' } } },
    dataDir: '/tmp/d',
    temporary: true,
    credentials: { unsealKey: 'u', rootToken: 't' },
  } as unknown as Parameters<typeof devBanner>[0];
  const banner = devBanner(dev, 'ab'.repeat(48));
  const program = buildProgram(quietIo());
  const lines = banner.split('\n').filter((l) => /^\s+(keyhold|node \S+) /.test(l));
  assert.ok(lines.length >= 6, `found ${lines.length} command lines in the banner`);
  const problems = lines.flatMap((line) => {
    // Up to a shell comment; the words after the invocation.
    const words = line.replace(/\s+#.*$/, '').trim().split(/\s+/).slice(line.trim().startsWith('node ') ? 2 : 1);
    return commandLineProblems(program, words, line.trim());
  });
  assert.deepEqual(problems, []);
});

test('every `keyhold ...` command in the README and docs/ names a real command and real options', () => {
  const root = REPO_ROOT;
  const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const program = buildProgram(quietIo());
  const problems: string[] = [];
  let commands = 0;
  for (const file of files) {
    let inFence = false;
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .forEach((line, n) => {
        if (/^\s*```/.test(line)) {
          inFence = !inFence;
          return;
        }
        // In code blocks every line; in prose, inline code that runs keyhold.
        const texts = inFence ? [line] : [...line.matchAll(/`([^`]*keyhold [^`]*)`/g)].map((m) => m[1]!);
        for (const text of texts) {
          for (const part of text.split(/\||&&|;|\$\(/)) {
            // keyhold in command position, after a prompt or environment assignments.
            const m = /^\s*(?:\$\s*)?(?:[A-Z_][A-Z0-9_]*=\S*\s+)*keyhold\s+(.*)$/.exec(part);
            if (m === null) continue;
            const words = m[1]!.replace(/\s+#.*$/, '').trim().split(/\s+/);
            // "keyhold recipient v1" and the like are labels (HKDF info strings), not command lines.
            if (!words[0]!.startsWith('-') && !program.commands.some((c) => c.name() === words[0])) continue;
            commands++;
            problems.push(...commandLineProblems(program, words, part.trim()).map((p) => `${file}:${n + 1}: ${p}`));
          }
        }
      });
  }
  assert.ok(commands > 30, `found ${commands} keyhold commands`);
  assert.deepEqual(problems, []);
});
