/**
 * VSSM's config.json, accepted as is (docs/compat.md#vssm, "Configuration"):
 *   { "rpcCertificate": "<base64 DER>", "clientTrustStore": ["<base64 DER CA>", ...],
 *     "rootPassword": "$s0$<hex params>$<base64 salt>$<base64 hash>" }
 * becomes Keyhold's `compat.vssm` section. Other fields VSSM reads
 * (bootstrapHost, for its cloud auto-bootstrap) mean nothing to Keyhold and
 * are ignored, as VSSM ignores fields it does not read.
 *
 * Lookup, as VSSM: the given file, else ./config.json, else /etc/vssm/config.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { KeyholdError } from '../errors.js';
import { parseScryptHash } from '../auth/password.js';
import type { KeyholdConfig } from './config-schema.js';

export type VssmSection = NonNullable<KeyholdConfig['compat']['vssm']>;

export const VSSM_CONFIG_LOCATIONS = ['config.json', '/etc/vssm/config.json'] as const;

const invalid = (file: string, why: string) => new KeyholdError('KH_CONFIG_INVALID', `invalid VSSM configuration ${file}: ${why}`);

/** @throws KeyholdError KH_CONFIG_INVALID when neither ./config.json nor /etc/vssm/config.json exists */
export function findVssmConfig(exists: (path: string) => boolean = existsSync): string {
  const found = VSSM_CONFIG_LOCATIONS.find((p) => exists(p));
  if (found === undefined) throw new KeyholdError('KH_CONFIG_INVALID', 'no VSSM configuration: neither ./config.json nor /etc/vssm/config.json exists');
  return found;
}

function derCertificate(file: string, field: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) throw invalid(file, `${field} must be base64 DER`);
  try {
    new X509Certificate(Buffer.from(value, 'base64'));
  } catch {
    throw invalid(file, `${field} is not an X.509 certificate`);
  }
  return value;
}

/** Parses a VSSM config.json into Keyhold's compat.vssm section. @throws KeyholdError KH_CONFIG_INVALID naming the field */
export function parseVssmConfig(text: string, file = 'config.json'): VssmSection {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new KeyholdError('KH_CONFIG_INVALID', `invalid VSSM configuration ${file}: not JSON`, { cause: e });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid(file, 'the top level must be an object');
  const o = raw as Record<string, unknown>;
  const rpcCertificate = derCertificate(file, 'rpcCertificate', o.rpcCertificate);
  if (!Array.isArray(o.clientTrustStore) || o.clientTrustStore.length === 0) throw invalid(file, 'clientTrustStore must be a non-empty array of base64 DER CA certificates');
  const clientTrustStore = o.clientTrustStore.map((c, i) => derCertificate(file, `clientTrustStore[${i}]`, c));
  if (typeof o.rootPassword !== 'string' || parseScryptHash(o.rootPassword) === undefined) throw invalid(file, 'rootPassword must be an scrypt hash $s0$<hex params>$<base64 salt>$<base64 hash>');
  return { rpcCertificate, clientTrustStore, rootPassword: o.rootPassword };
}

export function readVssmConfig(file: string): VssmSection {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new KeyholdError('KH_CONFIG_INVALID', `cannot read VSSM configuration ${file}`, { cause: e });
  }
  return parseVssmConfig(text, file);
}

/** base64 DER -> PEM, for node's TLS options. */
export function pemCertificate(der: string): string {
  return `-----BEGIN CERTIFICATE-----\n${der.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

/**
 * What is wrong with a configuration's VSSM section and API TLS together, or undefined.
 * With rpcCertificate the VSSM section owns the API port's TLS (listeners.api.tls must be absent);
 * without it, VSSM clients authenticate with listeners.api.tls.clientCaFile.
 */
export function vssmConfigProblem(config: KeyholdConfig): string | undefined {
  const vssm = config.compat.vssm;
  if (vssm === undefined) return undefined;
  if (vssm.rootPassword !== undefined && parseScryptHash(vssm.rootPassword) === undefined) return 'compat.vssm.rootPassword is not an scrypt hash ($s0$<hex params>$<base64 salt>$<base64 hash>)';
  if (vssm.rpcCertificate !== undefined) {
    if (config.listeners.api.tls !== undefined) return 'compat.vssm.rpcCertificate serves the API port: remove listeners.api.tls (or drop rpcCertificate to use listeners.api.tls)';
    if (vssm.clientTrustStore.length === 0) return 'compat.vssm.rpcCertificate needs compat.vssm.clientTrustStore (the CAs of VSSM clients)';
    for (const [field, der] of [['rpcCertificate', vssm.rpcCertificate], ...vssm.clientTrustStore.map((c, i) => [`clientTrustStore[${i}]`, c] as const)] as const) {
      try {
        new X509Certificate(Buffer.from(der, 'base64'));
      } catch {
        return `compat.vssm.${field} is not a base64 DER X.509 certificate`;
      }
    }
    return undefined;
  }
  if (vssm.clientTrustStore.length > 0) return 'compat.vssm.clientTrustStore needs compat.vssm.rpcCertificate; with listeners.api.tls, put the client CAs in listeners.api.tls.clientCaFile';
  if (config.listeners.api.tls?.clientCaFile === undefined) return 'the VSSM API needs client certificates: set compat.vssm.rpcCertificate and clientTrustStore, or listeners.api.tls with clientCaFile';
  return undefined;
}

/**
 * The raw configuration `keyhold server --vssm-config` runs with when no
 * Keyhold configuration file is given: VSSM's ports on all interfaces (as
 * VSSM listens), SQLite and the audit log under ./data.
 */
export function vssmServerDefaults(vssm: VssmSection): Record<string, unknown> {
  return {
    listeners: { api: { host: '0.0.0.0', port: 8080 }, health: { host: '0.0.0.0', port: 8081 } },
    storage: { path: './data/keyhold.db' },
    audit: { file: './data/audit.log' },
    compat: { vssm },
  };
}
