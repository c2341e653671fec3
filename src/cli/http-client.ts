/**
 * The CLI's HTTP client: node:http/https with optional CA and client
 * certificate (mTLS), JSON in and out, and Keyhold's error body turned into
 * a CliError carrying the server's code.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';

export interface ClientOptions {
  address: string;
  token?: string | undefined;
  caCert?: string | undefined;
  clientCert?: string | undefined;
  clientKey?: string | undefined;
}

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export async function request(options: ClientOptions, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  let url: URL;
  try {
    url = new URL(path, options.address);
  } catch {
    throw new CliError('KH_CLI_USAGE', `invalid address ${options.address}`, 2);
  }
  const tls = url.protocol === 'https:';
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (options.token !== undefined && options.token !== '') headers.authorization = `Bearer ${options.token}`;
  const file = (f: string | undefined) => (f === undefined ? undefined : readFileSync(f));
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(
      url,
      {
        method,
        headers,
        timeout: 30_000,
        ...(tls ? { ca: file(options.caCert), cert: file(options.clientCert), key: file(options.clientKey) } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            /* keep text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new CliError('KH_CLI_UNREACHABLE', `cannot reach Keyhold at ${options.address}: ${e.message}`)));
    req.end(payload);
  });
}

/** Returns the body of a 2xx answer, or throws the server's error as a CliError. */
export async function call(options: ClientOptions, method: string, path: string, body?: unknown): Promise<unknown> {
  const answer = await request(options, method, path, body);
  if (answer.status >= 200 && answer.status < 300) return answer.body;
  const err = (answer.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (typeof err?.code === 'string') throw new CliError(err.code, typeof err.message === 'string' ? err.message : 'request failed');
  throw new CliError('KH_CLI_HTTP', `unexpected HTTP ${answer.status} from ${options.address}`);
}
