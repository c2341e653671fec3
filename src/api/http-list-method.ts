/**
 * The HTTP `LIST` method of Vault clients (Vault's CLI, hvac's list_keys,
 * node-vault) on a Node.js server. Node's HTTP parser (llhttp) knows a fixed
 * set of methods and answers any other with a bare 400 before the app sees
 * the request, so each API connection is read through a small framing view
 * of HTTP/1.1 (RFC 9112 §2-§7: request line and header block up to CRLFCRLF,
 * then a Content-Length or chunked body) that rewrites the request line
 * `LIST <target> HTTP/1.x` into `GET <target>?list=true HTTP/1.x` and passes
 * every other byte through unchanged. Vault itself treats GET with
 * `list=true` as LIST, so on the transit surface the rewritten request is
 * exactly Vault's; elsewhere the request is marked and answered 404 like any
 * unknown route (refuseUnservedList).
 *
 * Hostile clients: the view rewrites only at a message start it is sure of.
 * It accepts a message's framing only in forms llhttp frames the same way
 * (one Content-Length of digits, or exactly `Transfer-Encoding: chunked`,
 * CRLF line ends, token header names, no obs-fold, no Upgrade/CONNECT, no
 * other Expect than 100-continue); on anything else it stops looking for the
 * rest of the connection and passes bytes through as they came, so llhttp
 * decides as it would without this module. Where the two could disagree the
 * request is one llhttp refuses, never another request. A header block is
 * held until complete, at most `maxHeaderBytes` (Node's maxHeaderSize) bytes;
 * bodies are counted, never held or copied.
 */
import { Duplex } from 'node:stream';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { maxHeaderSize as defaultMaxHeaderSize } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer, type TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { KeyholdError } from '../errors.js';

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const CR = 0x0d;
const LF = 0x0a;
/** RFC 9110 §5.6.2 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A chunk size (up to 2^48, well inside a safe integer) with optional extensions. */
const CHUNK_LINE = /^([0-9A-Fa-f]{1,12})(?:;[\t\x20-\x7e]*)?\r\n$/;
const CHUNK_LINE_MAX = 1024;
const OWS = /^[ \t]+|[ \t]+$/g;
const LIST_SUFFIX = 'list=true';

const enum State {
  Head,
  Body,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  Through,
}

type Framing = { kind: 'none' } | { kind: 'length'; bytes: number } | { kind: 'chunked' } | { kind: 'through' };

/**
 * The framing view of one connection's request bytes. `write` returns the
 * bytes to give the HTTP parser for a chunk received: usually the chunk
 * itself; held header bytes once their block is complete; a rewritten header
 * block for a LIST request.
 */
export class ListRewriter {
  #state = State.Head;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #tail: Buffer = Buffer.alloc(0);
  #remaining = 0;
  #line: Buffer[] = [];
  #lineBytes = 0;
  #trailerBytes = 0;
  #crlf = 0;
  #messages = 0;
  /** Ordinals (0-based, in order) of the messages that were LIST requests. */
  readonly lists: number[] = [];

  constructor(readonly maxHeaderBytes: number = defaultMaxHeaderSize) {}

  /** Whether the view gave up on this connection (all further bytes pass unchanged). */
  get passingThrough(): boolean {
    return this.#state === State.Through;
  }

  /** Messages framed so far. */
  get messages(): number {
    return this.#messages;
  }

  write(chunk: Buffer): Buffer[] {
    if (this.#state === State.Through) return [chunk];
    const out: Buffer[] = [];
    const n = chunk.length;
    let from = 0;
    let i = 0;
    while (i < n) {
      switch (this.#state) {
        case State.Head: {
          const end = this.#headEnd(chunk, i);
          if (end === -2) {
            this.#state = State.Through;
            break;
          }
          if (end < 0) {
            if (this.#heldBytes + (n - i) > this.maxHeaderBytes) {
              // Too large for Node too (431): hand everything over as it came.
              out.push(...this.#held);
              this.#dropHeld();
              this.#state = State.Through;
              break;
            }
            if (i > from) out.push(chunk.subarray(from, i));
            const rest = chunk.subarray(i);
            this.#held.push(rest);
            this.#heldBytes += rest.length;
            this.#tail = Buffer.concat([this.#tail, rest]).subarray(-3);
            return out;
          }
          const held = this.#heldBytes > 0;
          const block = held ? Buffer.concat([...this.#held, chunk.subarray(i, end)]) : chunk.subarray(i, end);
          this.#dropHeld();
          if (block.length > this.maxHeaderBytes) {
            if (held) {
              out.push(block);
              from = end;
            }
            this.#state = State.Through;
            break;
          }
          const { framing, rewritten } = analyse(block);
          if (rewritten !== undefined) {
            this.lists.push(this.#messages);
            if (i > from) out.push(chunk.subarray(from, i));
            out.push(rewritten);
            from = end;
          } else if (held) {
            out.push(block);
            from = end;
          }
          i = end;
          this.#messages++;
          if (framing.kind === 'through') this.#state = State.Through;
          else if (framing.kind === 'length') {
            this.#remaining = framing.bytes;
            this.#state = State.Body;
          } else if (framing.kind === 'chunked') this.#state = State.ChunkSize;
          break;
        }
        case State.Body:
        case State.ChunkData: {
          const take = Math.min(this.#remaining, n - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) {
            this.#crlf = 0;
            this.#state = this.#state === State.Body ? State.Head : State.ChunkEnd;
          }
          break;
        }
        case State.ChunkEnd: {
          // The CRLF that ends a chunk's data, possibly split between reads.
          const expected = this.#crlf === 0 ? CR : LF;
          if (chunk[i] !== expected) {
            this.#state = State.Through;
            break;
          }
          i++;
          if (++this.#crlf === 2) this.#state = State.ChunkSize;
          break;
        }
        case State.ChunkSize:
        case State.Trailers: {
          const nl = chunk.indexOf(LF, i);
          const stop = nl < 0 ? n : nl + 1;
          this.#line.push(chunk.subarray(i, stop));
          this.#lineBytes += stop - i;
          i = stop;
          const limit = this.#state === State.ChunkSize ? CHUNK_LINE_MAX : this.maxHeaderBytes - this.#trailerBytes;
          if (this.#lineBytes > limit) {
            this.#line = [];
            this.#state = State.Through;
            break;
          }
          if (nl < 0) break;
          const line = Buffer.concat(this.#line, this.#lineBytes).toString('latin1');
          this.#line = [];
          this.#lineBytes = 0;
          if (this.#state === State.ChunkSize) {
            const m = CHUNK_LINE.exec(line);
            if (m === null) {
              this.#state = State.Through;
              break;
            }
            const size = Number.parseInt(m[1]!, 16);
            if (size === 0) {
              this.#trailerBytes = 0;
              this.#state = State.Trailers;
            } else {
              this.#remaining = size;
              this.#state = State.ChunkData;
            }
          } else if (line === '\r\n') {
            this.#state = State.Head;
          } else {
            this.#trailerBytes += line.length;
            if (!isFieldLine(line.slice(0, -2)) || !line.endsWith('\r\n')) this.#state = State.Through;
          }
          break;
        }
        case State.Through:
          i = n;
          break;
      }
    }
    // The common case, nothing held or rewritten: the chunk itself.
    if (from === 0) out.push(chunk);
    else if (n > from) out.push(chunk.subarray(from, n));
    return out;
  }

  /** Index just past the CRLFCRLF ending the header block that starts at `i` (or at the held bytes), or -1. */
  #headEnd(chunk: Buffer, i: number): number {
    if (this.#heldBytes > 0) {
      // The terminator may straddle the held bytes and this chunk.
      const probe = Buffer.concat([this.#tail, chunk.subarray(i, i + 3)]);
      const at = probe.indexOf(CRLFCRLF);
      if (at >= 0) return i + at + 4 - this.#tail.length;
    } else if (chunk[i] === CR || chunk[i] === LF) {
      // Blank lines before a request line: llhttp's business, not ours.
      return -2;
    }
    const e = chunk.indexOf(CRLFCRLF, i);
    return e < 0 ? -1 : e + 4;
  }

  #dropHeld(): void {
    this.#held = [];
    this.#heldBytes = 0;
    this.#tail = Buffer.alloc(0);
  }
}

/** `name: value` with a token name and no stray CR or LF (no obs-fold: a leading space makes the name invalid). */
function isFieldLine(line: string): boolean {
  const colon = line.indexOf(':');
  return colon > 0 && TOKEN.test(line.slice(0, colon)) && !/[\r\n]/.test(line);
}

/**
 * A header block's shape in one linear pass: the request line, then field
 * lines `token ":" value` with CRLF ends and no stray CR or LF (so no
 * obs-fold, no bare LF, no space before the colon).
 */
const HEAD_SHAPE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) HTTP\/1\.([01])((?:\r\n[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*)*)$/;
/** The fields that decide framing (or make the view step aside); names are matched whole. */
const FRAMING_FIELD = /\r\n(content-length|transfer-encoding|upgrade|connection|expect):([^\r]*)/gi;

/** The framing of a complete header block (request line through CRLFCRLF), and its rewrite when it is a LIST. */
function analyse(block: Buffer): { framing: Framing; rewritten?: Buffer } {
  const through = { framing: { kind: 'through' } as const };
  const shape = HEAD_SHAPE.exec(block.toString('latin1', 0, block.length - 4));
  if (shape === null) return through;
  const [, method, target, minor, fields] = shape as unknown as [string, string, string, string, string];
  if (method === 'CONNECT') return through;
  let length: number | undefined;
  let chunked = false;
  for (const [, name, raw] of fields.matchAll(FRAMING_FIELD)) {
    const value = raw!.replace(OWS, '');
    switch (name!.toLowerCase()) {
      case 'content-length':
        if (length !== undefined || !/^[0-9]{1,15}$/.test(value)) return through;
        length = Number(value);
        break;
      case 'transfer-encoding':
        if (chunked || value.toLowerCase() !== 'chunked') return through;
        chunked = true;
        break;
      case 'upgrade':
        return through;
      case 'connection':
        if (/upgrade/i.test(value)) return through;
        break;
      default:
        // expect: Node answers other expectations itself (417) without a 'request' event.
        if (value.toLowerCase() !== '100-continue') return through;
        break;
    }
  }
  if (chunked && (length !== undefined || minor === '0')) return through;
  const framing: Framing = chunked ? { kind: 'chunked' } : length !== undefined && length > 0 ? { kind: 'length', bytes: length } : { kind: 'none' };
  if (method !== 'LIST' || !target.startsWith('/') || target.includes('#')) return { framing };
  const line = `GET ${target}${target.includes('?') ? '&' : '?'}${LIST_SUFFIX} HTTP/1.${minor}`;
  const requestLineLength = block.length - 4 - fields.length;
  return { framing, rewritten: Buffer.concat([Buffer.from(line, 'latin1'), block.subarray(requestLineLength)]) };
}

/**
 * A connection as the HTTP server sees it: the client's bytes through a
 * ListRewriter, answers straight to the real socket. It offers what the rest
 * of the code reads from `request.socket`: addresses (kept after close, for
 * the audit log), TLS state and the peer certificate, timeouts and socket options.
 */
export class ListMethodSocket extends Duplex {
  readonly #raw: Socket;
  readonly #rewriter: ListRewriter;
  #requests = 0;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;

  constructor(raw: Socket, maxHeaderBytes: number) {
    super({ allowHalfOpen: true, decodeStrings: false });
    this.#raw = raw;
    this.#rewriter = new ListRewriter(maxHeaderBytes);
    this.remoteAddress = raw.remoteAddress;
    this.remotePort = raw.remotePort;
    this.remoteFamily = raw.remoteFamily;
    this.localAddress = raw.localAddress;
    this.localPort = raw.localPort;
    raw.on('data', (chunk: Buffer) => {
      let more = true;
      for (const part of this.#rewriter.write(chunk)) more = this.push(part) && more;
      if (!more) raw.pause();
    });
    raw.on('end', () => this.push(null));
    raw.on('error', (e) => this.destroy(e));
    raw.on('close', () => this.destroy());
    raw.on('timeout', () => this.emit('timeout'));
  }

  /** The underlying socket (tests). */
  get raw(): Socket {
    return this.#raw;
  }

  /** Whether the next request the HTTP server emits on this connection was a LIST. */
  takeListFlag(): boolean {
    const ordinal = this.#requests++;
    const lists = this.#rewriter.lists;
    while (lists.length > 0 && lists[0]! < ordinal) lists.shift();
    if (lists[0] !== ordinal) return false;
    lists.shift();
    return true;
  }

  override _read(): void {
    if (this.#raw.isPaused()) this.#raw.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#raw.write(chunk, encoding)) callback();
    else this.#raw.once('drain', () => callback());
  }

  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], callback: (error?: Error | null) => void): void {
    this.#raw.cork();
    let ok = true;
    for (const { chunk, encoding } of chunks) ok = this.#raw.write(chunk, encoding);
    this.#raw.uncork();
    if (ok) callback();
    else this.#raw.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#raw.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#raw.destroy();
    callback(error);
  }

  /** net.Socket's: end, then close once everything is written. */
  destroySoon(): void {
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
    this.end();
  }

  setTimeout(ms: number, callback?: () => void): this {
    this.#raw.setTimeout(ms);
    if (callback !== undefined) this.once('timeout', callback);
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.#raw.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.#raw.setKeepAlive(enable, initialDelay);
    return this;
  }

  ref(): this {
    this.#raw.ref();
    return this;
  }

  unref(): this {
    this.#raw.unref();
    return this;
  }

  address(): ReturnType<Socket['address']> {
    return this.#raw.address();
  }

  get bytesRead(): number {
    return this.#raw.bytesRead;
  }

  get bytesWritten(): number {
    return this.#raw.bytesWritten;
  }

  get encrypted(): boolean | undefined {
    return (this.#raw as Partial<TLSSocket>).encrypted;
  }

  get authorized(): boolean | undefined {
    return (this.#raw as Partial<TLSSocket>).authorized;
  }

  get authorizationError(): Error | undefined {
    return (this.#raw as Partial<TLSSocket>).authorizationError;
  }

  get alpnProtocol(): string | false | null | undefined {
    return (this.#raw as Partial<TLSSocket>).alpnProtocol;
  }

  getPeerCertificate(detailed?: boolean): ReturnType<TLSSocket['getPeerCertificate']> {
    const tls = this.#raw as Partial<TLSSocket>;
    if (typeof tls.getPeerCertificate !== 'function') throw new TypeError('not a TLS connection');
    return detailed === true ? tls.getPeerCertificate(true) : tls.getPeerCertificate(false);
  }

  getCipher(): ReturnType<TLSSocket['getCipher']> | undefined {
    return (this.#raw as Partial<TLSSocket>).getCipher?.();
  }

  getProtocol(): string | null | undefined {
    return (this.#raw as Partial<TLSSocket>).getProtocol?.();
  }
}

export interface ListMethodOptions {
  /** Node's maxHeaderSize for this server (default: the process's). */
  readonly maxHeaderBytes?: number;
  /** Paths where LIST is served as GET ?list=true (Vault's own equivalence); elsewhere the app sees method LIST. */
  readonly listAsGet: (url: string) => boolean;
}

/**
 * Reads every connection of `server` (HTTP or HTTPS) through a ListMethodSocket.
 * Install before the server listens and before other 'connection' listeners
 * that want the real socket are added.
 */
export function acceptListMethod(server: HttpServer, options: ListMethodOptions): void {
  const event = server instanceof TlsServer ? 'secureConnection' : 'connection';
  const configured = (server as { maxHeaderSize?: number }).maxHeaderSize;
  const maxHeaderBytes = options.maxHeaderBytes ?? (configured !== undefined && configured > 0 ? configured : defaultMaxHeaderSize);
  // Node's documented injection point: any Duplex emitted as a connection is served.
  const listeners = server.listeners(event) as ((this: HttpServer, socket: Duplex) => void)[];
  server.removeAllListeners(event);
  server.on(event, (socket: Socket) => {
    const wrapped = new ListMethodSocket(socket, maxHeaderBytes);
    for (const listener of listeners) listener.call(server, wrapped);
  });
  server.prependListener('request', (request: IncomingMessage & { [LIST_REQUEST]?: true }) => {
    const socket = request.socket;
    if (!(socket instanceof ListMethodSocket) || !socket.takeListFlag()) return;
    const url = request.url ?? '/';
    if (options.listAsGet(url)) return;
    // Fastify routes only methods Node knows, so the request stays a GET, marked, with its own target back.
    request.url = url.slice(0, -(LIST_SUFFIX.length + 1));
    request[LIST_REQUEST] = true;
  });
}

const LIST_REQUEST = Symbol('keyhold.listRequest');

/** Whether `request` came as LIST on a path where LIST is not served (acceptListMethod's listAsGet). */
export function isUnservedList(request: IncomingMessage): boolean {
  return (request as { [LIST_REQUEST]?: true })[LIST_REQUEST] === true;
}

/** Answers a LIST outside the paths that serve it as the app answers any unknown route: 404 in the app's error shape, before authentication. */
export function refuseUnservedList(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (isUnservedList(request.raw)) throw new KeyholdError('KH_NOT_FOUND', `no route LIST ${request.url.split('?')[0] ?? ''}`.slice(0, 200));
  });
}
