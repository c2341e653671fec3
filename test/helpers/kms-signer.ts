/**
 * Signed AWS KMS (JSON 1.1) requests for tests that inject raw requests (bad
 * input, the leak test): the AWS SDK's own SigV4 signer with node:crypto
 * (sigv4.ts), for `POST /` on host localhost:80, which is what inject() sends.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from './sigv4.js';

export interface SignedRequest {
  headers: Record<string, string>;
  body: string;
}

/** @returns sign(headers, body): the headers with host, x-amz-date and authorization added */
export function sigv4Signer(options: { accessKeyId: string; secretAccessKey: string; region?: string; service?: string; host?: string }) {
  const signer = new SignatureV4({
    service: options.service ?? 'kms',
    region: options.region ?? 'us-east-1',
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    sha256: NodeSha256,
  });
  const host = options.host ?? 'localhost:80';
  return async (headers: Record<string, string>, body: string): Promise<SignedRequest> => {
    const req = await signer.sign({ method: 'POST', protocol: 'http:', hostname: host.split(':')[0]!, path: '/', headers: { host, ...headers }, body });
    return { headers: req.headers, body };
  };
}

/** Headers of a KMS request for `operation`. */
export const kmsHeaders = (operation: string): Record<string, string> => ({ 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` });
