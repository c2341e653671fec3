/** Runs the keyhold CLI from source (tsx) as a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const CLI_ARGS = ['--import', 'tsx', 'src/cli/main.ts'];

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

export async function runCli(args: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  const r = await spawnRaw(process.execPath, [...CLI_ARGS, ...args], { KEYHOLD_ADDR: '', KEYHOLD_TOKEN: '', ...env }, input);
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

/** Starts `keyhold server ...` and resolves once stdout contains `ready` (a regexp); returns the match. */
export function startCliServer(
  args: string[],
  ready: RegExp,
  { timeoutMs = 20_000, env = {} }: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_ARGS, 'server', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
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
