/**
 * What one run of the `keyhold` CLI reads and writes. The binary (main.ts)
 * passes the process's own streams; tests pass in-memory ones and run many
 * programs in one process, so nothing under src/cli reads process.argv,
 * process.env, the standard streams or process.exitCode directly (the
 * long-running `server` and `agent` commands still own the process's signals).
 */
export interface CliOutput {
  write(chunk: string | Uint8Array): unknown;
  /** A terminal's width wraps --help (commander's own rule: only on a TTY). */
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface CliIo {
  /** The arguments after the program name (process.argv.slice(2)). */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** isTTY is true only for a terminal: secrets are then read without echo. */
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly stdout: CliOutput;
  readonly stderr: CliOutput;
  /** The exit code of the run (instead of process.exit, so pending output is never cut). */
  setExitCode(code: number): void;
}

/** The IO of this process, for the binary. */
export function processIo(): CliIo {
  return {
    argv: process.argv.slice(2),
    env: process.env,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    setExitCode: (code) => {
      process.exitCode = code;
    },
  };
}

/** Everything on stdin until it ends, as bytes. */
export async function readAllStdin(io: CliIo): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}
