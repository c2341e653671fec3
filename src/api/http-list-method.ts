/**
 * The HTTP `LIST` method of Vault clients (Vault's CLI, hvac's list_keys,
 * node-vault) on a Node.js server. Node's HTTP parser (llhttp) knows a fixed
 * set of methods and answers any other with a bare 400 before the app sees
 * the request, so each API connection is read through a small framing view
 * of HTTP/1.1 (RFC 9112 §2-§7: request line and header block up to CRLFCRLF,
 * then a Content-Length or chunked body) that rewrites the request line
 * `LIST <target> HTTP/1.x` into `GET <target>?list=true HTTP/1.x` plus one
 * marker field carrying a per-process secret (so the 'request' listener knows
 * this very message was a LIST, whatever Node answered before it), and passes
 * every other byte through unchanged. Vault itself treats GET with
 * `list=true` as LIST, so on the transit surface the rewritten request is
 * exactly Vault's; elsewhere the request is marked and answered 404 like any
 * unknown route (refuseUnservedList).
 *
 * Streaming: the view holds at most the 6 bytes that tell whether a message
 * starts with `LIST /`; every other byte goes to Node's parser as it arrives
 * (so its header and request timeouts work as without the view) while the
 * view scans the framing byte by byte, with no per-read copies.
 *
 * Hostile clients: the view rewrites only at a message start it is sure of.
 * It accepts a message's framing only in forms llhttp frames the same way
 * (one Content-Length of digits, or exactly `Transfer-Encoding: chunked`,
 * CRLF line ends, token header names, no obs-fold, no Upgrade/CONNECT, no
 * other Expect than 100-continue, Host on HTTP/1.1); on anything else it
 * stops looking for the rest of the connection and passes bytes through as
 * they came, so llhttp decides as it would without this module. Its framing
 * decisions are made on bytes already forwarded, which is safe because it
 * only ever changes a request line it saw start at a message boundary. When
 * the doubt arises inside the head of a LIST it already began to rewrite, it
 * inserts a NUL byte there, which llhttp refuses (400) at any point of a
 * request line or header block: where the two could disagree the request is
 * one llhttp refuses, never another request.
 */
import { Duplex } from 'node:stream';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { maxHeaderSize as defaultMaxHeaderSize } from 'node:http';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Server as TlsServer, type TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { KeyholdError } from '../errors.js';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
/** llhttp refuses a NUL anywhere in a request line or header block (400): how the view spoils a LIST it began to rewrite and then doubts. */
const POISON = Buffer.from([0]);
/** What a LIST message starts with (origin-form target); the bytes held at a message start are always a prefix of it. */
const LIST_START = Buffer.from('LIST /', 'latin1');
const GET_START = Buffer.from('GET /', 'latin1');
const CONNECT = 'CONNECT';
const VERSION = 'HTTP/1.';
const LIST_SUFFIX = 'list=true';
const QUERY_SUFFIX = Buffer.from(`?${LIST_SUFFIX} `, 'latin1');
const AND_SUFFIX = Buffer.from(`&${LIST_SUFFIX} `, 'latin1');
const CHUNK_LINE_MAX = 1024;
/** Longest framing field value the view reads; a longer one is not a form it is sure of. */
const VALUE_MAX = 64;
/** Longest field name that matters to the view ('transfer-encoding'). */
const NAME_MAX = 17;
/** Lengths of the names in FIELDS. */
const NAME_LENGTHS = new Uint8Array(NAME_MAX + 1);
/** RFC 9110 §5.6.2 tchar, by byte. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
const HEX = new Int8Array(256).fill(-1);
for (const c of '0123456789abcdef') {
  HEX[c.charCodeAt(0)] = Number.parseInt(c, 16);
  HEX[c.toUpperCase().charCodeAt(0)] = Number.parseInt(c, 16);
}

/**
 * The field the view adds after a rewritten LIST request line. Its value is a
 * per-process random secret, so no client can forge it, and it is checked and
 * stripped in the 'request' listener: the mark travels inside the message,
 * so no difference between the view's count of messages and Node's (a request
 * Node refuses without a 'request' event) can move it onto another request.
 */
export const LIST_MARKER_NAME = 'x-keyhold-list-method';
const LIST_MARKER_SECRET = randomBytes(16).toString('hex');
const LIST_MARKER = Buffer.from(`${LIST_MARKER_NAME}: ${LIST_MARKER_SECRET}\r\n`, 'latin1');

const enum State {
  /** A message start: matching LIST_START, `#held` bytes of it so far. */
  Start,
  Method,
  Target,
  ListTarget,
  Version,
  LineStart,
  Name,
  Value,
  ValueLF,
  BlankLF,
  Body,
  ChunkSize,
  ChunkExt,
  ChunkSizeLF,
  ChunkData,
  ChunkEnd,
  Through,
}

const enum Field {
  Other,
  ContentLength,
  TransferEncoding,
  Upgrade,
  Connection,
  Expect,
  Host,
}

const FIELDS = new Map<string, Field>([
  ['content-length', Field.ContentLength],
  ['transfer-encoding', Field.TransferEncoding],
  ['upgrade', Field.Upgrade],
  ['connection', Field.Connection],
  ['expect', Field.Expect],
  ['host', Field.Host],
]);
for (const name of FIELDS.keys()) NAME_LENGTHS[name.length] = 1;

/**
 * The framing view of one connection's request bytes. `write` returns the
 * bytes to give the HTTP parser for a chunk received: usually the chunk
 * itself; for a LIST, its pieces around the rewritten request line; at most
 * the first 6 bytes of a message are held back until they show whether it is
 * a LIST.
 */
export class ListRewriter {
  #state = State.Start;
  /** Bytes of LIST_START matched at the current message start (the only bytes ever held). */
  #held = 0;
  /** Where this read's unsent bytes begin (during `write`). */
  #from = 0;
  /** Where the current message began in this read (0 if in an earlier one), while at State.Start. */
  #startAt = 0;
  /** The current message is a LIST being rewritten and its head is not complete. */
  #inList = false;
  #connect = 0;
  #methodBytes = 0;
  #targetBytes = 0;
  #hasQuery = false;
  #versionAt = 0;
  #minor = 0;
  /** Head (or trailer) bytes of the current message, against maxHeaderBytes. */
  #headBytes = 0;
  #trailers = false;
  #name = '';
  #nameBytes = 0;
  #field = Field.Other;
  #value = '';
  #length: number | undefined;
  #chunked = false;
  #host = false;
  #remaining = 0;
  #crlf = 0;
  #lineBytes = 0;
  #digits = 0;
  #size = 0;
  #messages = 0;
  /** Ordinals (0-based, in order) of the messages that were LIST requests. */
  readonly lists: number[] = [];

  /** `marker`: the field line added after a rewritten request line (tests pass their own). */
  constructor(
    readonly maxHeaderBytes: number = defaultMaxHeaderSize,
    readonly marker: Buffer = LIST_MARKER,
  ) {}

  /** Whether the view gave up on this connection (all further bytes pass unchanged). */
  get passingThrough(): boolean {
    return this.#state === State.Through;
  }

  /** Messages whose head was framed so far. */
  get messages(): number {
    return this.#messages;
  }

  /** Bytes held back from the parser right now (at most 6). */
  get heldBytes(): number {
    return this.#state === State.Start ? this.#held : 0;
  }

  write(chunk: Buffer): Buffer[] {
    if (this.#state === State.Through) return [chunk];
    const out: Buffer[] = [];
    const n = chunk.length;
    this.#from = 0;
    this.#startAt = 0;
    let i = 0;
    while (i < n) {
      const b = chunk[i]!;
      switch (this.#state) {
        case State.Start: {
          if (b === LIST_START[this.#held]) {
            i++;
            if (++this.#held === LIST_START.length) {
              this.#held = 0;
              this.#headBytes = LIST_START.length;
              this.lists.push(this.#messages);
              if (this.#startAt > this.#from) out.push(chunk.subarray(this.#from, this.#startAt));
              out.push(GET_START);
              this.#from = i;
              this.#inList = true;
              this.#hasQuery = false;
              this.#state = State.ListTarget;
            }
            break;
          }
          // Not a LIST: give back the bytes held from earlier reads (this read's are still in place).
          const matched = this.#held;
          const earlier = matched - (i - this.#startAt);
          if (earlier > 0) out.push(LIST_START.subarray(0, earlier));
          this.#held = 0;
          this.#headBytes = matched;
          this.#methodBytes = matched;
          this.#connect = matched === 0 ? 0 : -1;
          // Blank lines before a request line (llhttp's business), or LIST with a target not in origin form (llhttp refuses LIST).
          if ((matched === 0 && (b === CR || b === LF)) || matched === LIST_START.length - 1) this.#state = State.Through;
          else this.#state = State.Method;
          break;
        }
        case State.Method: {
          i++;
          this.#headBytes++;
          if (TCHAR[b] === 1) {
            if (this.#connect >= 0) this.#connect = CONNECT.charCodeAt(this.#connect) === b ? this.#connect + 1 : -1;
            this.#methodBytes++;
          } else if (b === SP && this.#methodBytes > 0 && this.#connect !== CONNECT.length) {
            this.#targetBytes = 0;
            this.#state = State.Target;
          } else this.#state = State.Through;
          break;
        }
        case State.Target: {
          if (b > SP && b < 0x7f) {
            let j = i + 1;
            while (j < n && chunk[j]! > SP && chunk[j]! < 0x7f) j++;
            this.#headBytes += j - i;
            this.#targetBytes += j - i;
            i = j;
          } else if (b === SP && this.#targetBytes > 0) {
            i++;
            this.#headBytes++;
            this.#versionAt = 0;
            this.#state = State.Version;
          } else this.#state = State.Through;
          break;
        }
        case State.ListTarget: {
          if (b === SP) {
            // The end of the target: the list flag goes in its query.
            if (i > this.#from) out.push(chunk.subarray(this.#from, i));
            out.push(this.#hasQuery ? AND_SUFFIX : QUERY_SUFFIX);
            i++;
            this.#from = i;
            this.#headBytes++;
            this.#versionAt = 0;
            this.#state = State.Version;
          } else if (b > SP && b < 0x7f && b !== 0x23 /* '#' */) {
            if (b === 0x3f /* '?' */) this.#hasQuery = true;
            i++;
            this.#headBytes++;
          } else this.#doubt(out, chunk, i);
          break;
        }
        case State.Version: {
          const at = this.#versionAt;
          let ok: boolean;
          if (at < VERSION.length) ok = b === VERSION.charCodeAt(at);
          else if (at === VERSION.length) {
            ok = b === 0x30 || b === 0x31;
            this.#minor = b - 0x30;
          } else ok = b === (at === VERSION.length + 1 ? CR : LF);
          if (!ok) {
            this.#doubt(out, chunk, i);
            break;
          }
          i++;
          this.#headBytes++;
          if (++this.#versionAt === VERSION.length + 3) {
            this.#startFields(false);
            if (this.#inList) {
              out.push(chunk.subarray(this.#from, i), this.marker);
              this.#from = i;
            }
          }
          break;
        }
        case State.LineStart: {
          if (b === CR) {
            i++;
            this.#headBytes++;
            this.#state = State.BlankLF;
          } else if (TCHAR[b] === 1) {
            this.#name = '';
            this.#nameBytes = 0;
            this.#state = State.Name;
          } else this.#doubt(out, chunk, i);
          break;
        }
        case State.Name: {
          if (TCHAR[b] === 1) {
            let j = i + 1;
            while (j < n && TCHAR[chunk[j]!] === 1) j++;
            this.#nameBytes += j - i;
            // A name that ends in this read is read as text only if it is as long as a framing field's (most are not).
            if (this.#nameBytes <= NAME_MAX && (j === n || NAME_LENGTHS[this.#nameBytes] === 1)) this.#name += chunk.toString('latin1', i, j);
            this.#headBytes += j - i;
            i = j;
          } else if (b === 0x3a /* ':' */) {
            this.#field = this.#trailers || NAME_LENGTHS[this.#nameBytes] !== 1 ? Field.Other : (FIELDS.get(this.#name.toLowerCase()) ?? Field.Other);
            this.#value = '';
            i++;
            this.#headBytes++;
            this.#state = State.Value;
          } else this.#doubt(out, chunk, i);
          break;
        }
        case State.Value: {
          if (this.#field === Field.Other) {
            // A field the view does not read: skip to its CR, refusing a bare LF on the way.
            let j = i;
            while (j < n && chunk[j] !== CR && chunk[j] !== LF) j++;
            this.#headBytes += j - i;
            i = j;
            if (j === n) break;
            if (chunk[j] === LF) {
              this.#doubt(out, chunk, j);
              break;
            }
          } else if (b !== CR) {
            if (b === LF || this.#value.length === VALUE_MAX) this.#doubt(out, chunk, i);
            else {
              this.#value += String.fromCharCode(b);
              i++;
              this.#headBytes++;
            }
            break;
          }
          i++;
          this.#headBytes++;
          this.#state = State.ValueLF;
          break;
        }
        case State.ValueLF: {
          if (b !== LF || !this.#takeField() || this.#headBytes > this.maxHeaderBytes) {
            this.#doubt(out, chunk, i);
            break;
          }
          i++;
          this.#headBytes++;
          this.#state = State.LineStart;
          break;
        }
        case State.BlankLF: {
          if (b !== LF) {
            this.#doubt(out, chunk, i);
            break;
          }
          if (this.#trailers) {
            i++;
            this.#startMessage(i);
            break;
          }
          // Forms llhttp frames otherwise or refuses (TE with CL, chunked on 1.0, HTTP/1.1 without Host: 400 and close).
          if ((this.#chunked && (this.#length !== undefined || this.#minor === 0)) || (this.#minor === 1 && !this.#host)) {
            this.#doubt(out, chunk, i);
            break;
          }
          i++;
          this.#messages++;
          this.#inList = false;
          if (this.#chunked) {
            this.#digits = 0;
            this.#size = 0;
            this.#lineBytes = 0;
            this.#state = State.ChunkSize;
          } else if (this.#length !== undefined && this.#length > 0) {
            this.#remaining = this.#length;
            this.#state = State.Body;
          } else this.#startMessage(i);
          break;
        }
        case State.Body:
        case State.ChunkData: {
          const take = Math.min(this.#remaining, n - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) {
            if (this.#state === State.Body) this.#startMessage(i);
            else {
              this.#crlf = 0;
              this.#state = State.ChunkEnd;
            }
          }
          break;
        }
        case State.ChunkEnd: {
          // The CRLF that ends a chunk's data, possibly split between reads.
          if (b !== (this.#crlf === 0 ? CR : LF)) {
            this.#state = State.Through;
            break;
          }
          i++;
          if (++this.#crlf === 2) {
            this.#digits = 0;
            this.#size = 0;
            this.#lineBytes = 0;
            this.#state = State.ChunkSize;
          }
          break;
        }
        case State.ChunkSize:
        case State.ChunkExt: {
          if (++this.#lineBytes > CHUNK_LINE_MAX) {
            this.#state = State.Through;
            break;
          }
          const digit = HEX[b]!;
          if (this.#state === State.ChunkSize && digit >= 0 && this.#digits < 12) {
            this.#digits++;
            this.#size = this.#size * 16 + digit;
          } else if (this.#digits > 0 && b === CR) this.#state = State.ChunkSizeLF;
          else if (this.#state === State.ChunkSize && this.#digits > 0 && b === 0x3b /* ';' */) this.#state = State.ChunkExt;
          else if (this.#state !== State.ChunkExt || !(b === HT || (b >= SP && b < 0x7f))) {
            this.#state = State.Through;
            break;
          }
          i++;
          break;
        }
        case State.ChunkSizeLF: {
          if (b !== LF) {
            this.#state = State.Through;
            break;
          }
          i++;
          if (this.#size === 0) {
            this.#headBytes = 0;
            this.#startFields(true);
          } else {
            this.#remaining = this.#size;
            this.#state = State.ChunkData;
          }
          break;
        }
        case State.Through:
          i = n;
          break;
      }
    }
    // A head (or trailer section) larger than Node accepts: Node answers 431; nothing more to look at.
    if (this.#state >= State.Method && this.#state <= State.BlankLF && this.#headBytes > this.maxHeaderBytes) this.#state = State.Through;
    // At a message start the bytes matched so far are held; everything else goes on now.
    const stop = this.#state === State.Start ? this.#startAt : n;
    if (stop > this.#from) out.push(this.#from === 0 && stop === n ? chunk : chunk.subarray(this.#from, stop));
    return out;
  }

  /** A framing this view is not sure of: the rest of the connection passes unchanged; a LIST head it began to rewrite is spoiled at `i` so llhttp refuses it. */
  #doubt(out: Buffer[], chunk: Buffer, i: number): void {
    if (this.#inList) {
      if (i > this.#from) out.push(chunk.subarray(this.#from, i));
      out.push(POISON);
      this.#from = i;
    }
    this.#state = State.Through;
  }

  #startMessage(at: number): void {
    this.#startAt = at;
    this.#held = 0;
    this.#trailers = false;
    this.#state = State.Start;
  }

  #startFields(trailers: boolean): void {
    this.#trailers = trailers;
    if (!trailers) {
      this.#length = undefined;
      this.#chunked = false;
      this.#host = false;
    }
    this.#state = State.LineStart;
  }

  /** Records a complete framing field; false for a value the view is not sure of. */
  #takeField(): boolean {
    if (this.#field === Field.Other) return true;
    const value = this.#value.replace(/^[ \t]+|[ \t]+$/g, '');
    switch (this.#field) {
      case Field.ContentLength:
        if (this.#length !== undefined || !/^[0-9]{1,15}$/.test(value)) return false;
        this.#length = Number(value);
        return true;
      case Field.TransferEncoding:
        if (this.#chunked || value.toLowerCase() !== 'chunked') return false;
        this.#chunked = true;
        return true;
      case Field.Upgrade:
        return false;
      case Field.Connection:
        return !/upgrade/i.test(value);
      case Field.Expect:
        // Node answers other expectations itself (417) without a 'request' event.
        return value.toLowerCase() === '100-continue';
      case Field.Host:
        this.#host = true;
        return true;
    }
  }
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

  /** The underlying socket: what 'connection' listeners added after acceptListMethod receive (audit-hooks looks it up). */
  get raw(): Socket {
    return this.#raw;
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
    if (!takeListMarker(request)) return;
    const url = request.url ?? '/';
    if (options.listAsGet(url)) return;
    // Fastify routes only methods Node knows, so the request stays a GET, marked, with its own target back.
    request.url = url.slice(0, -(LIST_SUFFIX.length + 1));
    request[LIST_REQUEST] = true;
  });
}

const LIST_REQUEST = Symbol('keyhold.listRequest');

/**
 * Whether `request` carries the view's marker (it came as LIST), which is
 * then removed: it is the first field, right after the request line, with
 * this process's secret; a client's own field of that name is left as sent.
 */
function takeListMarker(request: IncomingMessage): boolean {
  const raw = request.rawHeaders;
  if (raw[0] !== LIST_MARKER_NAME || raw[1] !== LIST_MARKER_SECRET) return false;
  raw.splice(0, 2);
  const rest: string[] = [];
  for (let k = 0; k + 1 < raw.length; k += 2) if (raw[k]!.toLowerCase() === LIST_MARKER_NAME) rest.push(raw[k + 1]!);
  if (rest.length === 0) delete request.headers[LIST_MARKER_NAME];
  else request.headers[LIST_MARKER_NAME] = rest.join(', ');
  return true;
}

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
