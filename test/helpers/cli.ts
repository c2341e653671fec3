/**
 * Runs the keyhold CLI in tests: in this process by default (a fresh program
 * per call, with its own argv, env, stdin and output: src/cli/cli-io.ts),
 * or from source (tsx) as a child process, as a user would, for the tests
 * that keep the real entry point covered and for the long-running commands.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { CliIo, CliOutput } from '../../src/cli/cli-io.js';
import { runKeyhold } from '../../src/cli/keyhold-program.js';
import { nodeArgsFor } from './ts-entry.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.ts');
/** Node arguments that run the real binary from source (compiled when the tests run compiled: ts-entry.ts). */
export const CLI_ARGS = nodeArgsFor(MAIN);

export interface RawRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a command with stdout kept as bytes (decrypt prints raw plaintext) and optional binary stdin. */
export function spawnRaw(command: string, args: string[], env: Record<string, string>, input?: Buffer | string): Promise<RawRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
    child.stdin.end(input ?? '');
  });
}

/**
 * These own the process (signal handlers, a listening server, a workload
 * child) until they are stopped, so they always run as a real process.
 */
const PROCESS_COMMANDS = new Set(['server', 'agent']);

/**
 * Runs `keyhold ARGS` in this process, as the binary would with this env
 * (over this process's env, KEYHOLD_ADDR and KEYHOLD_TOKEN cleared) and
 * stdin (a pipe: never a terminal); stdout is kept as bytes.
 */
export async function runCliRaw(args: string[], env: Record<string, string> = {}, input?: Buffer | string): Promise<RawRun> {
  if (args.some((a) => PROCESS_COMMANDS.has(a))) return runCliProcess(args, env, input);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (chunks: Buffer[]): CliOutput => ({
    isTTY: false,
    write: (c) => chunks.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : Buffer.from(c)),
  });
  let code = 0;
  const io: CliIo = {
    argv: [...args],
    env: { ...process.env, KEYHOLD_ADDR: '', KEYHOLD_TOKEN: '', ...env },
    stdin: Readable.from(input === undefined ? [] : [Buffer.from(input)]),
    stdout: sink(out),
    stderr: sink(err),
    setExitCode: (c) => {
      code = c;
    },
  };
  await runKeyhold(io);
  return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') };
}

/** The real binary from source (node --import tsx src/cli/main.ts ARGS), with the same env rule as runCliRaw. */
export function runCliProcess(args: string[], env: Record<string, string> = {}, input?: Buffer | string): Promise<RawRun> {
  return spawnRaw(process.execPath, [...CLI_ARGS, ...args], { KEYHOLD_ADDR: '', KEYHOLD_TOKEN: '', ...env }, input);
}

export async function runCli(args: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  const r = await runCliRaw(args, env, input);
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

/** Starts `keyhold server ...` and resolves once stdout contains `ready` (a regexp); returns the match. */
export function startCliServer(
  args: string[],
  ready: RegExp,
  { timeoutMs = 20_000, env = {}, nodeDefaults = false }: { timeoutMs?: number; env?: Record<string, string>; nodeDefaults?: boolean } = {},
): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  return new Promise((resolve, reject) => {
    const node = nodeDefaults ? nodeArgsFor(MAIN, { nodeDefaults: true }) : CLI_ARGS;
    const child = spawn(process.execPath, [...node, 'server', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server not ready in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = out.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m, output: () => out });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
}

export function waitExit(child: ChildProcess, timeoutMs = 15_000): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => reject(new Error('process did not exit')), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}
