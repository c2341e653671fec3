/**
 * How an inner request of the end-to-end channel is told apart from a direct
 * one. The channel dispatches inner requests through `inject()`, which has no
 * TLS socket and no real Host; the marker header carries the outer request's
 * origin (for RFC 9421 `@target-uri`, docs/protocols.md §1) and is trusted only
 * with this process's random secret, so a direct caller cannot forge it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

export const CHANNEL_HEADER = 'x-keyhold-e2e-channel';
const SECRET = randomBytes(32).toString('hex');
const SECRET_BYTES = Buffer.from(SECRET);

declare module 'fastify' {
  interface FastifyRequest {
    /** Origin of the outer channel request when this request arrived through /v1/enclave/post. */
    channelOrigin?: string;
  }
}

export function channelMarker(origin: string): string {
  return `${SECRET}|${origin}`;
}

/** Reads and removes the marker; sets request.channelOrigin only when the secret matches. */
export function readChannelMarker(request: FastifyRequest): void {
  const value = request.headers[CHANNEL_HEADER];
  if (value === undefined) return;
  delete request.headers[CHANNEL_HEADER];
  if (typeof value !== 'string') return;
  const bar = value.indexOf('|');
  if (bar !== SECRET.length) return;
  if (timingSafeEqual(Buffer.from(value.slice(0, bar)), SECRET_BYTES)) request.channelOrigin = value.slice(bar + 1);
}
