/**
 * Loads the configuration: file (JSON or YAML) -> defaults -> KEYHOLD_* env
 * overrides -> validation. Errors name the offending field.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { KeyholdError } from '../errors.js';
import { ConfigSchema, type KeyholdConfig } from './config-schema.js';
import { vssmConfigProblem } from './vssm-config.js';
import { isReservedUserId, RESERVED_USER_IDS } from '../auth/principal.js';

/** Environment variables that override file values (documented in docs/configuration.md). */
export const ENV_OVERRIDES: Record<string, { path: string[]; type: 'string' | 'int' | 'bool' }> = {
  KEYHOLD_STORAGE_PATH: { path: ['storage', 'path'], type: 'string' },
  KEYHOLD_API_HOST: { path: ['listeners', 'api', 'host'], type: 'string' },
  KEYHOLD_API_PORT: { path: ['listeners', 'api', 'port'], type: 'int' },
  KEYHOLD_HEALTH_HOST: { path: ['listeners', 'health', 'host'], type: 'string' },
  KEYHOLD_HEALTH_PORT: { path: ['listeners', 'health', 'port'], type: 'int' },
  KEYHOLD_TLS_CERT_FILE: { path: ['listeners', 'api', 'tls', 'certFile'], type: 'string' },
  KEYHOLD_TLS_KEY_FILE: { path: ['listeners', 'api', 'tls', 'keyFile'], type: 'string' },
  KEYHOLD_TLS_CLIENT_CA_FILE: { path: ['listeners', 'api', 'tls', 'clientCaFile'], type: 'string' },
  KEYHOLD_TLS_REQUIRE_CLIENT_CERT: { path: ['listeners', 'api', 'tls', 'requireClientCert'], type: 'bool' },
  KEYHOLD_LOG_LEVEL: { path: ['log', 'level'], type: 'string' },
  KEYHOLD_AUDIT_FILE: { path: ['audit', 'file'], type: 'string' },
  KEYHOLD_ADMIN_PASSWORD_HASH: { path: ['auth', 'admin', 'passwordHash'], type: 'string' },
};

function invalid(message: string): KeyholdError {
  return new KeyholdError('KH_CONFIG_INVALID', `invalid configuration: ${message}`);
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function parseEnvValue(name: string, raw: string, type: 'string' | 'int' | 'bool'): unknown {
  if (type === 'string') return raw;
  if (type === 'int') {
    if (!/^\d+$/.test(raw)) throw invalid(`${name} must be an integer`);
    return Number(raw);
  }
  if (raw !== 'true' && raw !== 'false') throw invalid(`${name} must be true or false`);
  return raw === 'true';
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Why `seal.type` cannot work with this attestation provider, or undefined.
 * Only the simulated enclave has a sealing secret; a Nitro enclave has none
 * (the root key would be bound through AWS KMS with an attestation condition).
 */
export function enclaveSealProblem(sealType: KeyholdConfig['seal']['type'], provider: KeyholdConfig['enclave']['provider']): string | undefined {
  if (sealType !== 'enclave') return undefined;
  if (provider === 'none') return 'seal.type enclave binds the root key to the measurements of an enclave: it needs enclave.provider: simulated';
  if (provider === 'nsm')
    return (
      'seal.type enclave is not available with enclave.provider: nsm: a Nitro enclave has no sealing key to derive a measurement-bound key from ' +
      '(binding the root key through AWS KMS with an attestation condition is not built yet); use seal.type shamir or pkcs11'
    );
  return undefined;
}

/** Validates a raw object (from a file or code) into a complete configuration. */
export function resolveConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): KeyholdConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('the top level must be an object');
  const merged = structuredClone(raw) as Record<string, unknown>;
  for (const [name, spec] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(merged, spec.path, parseEnvValue(name, v, spec.type));
  }
  const withDefaults = Value.Default(ConfigSchema, merged);
  const first = Value.Errors(ConfigSchema, withDefaults).First();
  if (first !== undefined) throw invalid(`${first.path || '/'}: ${first.message}`);
  const config = withDefaults as KeyholdConfig;
  // Keys and tokens cross the API port: without TLS it may only face this machine.
  // (A VSSM rpcCertificate is TLS too: the API port serves it, or before bootstrap a self-signed one.)
  if (config.listeners.api.tls === undefined && config.compat.vssm?.rpcCertificate === undefined && !isLoopback(config.listeners.api.host))
    throw invalid(`listeners.api.host ${config.listeners.api.host} is not loopback, so listeners.api.tls is required`);
  if (config.listeners.api.tls?.requireClientCert === true && config.listeners.api.tls.clientCaFile === undefined)
    throw invalid('listeners.api.tls.requireClientCert needs listeners.api.tls.clientCaFile');
  const vssm = vssmConfigProblem(config);
  if (vssm !== undefined) throw invalid(vssm);
  const admin = config.auth.admin?.username;
  // Policies name principals by id: an admin called "root" would be the root token to every policy (issue 15 L4).
  if (admin !== undefined && isReservedUserId(admin))
    throw invalid(`auth.admin.username "${admin}" is the name of a built-in principal (${RESERVED_USER_IDS.join(', ')}); choose another`);
  for (const [name, role] of Object.entries(config.auth.attestRoles)) {
    // The AWS Nitro root is always trusted: a role that pins nothing would admit every enclave anyone can build.
    if (Object.keys(role.pcrs ?? {}).length === 0 && role.moduleIdPrefix === undefined && role.allowAnyMeasurement !== true)
      throw invalid(`auth.attestRoles.${name} pins no measurement: give pcrs (at least PCR0) or moduleIdPrefix, or allowAnyMeasurement: true`);
  }
  const enclaveSeal = enclaveSealProblem(config.seal.type, config.enclave.provider);
  if (enclaveSeal !== undefined) throw invalid(enclaveSeal);
  const p11 = config.seal.pkcs11;
  if (config.seal.type === 'pkcs11' && p11 === undefined) throw invalid('seal.type pkcs11 needs seal.pkcs11');
  if (config.entropy.source === 'pkcs11' && p11 === undefined) throw invalid('entropy.source pkcs11 uses the HSM of seal.pkcs11, which is missing');
  if (p11 !== undefined) {
    if ((p11.slot === undefined) === (p11.tokenLabel === undefined)) throw invalid('seal.pkcs11 needs exactly one of slot and tokenLabel');
    if ((p11.pinEnv === undefined) === (p11.pinFile === undefined)) throw invalid('seal.pkcs11 needs exactly one of pinEnv and pinFile (the PIN never goes in the configuration file)');
  }
  return config;
}

/** Reads a JSON or YAML file (by extension; YAML is a superset of JSON anyway). */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): KeyholdConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KeyholdError('KH_CONFIG_INVALID', `cannot read configuration file ${path}`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = path.endsWith('.json') ? JSON.parse(text) : (parseYaml(text) ?? {});
  } catch (e) {
    throw new KeyholdError('KH_CONFIG_INVALID', `configuration file ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}`, { cause: e });
  }
  return resolveConfig(raw, env);
}
