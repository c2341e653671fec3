/**
 * `keyhold key ...`: the key lifecycle (create, list, show, rotate, config,
 * trim, enable, disable, delete, cancel-deletion, public-key), the data
 * operations (encrypt, decrypt, rewrap, datakey, sign, verify, hmac,
 * verify-hmac, derive, encapsulate, decapsulate) over the /v1 API, and
 * bring-your-own-key and export (wrapping-key, import, import-version,
 * export; in key-import.ts).
 *
 * Inputs: a positional plaintext/message is UTF-8 text; when it is omitted
 * the raw bytes of stdin are used, so binary data round-trips. Outputs in
 * human mode are bare values that pipe into the next command
 * (`keyhold key encrypt k hello | keyhold key decrypt k`): a ciphertext,
 * signature or HMAC on one line, decrypted plaintext as raw bytes, a PEM
 * public key as-is. `--format json` prints the API's JSON instead.
 * Exit codes: 0 ok, 1 error or (verify, verify-hmac) invalid, 2 usage error.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ALL_KEY_TYPE_NAMES, DEFAULT_KEY_TYPE, MAX_DELETION_DAYS, MIN_DELETION_DAYS } from '../../keys/key-type-names.js';
import { call, CliError } from '../http-client.js';
import { print, type OutputFormat } from '../output.js';
import { parseIntInRange } from '../parse.js';
import { clientOptions, type GlobalFlags } from './operator.js';
import { pemLabel, readFileArg, registerKeyImport } from './key-import.js';
import { readAllStdin, type CliIo } from '../cli-io.js';

/** The API's key metadata (GET /v1/keys/:name); never key material. */
interface KeyMetadata {
  name: string;
  type: string;
  description: string;
  tags: Record<string, string>;
  state: string;
  deletionDate?: string;
  exportable: boolean;
  legacy: boolean;
  sealWrap: boolean;
  publicOnly: boolean;
  latestVersion: number;
  minDecryptionVersion: number;
  minEncryptionVersion: number;
  minAvailableVersion: number;
  autoRotatePeriodSeconds: number;
  createdAt: string;
  updatedAt: string;
  lastRotatedAt: string;
  versions: { version: number; createdAt: string }[];
}

type Pairs = Record<string, string>;

interface AadFlags {
  context?: Pairs;
  aad?: string;
}

interface SignFlags {
  hash?: 'sha256' | 'sha384' | 'sha512';
  prehashed?: boolean;
  signatureAlgorithm?: 'pss' | 'pkcs1v15';
  signatureFormat?: 'der' | 'p1363';
}

const MAX_VERSION = 999_999_999;
const parseVersion = parseIntInRange(1, MAX_VERSION);
const parseLimit = parseIntInRange(1, 1000);
const parseRotatePeriod = parseIntInRange(0, 315_360_000);
const parseWaitingDays = parseIntInRange(MIN_DELETION_DAYS, MAX_DELETION_DAYS);

/** A repeatable `k=v` option (--tag, --context); a value without "=" is a usage error (exit 2). */
function pairs(flag: string) {
  return (value: string, previous: Pairs | undefined): Pairs => {
    const eq = value.indexOf('=');
    if (eq < 1) throw new InvalidArgumentError(`expected ${flag} key=value`);
    // fromEntries makes own properties, so a key such as "__proto__" stays a plain entry.
    return Object.fromEntries([...Object.entries(previous ?? {}), [value.slice(0, eq), value.slice(eq + 1)]]);
  };
}

function keyPath(name: string, ...rest: string[]): string {
  return ['/v1/keys', encodeURIComponent(name), ...rest].join('/');
}

function b64(bytes: Uint8Array | string): string {
  return (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes)).toString('base64');
}

async function readStdin(io: CliIo, what: string): Promise<Buffer> {
  if (io.stdin.isTTY === true) io.stderr.write(`Reading the ${what} from stdin; end with Ctrl-D.\n`);
  return readAllStdin(io);
}

/** The argument as UTF-8, or the raw bytes of stdin. */
async function bytesInput(io: CliIo, arg: string | undefined, what: string): Promise<Buffer> {
  return arg !== undefined ? Buffer.from(arg, 'utf8') : readStdin(io, what);
}

/** A token (ciphertext) from the argument or stdin, trimmed; empty is a usage error. */
async function tokenInput(io: CliIo, arg: string | undefined, what: string): Promise<string> {
  const text = (arg ?? (await readStdin(io, what)).toString('utf8')).trim();
  if (text === '') throw new CliError('KH_CLI_USAGE', `no ${what}: give it as an argument or on stdin`, 2);
  return text;
}

function aadBody(o: AadFlags): { context?: Pairs; associatedData?: string } {
  return { ...(o.context !== undefined ? { context: o.context } : {}), ...(o.aad !== undefined ? { associatedData: b64(o.aad) } : {}) };
}

function signBody(o: SignFlags): SignFlags {
  return {
    ...(o.hash !== undefined ? { hash: o.hash } : {}),
    ...(o.prehashed === true ? { prehashed: true } : {}),
    ...(o.signatureAlgorithm !== undefined ? { signatureAlgorithm: o.signatureAlgorithm } : {}),
    ...(o.signatureFormat !== undefined ? { signatureFormat: o.signatureFormat } : {}),
  };
}

function humanKey(m: KeyMetadata): Record<string, unknown> {
  return {
    ...m,
    description: m.description === '' ? undefined : m.description,
    tags: Object.keys(m.tags).length === 0 ? undefined : Object.entries(m.tags).map(([k, v]) => `${k}=${v}`),
    versions: m.versions.map((v) => v.version),
  };
}

function printKey(io: CliIo, format: OutputFormat, value: unknown): void {
  print(io.stdout, format, format === 'json' ? value : humanKey(value as KeyMetadata));
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n').join('');
}

/** The value alone in human mode (so it pipes), the API's JSON otherwise. */
function printValue(io: CliIo, format: OutputFormat, result: unknown, field: string): void {
  if (format === 'json') return print(io.stdout, 'json', result);
  io.stdout.write(`${String((result as Record<string, unknown>)[field])}\n`);
}

/** verify / verify-hmac: "valid" or "invalid", exit 0 or 1 (also with --format json). */
function printValidity(io: CliIo, format: OutputFormat, result: unknown): void {
  const valid = (result as { valid?: unknown }).valid === true;
  if (format === 'json') print(io.stdout, 'json', result);
  else io.stdout.write(valid ? 'valid\n' : 'invalid\n');
  io.setExitCode(valid ? 0 : 1);
}

const contextOption = () => new Option('--context <key=value>', 'encryption context pair (repeatable); the same pairs are needed to decrypt').argParser(pairs('--context'));
const aadOption = () => new Option('--aad <text>', 'associated data (UTF-8 text), authenticated but not encrypted; needed again to decrypt');

function addSignOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--hash <hash>', 'digest (ECDSA, RSA; default per key type)').choices(['sha256', 'sha384', 'sha512']))
    .option('--prehashed', 'the message is already a digest of --hash (ECDSA, RSA PKCS#1 v1.5); pass it as raw bytes on stdin')
    .addOption(new Option('--signature-algorithm <alg>', 'RSA padding (default pss)').choices(['pss', 'pkcs1v15']))
    .addOption(new Option('--signature-format <fmt>', 'ECDSA signature encoding (default der)').choices(['der', 'p1363']));
}

export function registerKey(program: Command, globals: () => GlobalFlags, io: CliIo): void {
  const key = program.command('key').description('create, import, manage and use keys: encrypt, decrypt, sign, verify, HMAC, key agreement, KEM');
  const api = (method: string, path: string, body?: unknown) => call(clientOptions(globals()), method, path, body);
  const format = () => globals().format;

  key
    .command('create')
    .description('create a key (its material never leaves the server)')
    .argument('<name>', 'key name: letters, digits, ".", "_", "-"')
    .addOption(new Option('--type <type>', `key type (default ${DEFAULT_KEY_TYPE}; hsm-* types need an HSM)`).choices(ALL_KEY_TYPE_NAMES))
    .option('--description <text>', 'description')
    .option('--tag <key=value>', 'tag (repeatable)', pairs('--tag'))
    .option('--exportable', 'allow export of the key material (only at creation; default not exportable)')
    .option('--auto-rotate-period <seconds>', 'rotate automatically every SECONDS (0 = off, or 3600..315360000)', parseRotatePeriod)
    .action(async (name: string, o: { type?: string; description?: string; tag?: Pairs; exportable?: boolean; autoRotatePeriod?: number }) => {
      const body = {
        name,
        ...(o.type !== undefined ? { type: o.type } : {}),
        ...(o.description !== undefined ? { description: o.description } : {}),
        ...(o.tag !== undefined ? { tags: o.tag } : {}),
        ...(o.exportable === true ? { exportable: true } : {}),
        ...(o.autoRotatePeriod !== undefined ? { autoRotatePeriodSeconds: o.autoRotatePeriod } : {}),
      };
      printKey(io, format(), await api('POST', '/v1/keys', body));
    });

  key
    .command('list')
    .description('list keys by name (paged)')
    .option('--limit <n>', 'keys per page (1-1000, default 100)', parseLimit)
    .option('--after <name>', 'list names after this one (the "next" of the previous page)')
    .action(async (o: { limit?: number; after?: string }) => {
      const query = new URLSearchParams();
      if (o.limit !== undefined) query.set('limit', String(o.limit));
      if (o.after !== undefined) query.set('after', o.after);
      const qs = query.toString();
      const result = (await api('GET', `/v1/keys${qs === '' ? '' : `?${qs}`}`)) as { keys: KeyMetadata[]; next?: string };
      if (format() === 'json') return print(io.stdout, 'json', result);
      if (result.keys.length === 0) io.stdout.write('No keys.\n');
      else {
        const rows = result.keys.map((k) => [k.name, k.type, k.state, String(k.latestVersion), k.description]);
        io.stdout.write(table([['NAME', 'TYPE', 'STATE', 'VERSION', 'DESCRIPTION'], ...rows]));
      }
      if (result.next !== undefined) io.stderr.write(`More keys: keyhold key list --after ${result.next}\n`);
    });

  key
    .command('show')
    .description('show a key\'s metadata (never its material)')
    .argument('<name>', 'key name')
    .action(async (name: string) => printKey(io, format(), await api('GET', keyPath(name))));

  /** POST /v1/keys/:name/<command>, no body, prints the metadata. */
  const simple = (command: string, description: string) =>
    key
      .command(command)
      .description(description)
      .argument('<name>', 'key name')
      .action(async (name: string) => printKey(io, format(), await api('POST', keyPath(name, command))));

  simple('rotate', 'add a new key version and make it current (old versions still decrypt and verify)');

  key
    .command('config')
    .description('change a key\'s version limits, description or rotation period')
    .argument('<name>', 'key name')
    .option('--min-decryption-version <n>', 'oldest version allowed to decrypt and verify', parseVersion)
    .option('--min-encryption-version <n>', 'oldest version allowed for new output (0 = always the latest)', parseIntInRange(0, MAX_VERSION))
    .option('--description <text>', 'description')
    .option('--auto-rotate-period <seconds>', 'rotate automatically every SECONDS (0 = off, or 3600..315360000)', parseRotatePeriod)
    .action(async (name: string, o: { minDecryptionVersion?: number; minEncryptionVersion?: number; description?: string; autoRotatePeriod?: number }) => {
      const body = {
        ...(o.minDecryptionVersion !== undefined ? { minDecryptionVersion: o.minDecryptionVersion } : {}),
        ...(o.minEncryptionVersion !== undefined ? { minEncryptionVersion: o.minEncryptionVersion } : {}),
        ...(o.description !== undefined ? { description: o.description } : {}),
        ...(o.autoRotatePeriod !== undefined ? { autoRotatePeriodSeconds: o.autoRotatePeriod } : {}),
      };
      if (Object.keys(body).length === 0) throw new CliError('KH_CLI_USAGE', 'nothing to change: give at least one option (see keyhold key config --help)', 2);
      printKey(io, format(), await api('PATCH', keyPath(name), body));
    });

  key
    .command('trim')
    .description('destroy the material of versions below N for good (N must be <= the min decryption version)')
    .argument('<name>', 'key name')
    .requiredOption('--min-available-version <n>', 'oldest version to keep', parseVersion)
    .action(async (name: string, o: { minAvailableVersion: number }) => {
      printKey(io, format(), await api('POST', keyPath(name, 'trim'), { minAvailableVersion: o.minAvailableVersion }));
    });

  simple('enable', 'enable a disabled key');
  simple('disable', 'disable a key: every operation is refused until it is enabled');

  key
    .command('delete')
    .description(`schedule deletion after a waiting period; the key is unusable meanwhile (undo with cancel-deletion)`)
    .argument('<name>', 'key name')
    .option('--waiting-days <n>', `days before the key is destroyed (${MIN_DELETION_DAYS}-${MAX_DELETION_DAYS}, default ${MAX_DELETION_DAYS})`, parseWaitingDays)
    .action(async (name: string, o: { waitingDays?: number }) => {
      const qs = o.waitingDays === undefined ? '' : `?waitingDays=${o.waitingDays}`;
      printKey(io, format(), await api('DELETE', `${keyPath(name)}${qs}`));
    });

  simple('cancel-deletion', 'cancel a scheduled deletion (the key comes back disabled)');

  key
    .command('public-key')
    .description('print the public key of a signature key (PEM by default, ready for openssl)')
    .argument('<name>', 'key name')
    // Not --version: the root command owns --version wherever it appears on the line.
    .option('--key-version <n>', 'key version (default the latest)', parseVersion)
    .addOption(new Option('--key-format <format>', 'pem (SPKI), jwk, or raw (base64; the only form for ML-DSA)').choices(['pem', 'jwk', 'raw']))
    .action(async (name: string, o: { keyVersion?: number; keyFormat?: string }) => {
      const query = new URLSearchParams();
      if (o.keyVersion !== undefined) query.set('version', String(o.keyVersion));
      if (o.keyFormat !== undefined) query.set('format', o.keyFormat);
      const qs = query.toString();
      const result = (await api('GET', `${keyPath(name, 'public-key')}${qs === '' ? '' : `?${qs}`}`)) as { publicKey: unknown };
      if (format() === 'json') return print(io.stdout, 'json', result);
      const text = typeof result.publicKey === 'string' ? result.publicKey : JSON.stringify(result.publicKey);
      io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    });

  key
    .command('encrypt')
    .description('encrypt; prints the ciphertext (keyhold:v<n>:...)')
    .argument('<name>', 'key name')
    .argument('[plaintext]', 'UTF-8 text (default: the raw bytes of stdin)')
    .addOption(contextOption())
    .addOption(aadOption())
    .action(async (name: string, plaintext: string | undefined, o: AadFlags) => {
      const bytes = await bytesInput(io, plaintext, 'plaintext');
      printValue(io, format(), await api('POST', keyPath(name, 'encrypt'), { plaintext: b64(bytes), ...aadBody(o) }), 'ciphertext');
    });

  key
    .command('decrypt')
    .description('decrypt; prints the plaintext as raw bytes (base64 in --format json)')
    .argument('<name>', 'key name')
    .argument('[ciphertext]', 'keyhold:v<n>:... (default: read from stdin)')
    .addOption(contextOption())
    .addOption(aadOption())
    .action(async (name: string, ciphertext: string | undefined, o: AadFlags) => {
      const text = await tokenInput(io, ciphertext, 'ciphertext');
      const result = (await api('POST', keyPath(name, 'decrypt'), { ciphertext: text, ...aadBody(o) })) as { plaintext: string };
      if (format() === 'json') return print(io.stdout, 'json', result);
      io.stdout.write(Buffer.from(result.plaintext, 'base64'));
    });

  key
    .command('rewrap')
    .description('re-encrypt a ciphertext under the current key version without revealing the plaintext')
    .argument('<name>', 'key name')
    .argument('[ciphertext]', 'keyhold:v<n>:... (default: read from stdin)')
    .addOption(contextOption())
    .addOption(aadOption())
    .action(async (name: string, ciphertext: string | undefined, o: AadFlags) => {
      const text = await tokenInput(io, ciphertext, 'ciphertext');
      printValue(io, format(), await api('POST', keyPath(name, 'rewrap'), { ciphertext: text, ...aadBody(o) }), 'ciphertext');
    });

  key
    .command('datakey')
    .description('generate a data key: prints it (base64) and its ciphertext under this key')
    .argument('<name>', 'key name')
    .addOption(new Option('--bits <bits>', 'data key size (default 256)').choices(['128', '256', '512']))
    .option('--wrapped-only', 'return only the ciphertext, not the plaintext data key')
    .addOption(contextOption())
    .addOption(aadOption())
    .action(async (name: string, o: AadFlags & { bits?: string; wrappedOnly?: boolean }) => {
      const body = { ...(o.bits !== undefined ? { bits: Number(o.bits) } : {}), ...(o.wrappedOnly === true ? { plaintext: false } : {}), ...aadBody(o) };
      const result = (await api('POST', keyPath(name, 'datakey'), body)) as { ciphertext: string; plaintext?: string; version: number };
      print(io.stdout, format(), format() === 'json' ? result : { plaintext: result.plaintext, ciphertext: result.ciphertext, version: result.version });
    });

  addSignOptions(
    key
      .command('sign')
      .description('sign a message; prints the signature (keyhold:v<n>:...)')
      .argument('<name>', 'key name')
      .argument('[message]', 'UTF-8 text (default: the raw bytes of stdin)'),
  ).action(async (name: string, message: string | undefined, o: SignFlags) => {
    const bytes = await bytesInput(io, message, 'message');
    printValue(io, format(), await api('POST', keyPath(name, 'sign'), { input: b64(bytes), ...signBody(o) }), 'signature');
  });

  addSignOptions(
    key
      .command('verify')
      .description('verify a signature; prints valid or invalid and exits 0 or 1')
      .argument('<name>', 'key name')
      .argument('<signature>', 'keyhold:v<n>:...')
      .argument('[message]', 'UTF-8 text (default: the raw bytes of stdin)'),
  ).action(async (name: string, signature: string, message: string | undefined, o: SignFlags) => {
    const bytes = await bytesInput(io, message, 'message');
    printValidity(io, format(), await api('POST', keyPath(name, 'verify'), { input: b64(bytes), signature: signature.trim(), ...signBody(o) }));
  });

  key
    .command('hmac')
    .description('compute an HMAC; prints it (keyhold:v<n>:...)')
    .argument('<name>', 'key name')
    .argument('[message]', 'UTF-8 text (default: the raw bytes of stdin)')
    .action(async (name: string, message: string | undefined) => {
      const bytes = await bytesInput(io, message, 'message');
      printValue(io, format(), await api('POST', keyPath(name, 'hmac'), { input: b64(bytes) }), 'hmac');
    });

  key
    .command('verify-hmac')
    .description('verify an HMAC; prints valid or invalid and exits 0 or 1')
    .argument('<name>', 'key name')
    .argument('<hmac>', 'keyhold:v<n>:...')
    .argument('[message]', 'UTF-8 text (default: the raw bytes of stdin)')
    .action(async (name: string, hmac: string, message: string | undefined) => {
      const bytes = await bytesInput(io, message, 'message');
      printValidity(io, format(), await api('POST', keyPath(name, 'verify-hmac'), { input: b64(bytes), hmac: hmac.trim() }));
    });

  key
    .command('derive')
    .description('X25519 key agreement with a peer public key; prints the shared secret, or an AES-256 key (HKDF-SHA-256), in base64')
    .argument('<name>', 'key name')
    .requiredOption('--peer-public-key-file <path>', 'the peer\'s X25519 public key: PEM, SPKI DER or the raw 32 bytes')
    .addOption(new Option('--output <kind>', 'shared-secret (default) or aes256-key (HKDF-SHA-256 of the shared secret)').choices(['shared-secret', 'aes256-key']))
    .option('--salt <text>', 'HKDF salt, UTF-8 text (aes256-key only)')
    .option('--info <text>', 'HKDF info, UTF-8 text (aes256-key only)')
    .action(async (name: string, o: { peerPublicKeyFile: string; output?: string; salt?: string; info?: string }) => {
      if (o.output !== 'aes256-key' && (o.salt !== undefined || o.info !== undefined)) throw new CliError('KH_CLI_USAGE', '--salt and --info apply only to --output aes256-key', 2);
      const peer = readFileArg(o.peerPublicKeyFile, '--peer-public-key-file');
      const body = {
        // The API takes a PEM as text, binary forms in base64.
        peerPublicKey: pemLabel(peer) === undefined ? b64(peer) : peer.toString('utf8').trim(),
        ...(o.output !== undefined ? { output: o.output } : {}),
        ...(o.salt !== undefined ? { salt: b64(o.salt) } : {}),
        ...(o.info !== undefined ? { info: b64(o.info) } : {}),
      };
      printValue(io, format(), await api('POST', keyPath(name, 'derive'), body), 'secret');
    });

  key
    .command('encapsulate')
    .description('ML-KEM: make a fresh shared secret; prints its encapsulation (ciphertext, keyhold:v<n>:...) and the secret (base64)')
    .argument('<name>', 'key name')
    .action(async (name: string) => {
      const result = (await api('POST', keyPath(name, 'encapsulate'), {})) as { ciphertext: string; sharedSecret: string; version: number };
      print(io.stdout, format(), format() === 'json' ? result : { ciphertext: result.ciphertext, sharedSecret: result.sharedSecret });
    });

  key
    .command('decapsulate')
    .description('ML-KEM: recover the shared secret of an encapsulation; prints it (base64)')
    .argument('<name>', 'key name')
    .argument('[ciphertext]', 'keyhold:v<n>:... from encapsulate (default: read from stdin)')
    .action(async (name: string, ciphertext: string | undefined) => {
      const text = await tokenInput(io, ciphertext, 'ciphertext');
      printValue(io, format(), await api('POST', keyPath(name, 'decapsulate'), { ciphertext: text }), 'sharedSecret');
    });

  registerKeyImport(key, api, format, (f, v) => printKey(io, f, v), io);
}
