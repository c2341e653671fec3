/**
 * `keyhold key wrapping-key | import | import-version | export`: bring your
 * own key (BYOK) and export, registered on the `key` command by key.ts.
 *
 * `import --file` wraps the material on this machine, in the format of
 * docs/keys.md (Vault transit's), so it never crosses the wire in the clear:
 *
 *   RSA-OAEP-SHA256(wrapping key, ephemeral AES-256 key) || AES-KWP(ephemeral key, material)
 *
 * The ephemeral key and the material buffers are zeroed as soon as the
 * ciphertext is built, also on failure. (A KeyObject parsed from a PEM file
 * and the base64 strings are beyond reach of wiping; they die with the process.)
 * `import --public-key-file` sends a public key only, for a verify/encrypt-only key.
 */
import { constants, createCipheriv, createPrivateKey, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { KEY_TYPE_NAMES } from '../../keys/key-type-names.js';
import { CliError } from '../http-client.js';
import { print, type OutputFormat } from '../output.js';
import type { CliIo } from '../cli-io.js';

export type Api = (method: string, path: string, body?: unknown) => Promise<unknown>;

const WRAPPING_ALGORITHM = 'RSA_OAEP_SHA256_AES_KWP';
/** RFC 5649's alternative initial value: AES-KWP (with padding). */
const KWP_IV = Buffer.from('A65959A6', 'hex');

const usage = (message: string) => new CliError('KH_CLI_USAGE', message, 2);

/** The bytes of a file named on the command line; an unreadable or empty file is a usage error. */
export function readFileArg(path: string, flag: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw usage(`${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e))}`);
  }
  if (bytes.length === 0) throw usage(`${flag}: ${path} is empty`);
  return bytes;
}

/**
 * The label of a PEM file ("PRIVATE KEY", "PUBLIC KEY", ...), or undefined for
 * binary content. The BEGIN line may follow other text (openssl's "Bag
 * Attributes"). Searches the buffer in place: decoding it to a string would
 * leave a copy of raw key material that cannot be wiped.
 */
export function pemLabel(bytes: Buffer): string | undefined {
  const begin = '-----BEGIN ';
  const at = bytes.indexOf(begin);
  if (at < 0 || (at > 0 && bytes[at - 1] !== 0x0a)) return undefined;
  const end = bytes.indexOf('-----', at + begin.length);
  if (end < 0 || end - at > 80) return undefined;
  const label = bytes.subarray(at + begin.length, end).toString('latin1');
  return /^[A-Z0-9 ]+$/.test(label) ? label : undefined;
}

/** Private material for --file: raw bytes as they are, a PEM private key as PKCS#8 DER. Wipes what it read when it converts. */
function privateMaterial(path: string): Buffer {
  const bytes = readFileArg(path, '--file');
  const label = pemLabel(bytes);
  if (label === undefined) return bytes;
  try {
    if (label === 'ENCRYPTED PRIVATE KEY') throw usage(`--file: ${path} is encrypted; decrypt it first (openssl pkey -in ${path} -out key.pem)`);
    if (!label.endsWith('PRIVATE KEY')) throw usage(`--file: ${path} is a PEM ${label}, not a private key${label.endsWith('PUBLIC KEY') ? '; import a public key with --public-key-file' : ''}`);
    return createPrivateKey({ key: bytes, format: 'pem' }).export({ format: 'der', type: 'pkcs8' });
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw usage(`--file: ${path} is not a PEM private key node:crypto can read`);
  } finally {
    bytes.fill(0);
  }
}

/** A public key for --public-key-file: a PEM as SPKI DER, binary content (SPKI DER or a raw key) as it is. */
function publicKeyMaterial(path: string): Buffer {
  const bytes = readFileArg(path, '--public-key-file');
  const label = pemLabel(bytes);
  if (label === undefined) return bytes;
  // createPublicKey would derive the public half of a private key; refuse instead, the user meant --file or the wrong file.
  if (label.includes('PRIVATE')) throw usage(`--public-key-file: ${path} holds a private key; give its public key (openssl pkey -in ${path} -pubout) or use --file`);
  try {
    return createPublicKey({ key: bytes, format: 'pem' }).export({ format: 'der', type: 'spki' });
  } catch {
    throw usage(`--public-key-file: ${path} is not a PEM public key node:crypto can read`);
  }
}

/** The BYOK ciphertext (base64) of `material` for the wrapping key; wipes the ephemeral key. */
export function wrapForImport(wrappingPem: string, material: Buffer): string {
  const ephemeral = randomBytes(32);
  try {
    const wrappedKey = publicEncrypt({ key: wrappingPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, ephemeral);
    const kwp = createCipheriv('id-aes256-wrap-pad', ephemeral, KWP_IV);
    return Buffer.concat([wrappedKey, kwp.update(material), kwp.final()]).toString('base64');
  } finally {
    ephemeral.fill(0);
  }
}

async function wrappingKey(api: Api): Promise<{ publicKey: string; algorithm: string }> {
  const result = (await api('GET', '/v1/wrapping-key')) as { publicKey: string; algorithm: string };
  if (result.algorithm !== WRAPPING_ALGORITHM) throw new CliError('KH_CLI_HTTP', `the server wraps with ${String(result.algorithm)}; this CLI only knows ${WRAPPING_ALGORITHM}`);
  return result;
}

interface MaterialFlags {
  file?: string;
  publicKeyFile?: string;
}

/** The import body's material: {ciphertext} wrapped here from --file, or {publicKey} from --public-key-file. */
async function materialBody(api: Api, o: MaterialFlags): Promise<{ ciphertext: string } | { publicKey: string }> {
  if (o.publicKeyFile !== undefined) return { publicKey: publicKeyMaterial(o.publicKeyFile).toString('base64') };
  if (o.file === undefined) throw usage('give --file (private key material, wrapped here) or --public-key-file (a public key only)');
  const material = privateMaterial(o.file);
  try {
    return { ciphertext: wrapForImport((await wrappingKey(api)).publicKey, material) };
  } finally {
    material.fill(0);
  }
}

/** --file and --public-key-file, one of them required (checked in materialBody). */
function addMaterialOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--file <path>', 'private key material: raw bytes (symmetric keys, seeds), PKCS#8 DER, or a PEM private key; wrapped here before it is sent').conflicts('publicKeyFile'))
    .addOption(new Option('--public-key-file <path>', 'a public key only (PEM, SPKI DER, or raw for ML-DSA/ML-KEM/X25519): the key can verify or encrypt, never sign or decrypt'));
}

function keyPath(name: string, ...rest: string[]): string {
  return ['/v1/keys', encodeURIComponent(name), ...rest].join('/');
}

export function registerKeyImport(key: Command, api: Api, format: () => OutputFormat, printKey: (format: OutputFormat, value: unknown) => void, io: CliIo): void {
  key
    .command('wrapping-key')
    .description('print the RSA-4096 public key (PEM) that wraps key material for import')
    .action(async () => {
      const result = await wrappingKey(api);
      if (format() === 'json') return print(io.stdout, 'json', result);
      io.stdout.write(result.publicKey.endsWith('\n') ? result.publicKey : `${result.publicKey}\n`);
    });

  addMaterialOptions(
    key
      .command('import')
      .description('create a key from your own material (wrapped here, see docs/keys.md) or from a public key only')
      .argument('<name>', 'key name: letters, digits, ".", "_", "-"')
      .addOption(new Option('--type <type>', 'key type').choices(KEY_TYPE_NAMES).makeOptionMandatory())
      .option('--description <text>', 'description')
      .option('--exportable', 'allow export of the key material (only at creation; default not exportable)'),
  ).action(async (name: string, o: MaterialFlags & { type: string; description?: string; exportable?: boolean }) => {
    const body = {
      type: o.type,
      ...(o.description !== undefined ? { description: o.description } : {}),
      ...(o.exportable === true ? { exportable: true } : {}),
      ...(await materialBody(api, o)),
    };
    printKey(format(), await api('POST', keyPath(name, 'import'), body));
  });

  addMaterialOptions(
    key
      .command('import-version')
      .description('add a version from your own material and make it current (a public key, for public-only keys)')
      .argument('<name>', 'key name'),
  ).action(async (name: string, o: MaterialFlags) => {
    printKey(format(), await api('POST', keyPath(name, 'import-version'), await materialBody(api, o)));
  });

  key
    .command('export')
    .description('print the material of an exportable key: one "<version>  <base64 secret>" line per version ("-" for public-only versions)')
    .argument('<name>', 'key name')
    .action(async (name: string) => {
      const result = (await api('GET', keyPath(name, 'export'))) as { versions: { version: number; secret?: string }[] };
      if (format() === 'json') return print(io.stdout, 'json', result);
      io.stdout.write(result.versions.map((v) => `${v.version}  ${v.secret ?? '-'}\n`).join(''));
    });
}
