/**
 * Raw block cipher modes for migrating data encrypted by other systems (VSSM's
 * "CIPHER/MODE/PADDING"): AES, DES and Triple DES in ECB, CBC and CTR
 * (NIST SP 800-38A §6.1, §6.2, §6.5), and PKCS#7 padding (RFC 5652 §6.3;
 * "PKCS5Padding" is the same thing for 8-byte blocks). None of these modes
 * authenticates anything: they exist for legacy data only.
 *
 * The block ciphers are OpenSSL's, through node:crypto. OpenSSL 3 keeps
 * single DES in its legacy provider, so DES with key K runs as
 * DES-EDE3 with K || K || K, which is DES by construction (E_K(D_K(E_K(x))) =
 * E_K(x)). OpenSSL has no Triple DES counter mode: its keystream is the
 * ECB encryption of the counter blocks (SP 800-38A §6.5), the counter being
 * the whole block as one big-endian integer, as OpenSSL and Go increment it.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { concatBytes } from './bytes.js';

export type BlockCipherName = 'aes' | 'des' | 'des-ede3';
export type BlockMode = 'ecb' | 'cbc' | 'ctr';

const KEY_BYTES: Readonly<Record<BlockCipherName, readonly number[]>> = { aes: [16, 24, 32], des: [8], 'des-ede3': [24] };

export function blockBytes(cipher: BlockCipherName): 16 | 8 {
  return cipher === 'aes' ? 16 : 8;
}

/** The key lengths (bytes) a cipher takes. */
export function blockKeyBytes(cipher: BlockCipherName): readonly number[] {
  return KEY_BYTES[cipher];
}

function opensslName(cipher: BlockCipherName, key: Uint8Array, mode: 'ecb' | 'cbc' | 'ctr'): { name: string; key: Uint8Array } {
  if (!KEY_BYTES[cipher].includes(key.length)) throw new RangeError(`${cipher} needs a key of ${KEY_BYTES[cipher].join(' or ')} bytes`);
  if (cipher === 'aes') return { name: `aes-${key.length * 8}-${mode}`, key };
  const ede3 = cipher === 'des' ? concatBytes(key, key, key) : key;
  return { name: mode === 'cbc' ? 'des-ede3-cbc' : 'des-ede3', key: ede3 };
}

function run(decrypt: boolean, name: string, key: Uint8Array, iv: Uint8Array | null, data: Uint8Array): Uint8Array {
  const c = decrypt ? createDecipheriv(name, key, iv) : createCipheriv(name, key, iv);
  c.setAutoPadding(false);
  return concatBytes(c.update(data), c.final());
}

/** The counter blocks iv, iv+1, ... covering `length` bytes (big-endian increment over the whole block, with wrap-around). */
function counterBlocks(iv: Uint8Array, length: number): Uint8Array {
  const size = iv.length;
  const count = Math.ceil(length / size);
  const out = new Uint8Array(count * size);
  // A copy (a Buffer's slice() would be a view, and the caller's IV would count along).
  const counter = new Uint8Array(iv);
  for (let i = 0; i < count; i++) {
    out.set(counter, i * size);
    for (let j = size - 1; j >= 0; j--) {
      counter[j] = (counter[j]! + 1) & 0xff;
      if (counter[j] !== 0) break;
    }
  }
  return out;
}

function ctr(cipher: BlockCipherName, key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  if (cipher === 'aes') {
    const { name, key: k } = opensslName(cipher, key, 'ctr');
    return run(false, name, k, iv, data);
  }
  const { name, key: k } = opensslName(cipher, key, 'ecb');
  const stream = run(false, name, k, null, counterBlocks(iv, data.length));
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ stream[i]!;
  stream.fill(0);
  return out;
}

function checkArgs(cipher: BlockCipherName, mode: BlockMode, iv: Uint8Array | undefined, data: Uint8Array): void {
  const size = blockBytes(cipher);
  if (mode === 'ecb') {
    if (iv !== undefined) throw new TypeError('ECB takes no IV');
  } else if (iv?.length !== size) throw new RangeError(`${mode.toUpperCase()} needs a ${size}-byte IV`);
  if (mode !== 'ctr' && data.length % size !== 0) throw new RangeError(`${mode.toUpperCase()} input must be a multiple of ${size} bytes`);
}

/**
 * Encrypts `data` (no padding is added: pad first for ECB and CBC).
 * @throws RangeError when the key, IV or input length does not fit the cipher and mode
 */
export function blockEncrypt(cipher: BlockCipherName, key: Uint8Array, mode: BlockMode, iv: Uint8Array | undefined, data: Uint8Array): Uint8Array {
  checkArgs(cipher, mode, iv, data);
  if (mode === 'ctr') return ctr(cipher, key, iv!, data);
  const { name, key: k } = opensslName(cipher, key, mode);
  return run(false, name, k, mode === 'cbc' ? iv! : null, data);
}

/** @throws RangeError as blockEncrypt */
export function blockDecrypt(cipher: BlockCipherName, key: Uint8Array, mode: BlockMode, iv: Uint8Array | undefined, data: Uint8Array): Uint8Array {
  checkArgs(cipher, mode, iv, data);
  if (mode === 'ctr') return ctr(cipher, key, iv!, data);
  const { name, key: k } = opensslName(cipher, key, mode);
  return run(true, name, k, mode === 'cbc' ? iv! : null, data);
}

/** PKCS#7 padding (RFC 5652 §6.3): 1..blockSize bytes, each holding the pad length. */
export function pkcs7Pad(data: Uint8Array, blockSize: number): Uint8Array {
  const n = blockSize - (data.length % blockSize);
  const out = new Uint8Array(data.length + n);
  out.set(data, 0);
  out.fill(n, data.length);
  return out;
}

/**
 * Removes PKCS#7 padding. The check reads the same bytes whatever the
 * padding holds (no early exit), so its time does not depend on where it fails.
 * @returns the unpadded data, or undefined when the padding is not valid
 */
export function pkcs7Unpad(data: Uint8Array, blockSize: number): Uint8Array | undefined {
  if (data.length === 0 || data.length % blockSize !== 0) return undefined;
  const n = data[data.length - 1]!;
  let bad = (n === 0 ? 1 : 0) | (n > blockSize ? 1 : 0);
  for (let i = 1; i <= blockSize; i++) {
    const inPad = i <= n ? 1 : 0;
    bad |= inPad & (data[data.length - i]! !== n ? 1 : 0);
  }
  return bad === 0 ? data.slice(0, data.length - n) : undefined;
}
