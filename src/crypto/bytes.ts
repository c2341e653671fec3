/** Byte helpers: wiping, constant-time comparison, encodings. */
import { timingSafeEqual } from 'node:crypto';

/** Overwrites key material in place; call when a secret's lifetime ends. */
export function wipe(...buffers: (Uint8Array | undefined)[]): void {
  for (const b of buffers) b?.fill(0);
}

/** Constant-time equality for secrets; unequal lengths compare false without early exit on content. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

const encoder = new TextEncoder();
export const utf8 = (s: string): Uint8Array => encoder.encode(s);

export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

export function toBase64Url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** 1 for each character of the standard base64 alphabet (RFC 4648 §4), by char code. */
const ALPHABET = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') ALPHABET[c.charCodeAt(0)] = 1;

/**
 * Whether `s` is strict standard base64: length a multiple of 4, alphabet
 * only, '=' only as the last one or two characters. One pass, no regex: a
 * regex with a quantified group backtracks with a stack frame per group and
 * overflowed the stack from about 3.4 MB (issue 15 L1).
 */
export function isBase64Strict(s: string): boolean {
  const n = s.length;
  if (n % 4 !== 0) return false;
  const pad = n > 0 && s.charCodeAt(n - 1) === 0x3d ? (s.charCodeAt(n - 2) === 0x3d ? 2 : 1) : 0;
  for (let i = 0; i < n - pad; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || ALPHABET[c] !== 1) return false;
  }
  return true;
}

/** Strict standard base64 (with padding); returns undefined for anything else. */
export function fromBase64Strict(s: string): Uint8Array | undefined {
  if (!isBase64Strict(s)) return undefined;
  return new Uint8Array(Buffer.from(s, 'base64'));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
