/**
 * VSSM's AdminService (vssm.proto) and bootstrap, over the keys layer, the
 * audit log and the transport key (cluster/transport-key.ts):
 * - generatekey / injectkey create keys with VSSM's key types mapped to
 *   Keyhold's (table in docs/compat.md#vssm); keys are never exportable;
 *   symmetric AES keys are raw AES keys, which no AEAD API accepts;
 * - listkeys lists the keys the VSSM API can use, in VSSM's shape;
 * - generatebackup / restorebackup keep VSSM's envelope (a random AES-256-GCM
 *   key wrapped with RSA-OAEP-SHA-256 to rpcCertificate), around Keyhold's
 *   barrier-sealed key records (keys/key-backup.ts): restorable only on this
 *   vault (same keyring) holding the transport private key;
 * - getlogs shows the newest entries of the audit log in VSSM's line format;
 * - bootstrap hands the node its transport private key (and on a new node
 *   initialises the vault with it).
 * Extensions (VSSM clients never send them): `keySpec` AES|DES|3DES for
 * symmetric keys, `legacy` to create a key that may use DES, 3DES, ECB,
 * PKCS#1 v1.5 encryption and SHA-1.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { KeyManager } from '../../../keys/key-manager.js';
import type { ManagedKey } from '../../../keys/managed-key.js';
import type { KeyType } from '../../../keys/key-type-names.js';
import { secretLength, typeOfPkcs8 } from '../../../keys/key-facts.js';
import { exportKeyRecords, importKeyRecords } from '../../../keys/key-backup.js';
import { publicKey } from '../../../keys/operations/public-key.js';
import type { Barrier } from '../../../barrier/barrier.js';
import type { AuditLog } from '../../../audit/audit-log.js';
import { readAuditTail } from '../../../audit/audit-tail.js';
import type { AuditEntry } from '../../../audit/audit-chain.js';
import type { TransportKey } from '../../../cluster/transport-key.js';
import { openSplitEnvelope, sealSplitEnvelope } from '../../../crypto/recipient/rsa-oaep-split-envelope.js';
import { KeyholdError } from '../../../errors.js';
import { bytesOut, compact, int64Out, type MessageShape } from './proto-json.js';
import { reply, vssmRoute } from './vssm-route.js';
import { vssmBadRequest, VssmError } from './vssm-shape.js';
import { permittedItems, type PolicyAsker } from '../../policy-ask.js';

/** VSSM keeps at most this many log lines (logging_impl.go MAX_LOGS). */
const MAX_LOG_LINES = 10_000;
const BACKUP_VERSION = 1n;
const MAX_KEY_BYTES = 16 * 1024;
const MAX_BACKUP_BYTES = 48 * 1024 * 1024;

const PASSWORD = { adminPassword: 'string' } as const;
const GENERATE = { ...PASSWORD, keyName: 'string', keyType: 'string', keySpec: 'string', keySize: 'uint64', legacy: 'bool' } as const satisfies MessageShape;
const INJECT = { ...PASSWORD, keyName: 'string', keyType: 'string', key: 'bytes', keySpec: 'string', legacy: 'bool' } as const satisfies MessageShape;
const LIST = { ...PASSWORD, keyName: 'string', keyType: 'string' } as const satisfies MessageShape;
const BACKUP_BLOB = { encryptionKey: 'bytes', version: 'uint64', timestamp: 'uint64', encryptedState: 'bytes' } as const satisfies MessageShape;
const RESTORE = { ...PASSWORD, backup: { message: BACKUP_BLOB } } as const satisfies MessageShape;
const BOOTSTRAP = { rpcPrivateKey: 'bytes', adminPassword: 'string' } as const satisfies MessageShape;

const Empty = Type.Object({}, { additionalProperties: false });
const S = Type.String();
const SymmetricKey = Type.Object({ name: S, createdAt: Type.Optional(S), keyLength: Type.Optional(S) }, { additionalProperties: false });
const AsymmetricKey = Type.Object({ name: S, createdAt: Type.Optional(S), keySpec: Type.Optional(S), publicKey: Type.Optional(S) }, { additionalProperties: false });
const ListKeysResponse = reply({ symmetricKey: Type.Array(SymmetricKey), asymmetricKey: Type.Array(AsymmetricKey), macKey: Type.Array(SymmetricKey) });
const Backup = Type.Object({ encryptionKey: Type.Optional(S), version: Type.Optional(S), timestamp: Type.Optional(S), encryptedState: Type.Optional(S) }, { additionalProperties: false });

type VssmKeyType = 'SYMMETRIC' | 'ASYMMETRIC' | 'MAC';

/** The VSSM key type a Keyhold key shows as, and for asymmetric keys its keySpec; undefined for keys the VSSM API cannot use. */
function vssmView(key: ManagedKey): { type: VssmKeyType; spec?: string } | undefined {
  const type = key.record.type;
  if (key.spec.kind === 'block' || type === 'aes128-gcm' || type === 'aes192-gcm' || type === 'aes256-gcm') return { type: 'SYMMETRIC' };
  if (type.startsWith('hmac-')) return { type: 'MAC' };
  if (type.startsWith('rsa-')) return { type: 'ASYMMETRIC', spec: 'RSA' };
  if (type.startsWith('ecdsa-')) return { type: 'ASYMMETRIC', spec: 'EC' };
  if (type === 'ed25519') return { type: 'ASYMMETRIC', spec: 'Ed25519' };
  return undefined;
}

function listEntry(key: ManagedKey, view: { type: VssmKeyType; spec?: string }) {
  const createdAt = int64Out(Date.parse(key.record.createdAt));
  if (view.type !== 'ASYMMETRIC') return compact({ name: key.name, createdAt, keyLength: int64Out(secretLength(key) ?? 0) });
  const spki = key.record.latestVersion > 0 ? Buffer.from(String(publicKey(key, undefined, 'raw').publicKey), 'base64') : new Uint8Array(0);
  return compact({ name: key.name, createdAt, keySpec: view.spec, publicKey: bytesOut(spki) });
}

function checkKeyType(text: string): VssmKeyType {
  if (text === 'SYMMETRIC' || text === 'ASYMMETRIC' || text === 'MAC') return text;
  throw vssmBadRequest(`Invalid key type: ${text}`, 'KH_KEY_TYPE_INVALID');
}

const SYMMETRIC_SPECS = ['', 'AES', 'DES', '3DES'] as const;

/**
 * A symmetric key's Keyhold type from its length and the (Keyhold) keySpec.
 * AES keys are raw AES keys (aes*-raw), not AES-GCM keys: VSSM's clients use
 * one AES key in ECB, CBC, CTR and GCM, and a key that serves CTR must never
 * serve /v1, transit or KMS, for whom CTR decryption would be an oracle that
 * forges their GCM ciphertexts (keys/operations/block-cipher.ts, issue 15 H5).
 */
function symmetricType(spec: string, bytes: number): KeyType {
  if (!(SYMMETRIC_SPECS as readonly string[]).includes(spec)) throw vssmBadRequest(`Unsupported key spec: ${spec} (symmetric keys: AES, DES or 3DES)`, 'KH_KEY_TYPE_INVALID');
  const cipher = spec === '' ? (bytes === 8 ? 'DES' : 'AES') : spec;
  if (cipher === 'AES' && (bytes === 16 || bytes === 24 || bytes === 32)) return `aes${bytes * 8}-raw` as KeyType;
  if (cipher === 'DES' && bytes === 8) return 'des';
  if (cipher === '3DES' && bytes === 24) return 'des-ede3';
  throw vssmBadRequest(`Unsupported symmetric key size: ${bytes} bytes for ${cipher} (AES: 16, 24 or 32; DES: 8; 3DES: 24)`, 'KH_INPUT_INVALID');
}

const EC_TYPES: Readonly<Record<string, KeyType>> = { '256': 'ecdsa-p256', '384': 'ecdsa-p384', '521': 'ecdsa-p521' };

function asymmetricType(spec: string, bits: bigint): KeyType {
  if (spec === 'RSA') {
    const size = bits === 0n ? 2048n : bits;
    if (size !== 2048n && size !== 3072n && size !== 4096n) throw vssmBadRequest(`Unsupported RSA key size: ${size} (2048, 3072 or 4096)`, 'KH_KEY_TYPE_INVALID');
    return `rsa-${size}` as KeyType;
  }
  if (spec === 'EC') {
    const type = EC_TYPES[String(bits)];
    if (type === undefined) throw vssmBadRequest(`Unsupported ECDSA key size: ${bits} (256, 384 or 521${bits === 226n ? '; P-224 is not supported' : ''})`, 'KH_KEY_TYPE_INVALID');
    return type;
  }
  if (spec === 'Ed25519') return 'ed25519';
  throw vssmBadRequest(`Unsupported key spec: ${spec}`, 'KH_KEY_TYPE_INVALID');
}

function checkName(name: string): string {
  if (name === '') throw vssmBadRequest('Key name cannot be blank.', 'KH_KEY_NAME_INVALID');
  return name;
}

const LEVEL: Readonly<Record<string, string>> = { request: 'INFO', response: 'INFO', refused: 'WARN', checkpoint: 'INFO' };

/**
 * An audit entry as one of VSSM's log lines, "[<RFC 3339>] <source>, <LEVEL>: <message>":
 * the source is the entry's place in the chain (audit:<seq>), the message
 * its facts; values were HMAC'd when the entry was written.
 */
export function vssmLogLine(e: AuditEntry): string {
  const f = e as unknown as Record<string, unknown>;
  const time = e.time.replace(/\.\d+Z$/, 'Z');
  const status = typeof f.status === 'number' ? f.status : undefined;
  const level = status !== undefined && status >= 500 ? 'ERROR' : status !== undefined && status >= 400 ? 'WARN' : (LEVEL[String(f.type)] ?? 'INFO');
  const parts = [String(f.type ?? 'entry')];
  if (typeof f.requestId === 'string') parts.push(`id=${f.requestId}`);
  if (typeof f.operation === 'string' && f.operation !== '') parts.push(`op=${f.operation}`);
  if (typeof f.method === 'string' && typeof f.route === 'string') parts.push(`${f.method} ${f.route}`);
  if (status !== undefined) parts.push(`status=${status}`);
  if (typeof f.code === 'string') parts.push(`code=${f.code}`);
  if (typeof f.principal === 'string') parts.push(`principal=${f.principal}`);
  if (typeof f.remoteAddress === 'string') parts.push(`from=${f.remoteAddress}`);
  return `[${time}] audit:${e.seq}, ${level}: ${parts.join(' ')}`;
}

export interface AdminDeps {
  keys: KeyManager;
  barrier: Barrier;
  audit: AuditLog;
  transport: TransportKey | undefined;
  /** listkeys shows only the keys the caller may readKey (issue 15 L3). */
  policy: PolicyAsker;
}

export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { keys, barrier, audit, transport, policy } = deps;
  const readable = async (request: FastifyRequest, names: readonly string[]) => new Set(await permittedItems(policy, request, 'vssm', 'readKey', names, (id) => ({ type: 'Key', id })));
  const admin = { gate: 'admin', maxBytes: MAX_KEY_BYTES } as const;
  const needTransport = (): TransportKey => {
    if (transport === undefined)
      throw new VssmError('KH_TRANSPORT_KEY_MISSING', 409, 'this needs rpcCertificate in the VSSM configuration (keyhold server --vssm-config), and none is configured');
    return transport;
  };

  vssmRoute(app, {
    ...admin,
    path: '/admin/generatekey',
    operationId: 'vssmGenerateKey',
    action: 'createKey',
    resource: 'keys',
    summary: 'VSSM GenerateKey: SYMMETRIC (keySize bytes), MAC (keySize bytes), ASYMMETRIC (keySpec RSA 2048/3072/4096 or EC 256/384/521 bits)',
    request: GENERATE,
    response: Empty,
    handler: async (request, m) => {
      const name = checkName(m.keyName);
      request.vssmKeyName = name;
      const kind = checkKeyType(m.keyType);
      const size = Number(m.keySize > 1024n ? 1025n : m.keySize);
      let type: KeyType;
      let keyBytes: number | undefined;
      if (kind === 'SYMMETRIC') type = symmetricType(m.keySpec, size === 0 ? (m.keySpec === 'DES' ? 8 : m.keySpec === '3DES' ? 24 : 32) : size);
      else if (kind === 'MAC') {
        type = 'hmac-any';
        keyBytes = size === 0 ? 32 : size;
      } else type = asymmetricType(m.keySpec, m.keySize);
      await keys.create({ name, type, legacy: m.legacy, ...(keyBytes !== undefined && { keyBytes }), description: `VSSM ${kind} key` });
      return {};
    },
  });

  vssmRoute(app, {
    ...admin,
    path: '/admin/injectkey',
    operationId: 'vssmInjectKey',
    action: 'importKey',
    resource: 'key',
    summary: 'VSSM InjectKey: raw bytes for SYMMETRIC and MAC, PKCS#8 DER for ASYMMETRIC',
    request: INJECT,
    response: Empty,
    handler: async (request, m) => {
      const name = checkName(m.keyName);
      request.vssmKeyName = name;
      const kind = checkKeyType(m.keyType);
      const type = kind === 'SYMMETRIC' ? symmetricType(m.keySpec, m.key.length) : kind === 'MAC' ? 'hmac-any' : typeOfPkcs8(m.key);
      try {
        await keys.importKey({ name, type, legacy: m.legacy, secret: m.key, description: `VSSM ${kind} key (injected)` });
      } finally {
        m.key.fill(0);
      }
      return {};
    },
  });

  vssmRoute(app, {
    ...admin,
    path: '/admin/listkeys',
    operationId: 'vssmListKeys',
    action: 'listKeys',
    resource: 'keys',
    summary: 'VSSM ListKeys: the keys the VSSM API can use (symmetricKey, asymmetricKey, macKey)',
    request: LIST,
    response: ListKeysResponse,
    handler: async (request, m) => {
      const out: Record<'symmetricKey' | 'asymmetricKey' | 'macKey', Record<string, unknown>[]> = { symmetricKey: [], asymmetricKey: [], macKey: [] };
      const bucket = { SYMMETRIC: out.symmetricKey, ASYMMETRIC: out.asymmetricKey, MAC: out.macKey } as const;
      if (m.keyName !== '') {
        request.vssmKeyName = m.keyName;
        if (m.keyType !== 'SYMMETRIC' && m.keyType !== 'ASYMMETRIC' && m.keyType !== 'MAC') throw vssmBadRequest(`Unsupported key type: ${m.keyType}`, 'KH_KEY_TYPE_INVALID');
        const key = await keys.get(m.keyName).catch((e: unknown) => {
          if (e instanceof KeyholdError && (e.code === 'KH_KEY_NOT_FOUND' || e.code === 'KH_KEY_NAME_INVALID')) return undefined;
          throw e;
        });
        const view = key === undefined ? undefined : vssmView(key);
        if (key === undefined || view?.type !== m.keyType || !(await readable(request, [m.keyName])).has(m.keyName)) throw new VssmError('KH_KEY_NOT_FOUND', 404, 'No key by that name exists.');
        bucket[view.type].push(listEntry(key, view));
        return compact(out);
      }
      let after: string | undefined;
      for (;;) {
        const page = await keys.list({ limit: 1000, ...(after !== undefined && { after }) });
        const visible = await readable(request, page.keys.map((k) => k.name));
        for (const key of page.keys) {
          if (!visible.has(key.name)) continue;
          const view = vssmView(key);
          if (view !== undefined && key.record.state !== 'pending-import') bucket[view.type].push(listEntry(key, view));
        }
        if (page.next === undefined) break;
        after = page.next;
      }
      return compact(out);
    },
  });

  vssmRoute(app, {
    ...admin,
    path: '/admin/generatebackup',
    operationId: 'vssmGenerateBackup',
    action: 'backupKeys',
    resource: 'keys',
    summary: "VSSM GenerateBackup: every key, sealed by this vault's barrier, in VSSM's envelope wrapped to rpcCertificate",
    request: PASSWORD,
    response: reply({ backup: Backup }),
    handler: async () => {
      const t = needTransport();
      const { blob } = await exportKeyRecords(barrier, keys);
      const { encryptionKey, encryptedState } = sealSplitEnvelope(t.publicKey, blob);
      return { backup: compact({ encryptionKey: bytesOut(encryptionKey), version: int64Out(BACKUP_VERSION), timestamp: int64Out(Date.now()), encryptedState: bytesOut(encryptedState) }) };
    },
  });

  vssmRoute(app, {
    ...admin,
    maxBytes: MAX_BACKUP_BYTES,
    path: '/admin/restorebackup',
    operationId: 'vssmRestoreBackup',
    action: 'restoreKeys',
    resource: 'keys',
    summary: 'VSSM RestoreBackup: adds the keys of a backup made by this vault that are missing here',
    request: RESTORE,
    response: Empty,
    handler: async (request, m) => {
      const t = needTransport();
      const backup = m.backup;
      if (backup === undefined || backup.version !== BACKUP_VERSION) throw vssmBadRequest('Unsupported backup version.', 'KH_BACKUP_INVALID');
      const key = t.privateKey;
      if (key === undefined) throw new VssmError('KH_TRANSPORT_KEY_MISSING', 409, 'this node does not hold the rpc private key yet: bootstrap it first');
      const blob = openSplitEnvelope(key, backup.encryptionKey, backup.encryptedState);
      if (blob === undefined) throw vssmBadRequest('Unable to decrypt backup.', 'KH_BACKUP_INVALID');
      const { restored, skipped } = await importKeyRecords(barrier, keys, blob);
      request.log.info({ restored: restored.length, skipped: skipped.length }, 'VSSM backup restored');
      return {};
    },
  });

  vssmRoute(app, {
    ...admin,
    path: '/admin/getlogs',
    operationId: 'vssmGetLogs',
    action: 'readAuditLog',
    resource: 'audit',
    summary: "VSSM GetLogs: the newest audit log entries (up to 10000) in VSSM's line format",
    request: PASSWORD,
    response: reply({ log: Type.Array(S) }),
    handler: async () => {
      const path = audit.device?.path;
      if (path === undefined) return {};
      const entries = await readAuditTail(path, MAX_LOG_LINES);
      return compact({ log: entries.map(vssmLogLine) });
    },
  });

  vssmRoute(app, {
    gate: 'bootstrap',
    maxBytes: MAX_KEY_BYTES,
    path: '/admin/bootstrap',
    operationId: 'vssmBootstrap',
    summary: 'VSSM bootstrap: the PKCS#8 private key of rpcCertificate; initialises a new vault, unseals a sealed one, and serves TLS with it',
    request: BOOTSTRAP,
    response: Empty,
    handler: async (request, m) => {
      const t = needTransport();
      try {
        const outcome = await t.bootstrap(m.rpcPrivateKey);
        request.log.info({ outcome }, 'VSSM bootstrap');
      } finally {
        m.rpcPrivateKey.fill(0);
      }
      return {};
    },
  });
}
