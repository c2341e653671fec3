/**
 * How NSM messages reach /dev/nsm. The device speaks through one ioctl
 * (include/uapi/linux/nsm.h: an iovec pair, request and response CBOR), and
 * Node has no ioctl, so each exchange runs a small helper executable
 * (deploy/nitro/nsm-helper, built into the enclave image) that reads the
 * request CBOR on stdin, does the ioctl through the AWS crate and writes the
 * response CBOR on stdout. One process per exchange: nothing stays open, a
 * crashed or hung helper takes nothing with it, and the timeout can kill it.
 *
 * The helper runs without a shell and with an empty environment (Keyhold's
 * environment may hold secrets such as an HSM PIN; the helper needs none).
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { NSM_RESPONSE_MAX_BYTES, nsmFail } from './nsm-messages.js';

/** Sends one request CBOR, resolves with the response CBOR. Rejections must be AttestationErrors. */
export type NsmTransport = (request: Uint8Array) => Promise<Uint8Array>;

export const DEFAULT_NSM_HELPER_PATH = '/usr/local/bin/keyhold-nsm';
/** Matches the config default (enclave.nsm.timeoutMs); an attestation takes milliseconds on Nitro. */
export const DEFAULT_NSM_TIMEOUT_MS = 5000;
/** Helpers running at once; more wait their turn, so a burst of requests cannot fork without bound. */
const DEFAULT_MAX_CONCURRENT = 4;
/** stderr kept for the failure detail; enough for a Rust error line, not a flood. */
const MAX_STDERR_BYTES = 2048;

export interface HelperTransportOptions {
  /** Absolute path of the helper executable. */
  readonly helperPath?: string;
  /** Arguments for the helper (tests run a node script as the helper through process.execPath). */
  readonly args?: readonly string[];
  readonly timeoutMs?: number;
  /** Cap on stdout; the helper is killed beyond it. Default NSM_RESPONSE_MAX_BYTES. */
  readonly maxResponseBytes?: number;
  readonly maxConcurrent?: number;
}

/** A counting semaphore that hands a released slot straight to the next waiter (no window for a third caller to slip in). */
function limiter(max: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active < max) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

function runHelperOnce(helperPath: string, args: readonly string[], request: Uint8Array, timeoutMs: number, maxBytes: number): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    let settled = false;
    let child: ChildProcessWithoutNullStreams | undefined;
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';

    function finish(outcome: () => Uint8Array): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        resolve(outcome());
      } catch (e) {
        reject(e);
      }
    }
    function kill(): void {
      // The helper may already be gone; then there is nothing to kill.
      if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }

    const timer = setTimeout(() => {
      kill();
      finish(() => nsmFail('helper-timeout', `no answer within ${timeoutMs} ms`));
    }, timeoutMs);

    try {
      child = spawn(helperPath, [...args], { shell: false, env: {}, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    } catch (e) {
      // spawn throws synchronously only for unusable arguments (say a NUL in the path); ENOENT and EACCES arrive as 'error'.
      finish(() => nsmFail('helper-unavailable', 'cannot spawn the helper', { cause: e }));
      return;
    }

    child.on('error', (e: NodeJS.ErrnoException) => {
      const reason = e.code === 'ENOENT' || e.code === 'EACCES' ? 'helper-unavailable' : 'helper-failed';
      kill();
      finish(() => nsmFail(reason, `cannot run ${helperPath}`, { cause: e }));
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxBytes) {
        kill();
        finish(() => nsmFail('response-oversized', `helper wrote more than ${maxBytes} bytes`));
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.toString('utf8').slice(0, MAX_STDERR_BYTES - stderr.length);
    });
    child.on('close', (code, signal) => {
      finish(() => {
        if (code !== 0) {
          const how = code === null ? `killed by ${String(signal)}` : `exit status ${code}`;
          return nsmFail('helper-failed', `${helperPath} ${how}${stderr ? `: ${stderr.trim()}` : ''}`);
        }
        const out = Buffer.concat(stdout);
        return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      });
    });

    // A helper that exits before reading (missing device, bad arguments) closes
    // the pipe: EPIPE here is expected, and 'close' above reports the real outcome.
    child.stdin.on('error', () => undefined);
    child.stdin.end(Buffer.from(request.buffer, request.byteOffset, request.byteLength));
  });
}

/**
 * The production transport: one helper process per exchange.
 * Rejects only with AttestationError KH_ATTESTATION_PROVIDER_FAILED (cause:
 * NsmFailure helper-unavailable | helper-failed | helper-timeout | response-oversized).
 */
export function createHelperTransport(options: HelperTransportOptions = {}): NsmTransport {
  const helperPath = options.helperPath ?? DEFAULT_NSM_HELPER_PATH;
  const args = options.args ?? [];
  const timeoutMs = options.timeoutMs ?? DEFAULT_NSM_TIMEOUT_MS;
  const maxBytes = options.maxResponseBytes ?? NSM_RESPONSE_MAX_BYTES;
  const maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new TypeError('timeoutMs must be a positive integer');
  if (!Number.isInteger(maxBytes) || maxBytes <= 0) throw new TypeError('maxResponseBytes must be a positive integer');
  if (!Number.isInteger(maxConcurrent) || maxConcurrent <= 0) throw new TypeError('maxConcurrent must be a positive integer');
  const slot = limiter(maxConcurrent);
  return (request) => slot(() => runHelperOnce(helperPath, args, request, timeoutMs, maxBytes));
}
