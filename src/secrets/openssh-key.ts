/**
 * Ed25519 SSH host keys in OpenSSH's own formats, which node:crypto does
 * not write (it exports Ed25519 only as PKCS#8, SPKI or JWK):
 * - the private key file "openssh-key-v1" (OpenSSH PROTOCOL.key), unencrypted
 *   (cipher and KDF "none": the file is protected by the vault and the
 *   workload's memory-backed file system, as sshd expects its host keys);
 * - the public key line `ssh-ed25519 <base64 blob> <comment>` (RFC 4253 §6.6,
 *   key blob per RFC 8709 §4).
 * This is an encoding only; the key pair comes from the entropy source.
 */
import { createHash } from 'node:crypto';
import { concatBytes, utf8 } from '../crypto/bytes.js';
import { entropy } from '../crypto/random.js';
import { ed25519PrivateFromSeed, spkiOf } from '../crypto/signature/ed25519.js';

const KEY_TYPE = 'ssh-ed25519';
const AUTH_MAGIC = utf8('openssh-key-v1\0');
/** Private section padding: cipher "none" has a block size of 8 (PROTOCOL.key §"unencrypted"). */
const BLOCK = 8;

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** RFC 4251 §5 `string`: uint32 length || bytes. */
function sshString(bytes: Uint8Array | string): Uint8Array {
  const b = typeof bytes === 'string' ? utf8(bytes) : bytes;
  return concatBytes(u32(b.length), b);
}

/** The RFC 8709 public key blob: string "ssh-ed25519" || string key(32). */
export function ed25519PublicBlob(publicKey: Uint8Array): Uint8Array {
  return concatBytes(sshString(KEY_TYPE), sshString(publicKey));
}

export interface SshHostKey {
  /** The "openssh-key-v1" PEM file. */
  readonly privateKeyFile: string;
  /** `ssh-ed25519 AAAA... comment` */
  readonly publicKeyLine: string;
  /** `SHA256:<unpadded base64>`, as `ssh-keygen -l` prints it. */
  readonly fingerprint: string;
}

/** Encodes an Ed25519 key pair (32-byte seed, 32-byte public key) in OpenSSH's formats. */
export function encodeSshEd25519(seed: Uint8Array, publicKey: Uint8Array, comment: string, checkInt: number): SshHostKey {
  const blob = ed25519PublicBlob(publicKey);
  // PROTOCOL.key: checkint twice, then per key: type, public key, private key (seed || public), comment; then padding 1, 2, 3...
  const secret = concatBytes(seed, publicKey);
  let priv = concatBytes(u32(checkInt), u32(checkInt), sshString(KEY_TYPE), sshString(publicKey), sshString(secret), sshString(comment));
  const pad = (BLOCK - (priv.length % BLOCK)) % BLOCK;
  priv = concatBytes(priv, Uint8Array.from({ length: pad }, (_, i) => i + 1));
  const file = concatBytes(AUTH_MAGIC, sshString('none'), sshString('none'), sshString(new Uint8Array(0)), u32(1), sshString(blob), sshString(priv));
  secret.fill(0);
  priv.fill(0);
  const body = Buffer.from(file).toString('base64');
  file.fill(0);
  const lines = body.match(/.{1,70}/g) ?? [];
  return {
    privateKeyFile: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKeyLine: `${KEY_TYPE} ${Buffer.from(blob).toString('base64')}${comment === '' ? '' : ` ${comment}`}`,
    fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`,
  };
}

/** A fresh Ed25519 host key from the entropy source. */
export function generateSshHostKey(comment = ''): SshHostKey {
  const seed = entropy(32, 'ssh-host-key');
  try {
    // SPKI of Ed25519 ends with the 32-byte public key (RFC 8410 §4).
    const publicKey = spkiOf(ed25519PrivateFromSeed(seed)).slice(-32);
    const check = entropy(4, 'ssh-host-key-checkint');
    return encodeSshEd25519(seed, publicKey, comment, new DataView(check.buffer, check.byteOffset).getUint32(0));
  } finally {
    seed.fill(0);
  }
}
