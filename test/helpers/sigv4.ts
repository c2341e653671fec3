/**
 * Requests signed by the AWS SDK's own SigV4 signer (@smithy/signature-v4),
 * with node:crypto as its SHA-256 / HMAC-SHA-256, returned in the shape the
 * verifier takes (src/auth/sigv4.ts SigV4Request).
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

type SourceData = string | ArrayBuffer | ArrayBufferView;

const bytesOf = (d: SourceData): Uint8Array =>
  typeof d === 'string' ? new TextEncoder().encode(d) : d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** node:crypto as the signer's Checksum: SHA-256, or HMAC-SHA-256 under `secret`. */
export class NodeSha256 {
  #h: Hash | Hmac;
  readonly #secret: SourceData | undefined;

  constructor(secret?: SourceData) {
    this.#secret = secret;
    this.#h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret));
  }

  update(data: SourceData): void {
    this.#h.update(bytesOf(data));
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#h.digest()));
  }

  reset(): void {
    this.#h = this.#secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(this.#secret));
  }
}

/** RFC 3986 percent-encoding of everything but unreserved characters, as AWS canonical URIs and queries use. */
export const escapeUri = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The query as it goes on the wire (keys and values escaped, repeated keys repeated). */
export function wireQuery(query: Record<string, string | string[]>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) for (const value of Array.isArray(v) ? v : [v]) parts.push(`${escapeUri(k)}=${escapeUri(value)}`);
  return parts.join('&');
}

export interface SignInput {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  region: string;
  service: string;
  date: Date;
  method?: string | undefined;
  /** Already escaped, as it goes on the wire. */
  path?: string | undefined;
  query?: Record<string, string | string[]> | undefined;
  headers?: Record<string, string> | undefined;
  body?: Uint8Array | undefined;
  /** Add x-amz-content-sha256 (as S3 clients do). */
  applyChecksum?: boolean | undefined;
}

/** A request to host kms.example.test signed by the SDK's signer, with lower-case header names. */
export async function signWithSdk(input: SignInput): Promise<{ method: string; path: string; query: string; headers: Record<string, string>; body: Uint8Array }> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: input.accessKeyId, secretAccessKey: input.secretAccessKey, ...(input.sessionToken !== undefined && { sessionToken: input.sessionToken }) },
    region: input.region,
    service: input.service,
    sha256: NodeSha256,
    applyChecksum: input.applyChecksum ?? false,
  });
  const body = input.body ?? new Uint8Array();
  const query = input.query ?? {};
  const signed = await signer.sign(
    { method: input.method ?? 'POST', protocol: 'https:', hostname: 'kms.example.test', path: input.path ?? '/', query, headers: { host: 'kms.example.test', ...input.headers }, body },
    { signingDate: input.date },
  );
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) headers[k.toLowerCase()] = v;
  return { method: signed.method, path: signed.path, query: wireQuery(query), headers, body };
}
