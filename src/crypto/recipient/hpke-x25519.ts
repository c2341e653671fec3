/**
 * HPKE (RFC 9180) base mode, single shot, with the suite
 * DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, through @hpke/core.
 * Output: enc (32 bytes) || ciphertext || tag — what a recipient needs and
 * nothing else; `info` binds the use.
 */
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
export const HPKE_ENC_BYTES = 32;

const buf = (b: Uint8Array): ArrayBuffer => b.slice().buffer;

export async function hpkeSealX25519(recipientPublicKey: Uint8Array, plaintext: Uint8Array, info: Uint8Array): Promise<Uint8Array> {
  if (recipientPublicKey.length !== 32) throw new TypeError('an X25519 public key is 32 bytes');
  const publicKey = await suite.kem.deserializePublicKey(buf(recipientPublicKey));
  const { enc, ct } = await suite.seal({ recipientPublicKey: publicKey, info: buf(info) }, buf(plaintext));
  const out = new Uint8Array(enc.byteLength + ct.byteLength);
  out.set(new Uint8Array(enc), 0);
  out.set(new Uint8Array(ct), enc.byteLength);
  return out;
}

/** The recipient's side (workloads, tests). Returns undefined when the ciphertext does not open. */
export async function hpkeOpenX25519(recipientSecretKey: Uint8Array, sealed: Uint8Array, info: Uint8Array): Promise<Uint8Array | undefined> {
  if (sealed.length < HPKE_ENC_BYTES + 16) return undefined;
  try {
    const recipientKey = await suite.kem.deserializePrivateKey(buf(recipientSecretKey));
    const pt = await suite.open({ recipientKey, enc: buf(sealed.subarray(0, HPKE_ENC_BYTES)), info: buf(info) }, buf(sealed.subarray(HPKE_ENC_BYTES)));
    return new Uint8Array(pt);
  } catch {
    return undefined;
  }
}
