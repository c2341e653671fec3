/**
 * Shared setup of the AWS KMS compatibility tests: a listening Keyhold with a
 * trusted policy key, a pushed Cedar bundle, identities with access keys, and
 * the real @aws-sdk/client-kms pointed at it.
 */
import type { TestContext } from 'node:test';
import { KMS, KMSClient } from '@aws-sdk/client-kms';
import { runningVault, bearer } from '../../helpers/keyhold.js';
import { signed, signingKey, trusted } from '../../policy/policy-fixtures.js';

export const REGION = 'us-east-1';
export const ACCOUNT = '111122223333';
const POLICY_KEY = signingKey('kms-tests');

/**
 * Cedar policies of the tests: root may do everything (setup through /v1); "kms-users" may do
 * everything through the KMS API, destructive actions included; "kms-readers" may only
 * read, list and encrypt there (their Decrypt is AccessDeniedException); "kms-rewrappers" may
 * rewrap and encrypt, not decrypt.
 */
export const TEST_POLICIES = `
permit(principal == Keyhold::User::"root", action, resource);
permit(principal in Keyhold::Group::"kms-users", action, resource) when { context.apiSurface == "aws-kms" };
permit(principal in Keyhold::Group::"kms-readers", action in [Keyhold::Action::"readKey", Keyhold::Action::"listKeys", Keyhold::Action::"encrypt", Keyhold::Action::"createKey"], resource)
  when { context.apiSurface == "aws-kms" };
permit(principal in Keyhold::Group::"kms-rewrappers", action in [Keyhold::Action::"rewrap", Keyhold::Action::"encrypt", Keyhold::Action::"createKey", Keyhold::Action::"readKey"], resource)
  when { context.apiSurface == "aws-kms" };
`;

export interface KmsSetup {
  readonly apiUrl: string;
  readonly rootToken: string;
  readonly dir: string;
  /** POST/GET on /v1 with the root token. */
  v1(method: 'GET' | 'POST' | 'DELETE' | 'PATCH', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  /** A user in `groups` with an access key, and a KMSClient signing with it. */
  client(name: string, groups: string[]): Promise<{ kms: KMSClient; accessKeyId: string; secretAccessKey: string }>;
  /** The aggregated client (methods per operation) for those credentials, as the AWS Encryption SDK wants it. */
  aggregated(credentials: { accessKeyId: string; secretAccessKey: string }): KMS;
}

export async function kmsSetup(t: Pick<TestContext, 'after'>, overrides: Record<string, unknown> = {}): Promise<KmsSetup> {
  const { server, rootToken, dir } = await runningVault(t, { policy: { trustedKeys: trusted(POLICY_KEY) }, ...overrides });
  const apiUrl = server.apiUrl;
  const v1: KmsSetup['v1'] = async (method, path, body) => {
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { ...bearer(rootToken), ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
  };
  const { bytes, signature } = await signed(POLICY_KEY, { version: 1, policies: TEST_POLICIES });
  const pushed = await v1('POST', '/v1/sys/policy', { bundle: Buffer.from(bytes).toString('base64'), signature });
  if (pushed.status !== 200) throw new Error(`policy push failed: ${JSON.stringify(pushed.body)}`);
  return {
    apiUrl,
    rootToken,
    dir,
    v1,
    async client(name, groups) {
      const user = await v1('POST', '/v1/auth/users', { name, password: 'correct horse battery', groups });
      if (user.status !== 200) throw new Error(`user: ${JSON.stringify(user.body)}`);
      const key = await v1('POST', '/v1/auth/access-keys', { principalType: 'User', principalName: name });
      if (key.status !== 200) throw new Error(`access key: ${JSON.stringify(key.body)}`);
      const accessKeyId = key.body.accessKeyId as string;
      const secretAccessKey = key.body.secretAccessKey as string;
      const kms = new KMSClient({ endpoint: apiUrl, region: REGION, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
      t.after(() => kms.destroy());
      return { kms, accessKeyId, secretAccessKey };
    },
    aggregated(credentials) {
      const kms = new KMS({ endpoint: apiUrl, region: REGION, credentials, maxAttempts: 1 });
      t.after(() => kms.destroy());
      return kms;
    },
  };
}

export const arnOf = (id: string): string => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
