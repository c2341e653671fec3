/**
 * The agent's conversation with the vault (docs/secrets.md):
 *
 *   connect: verify the vault's attestation (vault-attestation.ts), make a
 *            fresh Ed25519 request-signing key, take a challenge from
 *            GET /v1/auth/attest/challenge, have the local provider attest
 *            {public_key: that key (SPKI DER), nonce: the challenge}, and
 *            POST /v1/auth/attest/login. The token is bound to the key
 *            (cnf.jkt), so every later request is signed with it (RFC 9421);
 *            the key never leaves this process and is replaced on renewal.
 *   fetch:   GET /v1/secrets/data/<path>, signed; values and files decoded.
 *            A secret with a release policy answers KH_RELEASE_RECIPIENT_REQUIRED
 *            there: the agent then asks POST /v1/secrets/release/<path> with a
 *            second local document whose public_key is a fresh X25519 key, and
 *            opens the HPKE-sealed answer (docs/key-release.md) in memory.
 *
 * With vault.e2e the same requests travel through the end-to-end channel.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { hpkeOpenX25519 } from '../../crypto/recipient/hpke-x25519.js';
import { RECIPIENT_INFO } from '../../crypto/recipient/recipient-envelope.js';
import { createSimulatedProvider } from '../../attestation/simulated/simulated-provider.js';
import { createNsmProvider } from '../../attestation/nsm/nsm-provider.js';
import type { AttestationProvider } from '../../attestation/provider.js';
import { call, CliError, type ClientOptions } from '../http-client.js';
import type { AgentConfig } from './agent-config.js';
import type { SecretSource } from './agent.js';
import { verifyVault } from './vault-attestation.js';

interface TokenAnswer {
  accessToken: string;
  expiresIn: number;
}

interface SecretAnswer {
  data: Record<string, string>;
  files: Record<string, string>;
}

export async function attestationProvider(config: AgentConfig['attestation']): Promise<AttestationProvider> {
  if (config.provider === 'nsm') return createNsmProvider({ ...(config.nsm.helperPath !== undefined && { helperPath: config.nsm.helperPath }), timeoutMs: config.nsm.timeoutMs });
  if (config.simulated.rootDir === undefined) throw new CliError('KH_AGENT_CONFIG_INVALID', 'attestation.simulated.rootDir: the simulated root folder the vault trusts is required', 2);
  const pcrs = config.simulated.pcrs === undefined ? undefined : new Map(Object.entries(config.simulated.pcrs).map(([i, h]) => [Number(i), new Uint8Array(Buffer.from(h, 'hex'))]));
  return createSimulatedProvider({ rootDir: config.simulated.rootDir, ...(pcrs !== undefined && { pcrs }) });
}

/** Secret paths go into the URL segment by segment, each percent-encoded. */
function secretUrl(path: string, kind: 'data' | 'release' = 'data'): string {
  return `/v1/secrets/${kind}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

function fieldsOf(answer: SecretAnswer): Map<string, Uint8Array> {
  const fields = new Map<string, Uint8Array>();
  for (const [k, value] of Object.entries(answer.data)) fields.set(k, new Uint8Array(Buffer.from(value, 'utf8')));
  for (const [k, b64] of Object.entries(answer.files)) fields.set(k, new Uint8Array(Buffer.from(b64, 'base64')));
  return fields;
}

export class VaultSession implements SecretSource {
  readonly #config: AgentConfig;
  readonly #provider: AttestationProvider;
  #token: string | undefined;
  #signingKey: KeyObject | undefined;
  #expiresAt = 0;
  /** The attested TLS certificate: the connections that carry the login and the secrets must present it. */
  #pin: string | undefined;

  constructor(config: AgentConfig, provider: AttestationProvider) {
    this.#config = config;
    this.#provider = provider;
  }

  #options(): ClientOptions {
    const v = this.#config.vault;
    return {
      address: v.address,
      ...(v.caFile !== undefined && { caCert: v.caFile }),
      ...(this.#pin !== undefined && { pinnedCertSha256: this.#pin }),
      ...(this.#token !== undefined && { token: this.#token }),
      ...(this.#signingKey !== undefined && { signingKey: this.#signingKey }),
      ...(v.e2e && { e2e: { expectedPcrs: Object.fromEntries(Object.entries(v.attestation.expectPcrs ?? {}).map(([i, h]) => [Number(i), h])), rootFiles: [...v.attestation.roots] } }),
    };
  }

  async connect(): Promise<void> {
    const v = this.#config.vault;
    if (!v.attestation.skip) {
      const verified = await verifyVault({ address: v.address, caFile: v.caFile, expectPcrs: v.attestation.expectPcrs ?? {}, roots: v.attestation.roots, maxAgeSeconds: v.attestation.maxAgeSeconds });
      this.#pin = verified.certSha256;
    }
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const unauthenticated = { ...this.#options(), token: undefined, signingKey: undefined };
    const { nonce } = (await call(unauthenticated, 'GET', '/v1/auth/attest/challenge')) as { nonce: string };
    let document: Uint8Array;
    try {
      document = await this.#provider.attest({ publicKey: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })), nonce: new Uint8Array(Buffer.from(nonce, 'hex')) });
    } catch (e) {
      throw new CliError('KH_AGENT_ATTESTATION_FAILED', `the local attestation provider (${this.#provider.kind}) failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    const answer = (await call(unauthenticated, 'POST', '/v1/auth/attest/login', { role: this.#config.role, attestationDocument: Buffer.from(document).toString('base64') })) as TokenAnswer;
    this.#token = answer.accessToken;
    this.#signingKey = privateKey;
    this.#expiresAt = Date.now() + answer.expiresIn * 1000;
  }

  async fetch(path: string): Promise<Map<string, Uint8Array>> {
    if (this.#token === undefined) throw new CliError('KH_AGENT_NOT_LOGGED_IN', 'fetch before connect');
    try {
      return fieldsOf((await call(this.#options(), 'GET', secretUrl(path))) as SecretAnswer);
    } catch (e) {
      if (e instanceof CliError && e.code === 'KH_RELEASE_RECIPIENT_REQUIRED') return this.#fetchReleased(path);
      throw e;
    }
  }

  /** A release-policy secret: sealed by the vault to an X25519 key that exists only here, for this one answer. */
  async #fetchReleased(path: string): Promise<Map<string, Uint8Array>> {
    const { publicKey, privateKey } = generateKeyPairSync('x25519');
    const raw = (k: KeyObject, member: 'x' | 'd') => new Uint8Array(Buffer.from(k.export({ format: 'jwk' })[member] as string, 'base64url'));
    const document = await this.#provider.attest({ publicKey: raw(publicKey, 'x') });
    const answer = (await call(this.#options(), 'POST', secretUrl(path, 'release'), { recipient: { attestationDocument: Buffer.from(document).toString('base64') } })) as { ciphertextForRecipient: string };
    const secret = raw(privateKey, 'd');
    try {
      const opened = await hpkeOpenX25519(secret, new Uint8Array(Buffer.from(answer.ciphertextForRecipient, 'base64')), RECIPIENT_INFO);
      if (opened === undefined) throw new CliError('KH_AGENT_RELEASE_FAILED', `the sealed answer for "${path}" does not open with this agent's key`);
      try {
        return fieldsOf(JSON.parse(Buffer.from(opened).toString('utf8')) as SecretAnswer);
      } finally {
        opened.fill(0);
      }
    } finally {
      secret.fill(0);
    }
  }

  secondsLeft(): number {
    return Math.max(0, Math.floor((this.#expiresAt - Date.now()) / 1000));
  }

  async close(): Promise<void> {
    await this.#provider.close();
  }
}
