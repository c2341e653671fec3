/**
 * Child processes for the server fault tests: the built CLI (dist/cli/main.js)
 * and fixture scripts run through tsx. Every child is SIGKILLed in t.after if
 * it is still running, and every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

import { REPO_ROOT } from '../helpers/repo-root.js';
export { REPO_ROOT };
export const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');

/** Fails with a clear message when the CLI was not built. */
export function requireBuiltCli(): string {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before these tests`);
  return CLI;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  readonly proc: ChildProcess;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<Exit>;
  /** Calls `fn` for each complete stdout line, including the ones already printed. */
  onLine(fn: (line: string) => void): void;
  /** Waits until stdout matches `re`; rejects on exit or timeout, with the output in the message. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** SIGKILL (if still running) and wait for the exit. */
  kill9(): Promise<Exit>;
}

export function spawnChild(t: Pick<TestContext, 'after'>, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Child {
  const proc = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...options.env },
  });
  let out = '';
  let err = '';
  let partial = '';
  const lineListeners: ((line: string) => void)[] = [];
  const lines: string[] = [];
  proc.stdout?.setEncoding('utf8');
  proc.stderr?.setEncoding('utf8');
  proc.stdout?.on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const fn of lineListeners) fn(line);
    }
  });
  proc.stderr?.on('data', (chunk: string) => {
    err += chunk;
  });
  let exitInfo: Exit | undefined;
  const exited = new Promise<Exit>((res) => {
    proc.on('close', (code, signal) => {
      exitInfo = { code, signal };
      res(exitInfo);
    });
    proc.on('error', () => {
      exitInfo ??= { code: null, signal: null };
      res(exitInfo);
    });
  });
  const kill9 = async (): Promise<Exit> => {
    if (exitInfo === undefined && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    return exited;
  };
  t.after(kill9);

  const child: Child = {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    onLine(fn) {
      for (const line of lines) fn(line);
      lineListeners.push(fn);
    },
    waitFor(re, timeoutMs) {
      return new Promise((res, rej) => {
        const check = (): boolean => {
          const m = re.exec(out);
          if (m === null) return false;
          cleanup();
          res(m);
          return true;
        };
        const onData = (): void => {
          check();
        };
        const onExit = (): void => {
          if (!check()) {
            cleanup();
            rej(new Error(`process exited (${JSON.stringify(exitInfo)}) before printing ${re}\nstdout:\n${out}\nstderr:\n${err}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          rej(new Error(`timed out after ${timeoutMs} ms waiting for ${re}\nstdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          proc.stdout?.off('data', onData);
          proc.off('close', onExit);
        };
        if (check()) return;
        // 'data' listeners run in registration order: ours runs after the accumulator above.
        proc.stdout?.on('data', onData);
        proc.on('close', onExit);
        if (exitInfo !== undefined) onExit();
      });
    },
    kill9,
  };
  return child;
}

/** Runs the built CLI to completion (SIGKILL after `timeoutMs`, which then fails the caller's assertions on `exit`). */
export async function runCli(
  t: Pick<TestContext, 'after'>,
  args: string[],
  timeoutMs: number,
): Promise<{ exit: Exit; stdout: string; stderr: string; timedOut: boolean }> {
  const child = spawnChild(t, [requireBuiltCli(), ...args]);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.proc.kill('SIGKILL');
  }, timeoutMs);
  const exit = await child.exited;
  clearTimeout(timer);
  return { exit, stdout: child.stdout(), stderr: child.stderr(), timedOut };
}

/** Starts `keyhold server ...` and waits for the API URL it prints (dev banner or "listening on"). */
export async function startCliServer(t: Pick<TestContext, 'after'>, args: string[], timeoutMs = 15_000): Promise<{ child: Child; apiUrl: string }> {
  const child = spawnChild(t, [requireBuiltCli(), 'server', ...args]);
  const m = await child.waitFor(/(?:API:\s+|listening on )(http:\/\/127\.0\.0\.1:\d+)/, timeoutMs);
  return { child, apiUrl: m[1]! };
}

/** A stack-trace line as Node prints them ("    at fn (file:1:2)"). */
export const STACK_LINE = /^\s+at .+(:\d+:\d+\)?|\(native\)|<anonymous>)$/m;
