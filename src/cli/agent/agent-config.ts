/**
 * `keyhold agent` configuration (YAML or JSON; docs/agent.md). Paths in it
 * are relative to the file's folder. Validated whole before the agent does
 * anything, and every error names the field.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { CliError } from '../http-client.js';
import { isLoopback } from '../../config/load-config.js';

const Hex = (bytes: string) => Type.String({ pattern: `^(?:[0-9a-fA-F]{2}){${bytes}}$` });
const Pcrs = Type.Record(Type.String({ pattern: '^(?:[0-9]|1[0-5])$' }), Hex('32,64'));
/** Secret fields: the field of the secret (a KV key or a file name) mapped from an env var or a file name. */
const FieldMap = Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.String({ minLength: 1, maxLength: 256 }));

export const AgentConfigSchema = Type.Object(
  {
    vault: Type.Object(
      {
        address: Type.String({ pattern: '^https?://' }),
        /** PEM CA bundle that signed the vault's TLS certificate. */
        caFile: Type.Optional(Type.String()),
        /** What the vault must prove before the agent sends it anything. */
        attestation: Type.Object(
          {
            expectPcrs: Type.Optional(Pcrs),
            /** Extra trust anchors (PEM files): the simulated root in development. The AWS Nitro root is always trusted. */
            roots: Type.Array(Type.String(), { default: [] }),
            /** Development only: no vault attestation at all (logged as a warning at every start). */
            skip: Type.Boolean({ default: false }),
            maxAgeSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 300 }),
          },
          { additionalProperties: false, default: {} },
        ),
        /** Fetch through the end-to-end channel (docs/protocols.md §1) instead of relying on TLS alone. */
        e2e: Type.Boolean({ default: false }),
      },
      { additionalProperties: false },
    ),
    /** How this workload proves itself. */
    attestation: Type.Object(
      {
        provider: Type.Union([Type.Literal('simulated'), Type.Literal('nsm')]),
        simulated: Type.Object(
          {
            rootDir: Type.Optional(Type.String()),
            /** Report these PCRs instead of measuring a Keyhold build (the workload's own measurements in development). */
            pcrs: Type.Optional(Pcrs),
          },
          { additionalProperties: false, default: {} },
        ),
        nsm: Type.Object({ helperPath: Type.Optional(Type.String()), timeoutMs: Type.Integer({ minimum: 100, default: 5000 }) }, { additionalProperties: false, default: {} }),
      },
      { additionalProperties: false },
    ),
    role: Type.String({ minLength: 1, maxLength: 128 }),
    secrets: Type.Array(
      Type.Object(
        {
          path: Type.String({ minLength: 1, maxLength: 512 }),
          /** ENV_VAR: field */
          env: Type.Optional(FieldMap),
          /** file name (inside output.dir): field */
          files: Type.Optional(FieldMap),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 256 },
    ),
    templates: Type.Array(
      Type.Object({ source: Type.String({ minLength: 1 }), destination: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false }),
      { default: [], maxItems: 64 },
    ),
    output: Type.Object(
      {
        /** Default: a fresh folder on $XDG_RUNTIME_DIR or /dev/shm. */
        dir: Type.Optional(Type.String()),
        allowPersistentDisk: Type.Boolean({ default: false }),
      },
      { additionalProperties: false, default: {} },
    ),
    refresh: Type.Object(
      {
        /** Re-fetch every secret this often; a change rewrites files and signals the workload. 0: never. */
        intervalSeconds: Type.Integer({ minimum: 0, maximum: 86400, default: 60 }),
        signal: Type.String({ pattern: '^SIG[A-Z0-9]+$', default: 'SIGHUP' }),
        /** Daemon mode (no command): the process to signal, by PID file. */
        pidFile: Type.Optional(Type.String()),
      },
      { additionalProperties: false, default: {} },
    ),
    startup: Type.Object(
      {
        /** Attempts to reach the vault, log in and fetch, with exponential backoff (1 s doubling to 30 s). 0: forever. */
        attempts: Type.Integer({ minimum: 0, maximum: 1000, default: 8 }),
        /** Start the workload even when the secrets could not be fetched (it then gets none). */
        startWithoutSecrets: Type.Boolean({ default: false }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type AgentConfig = Static<typeof AgentConfigSchema>;

/** Reads, defaults, validates; relative paths become relative to the file. */
export function loadAgentConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError('KH_AGENT_CONFIG_INVALID', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 2);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new CliError('KH_AGENT_CONFIG_INVALID', `${file} is not YAML/JSON: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, 2);
  }
  const withDefaults = Value.Default(AgentConfigSchema, Value.Clone(raw));
  const first = [...Value.Errors(AgentConfigSchema, withDefaults)][0];
  if (first !== undefined) throw new CliError('KH_AGENT_CONFIG_INVALID', `${file}: ${first.path || '/'}: ${first.message}`, 2);
  const config = withDefaults as AgentConfig;
  const base = dirname(resolve(file));
  const at = (p: string) => resolve(base, p);
  if (!config.vault.attestation.skip && Object.keys(config.vault.attestation.expectPcrs ?? {}).length === 0)
    throw new CliError('KH_AGENT_CONFIG_INVALID', `${file}: /vault/attestation/expectPcrs: pin at least one PCR of the vault (or skip: true, for development only)`, 2);
  const address = new URL(config.vault.address);
  // Plain HTTP would carry the secrets in the clear: only where they never leave the machine, or inside the E2E channel.
  if (address.protocol === 'http:' && !isLoopback(address.hostname.replace(/^\[|\]$/g, '')) && !config.vault.e2e)
    throw new CliError('KH_AGENT_CONFIG_INVALID', `${file}: /vault/address: use https (or vault.e2e: true); plain http is accepted only on loopback`, 2);
  if (config.vault.e2e && config.vault.attestation.skip) throw new CliError('KH_AGENT_CONFIG_INVALID', `${file}: /vault/e2e needs the vault's attestation (skip: false)`, 2);
  const envNames = new Set<string>();
  for (const s of config.secrets) {
    for (const name of Object.keys(s.env ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new CliError('KH_AGENT_CONFIG_INVALID', `${file}: /secrets: "${name}" is not an environment variable name`, 2);
      if (envNames.has(name)) throw new CliError('KH_AGENT_CONFIG_INVALID', `${file}: /secrets: ${name} is set twice`, 2);
      envNames.add(name);
    }
  }
  return {
    ...config,
    vault: { ...config.vault, ...(config.vault.caFile !== undefined && { caFile: at(config.vault.caFile) }), attestation: { ...config.vault.attestation, roots: config.vault.attestation.roots.map(at) } },
    attestation: { ...config.attestation, simulated: { ...config.attestation.simulated, ...(config.attestation.simulated.rootDir !== undefined && { rootDir: at(config.attestation.simulated.rootDir) }) } },
    templates: config.templates.map((t) => ({ ...t, source: at(t.source) })),
    output: { ...config.output, ...(config.output.dir !== undefined && { dir: at(config.output.dir) }) },
    refresh: { ...config.refresh, ...(config.refresh.pidFile !== undefined && { pidFile: at(config.refresh.pidFile) }) },
  };
}
