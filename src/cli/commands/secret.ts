/**
 * `keyhold secret ...`: versioned KV secrets over /v1/secrets (docs/secrets.md):
 * put, get, delete, undelete, destroy, metadata (show or change), list,
 * and generated secrets (password, ssh-host-key, datakey) and TLS material.
 *
 * `put PATH key=value ... [--file name=@path]` writes a new version; a
 * value of `@path` reads a file (so values need not appear in the shell
 * history). `get PATH --field F` prints one value alone (a file's raw bytes),
 * so it pipes. Exit codes: 0 ok, 1 error, 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { call, CliError } from '../http-client.js';
import { print } from '../output.js';
import { parseIntInRange } from '../parse.js';
import { clientOptions, type GlobalFlags } from './operator.js';
import type { CliIo } from '../cli-io.js';

const parseVersion = parseIntInRange(1, 999_999_999);
const parseVersions = (value: string): number[] =>
  value.split(',').map((v) => {
    if (!/^[1-9][0-9]{0,8}$/.test(v.trim())) throw new InvalidArgumentError('expected versions such as 1,2,5');
    return Number(v.trim());
  });

function readArgFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    throw new CliError('KH_CLI_USAGE', `cannot read ${what} ${path}`, 2);
  }
}

/** `name=value` pairs; a value `@file` is that file's text. */
function parsePairs(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq < 1) throw new CliError('KH_CLI_USAGE', `expected key=value, got ${a.includes('=') ? 'an empty key' : JSON.stringify(a)}`, 2);
    const v = a.slice(eq + 1);
    Object.defineProperty(out, a.slice(0, eq), { value: v.startsWith('@') ? readArgFile(v.slice(1), 'value file').toString('utf8') : v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function collectFile(value: string, previous: string[] = []): string[] {
  if (!/^[^=]+=@.+$/.test(value)) throw new InvalidArgumentError('expected --file name=@path');
  return [...previous, value];
}

const secretPath = (route: string, path: string) => `/v1/secrets/${route}/${path.split('/').map(encodeURIComponent).join('/')}`;

interface ReadAnswer {
  version: number;
  type: string;
  createdAt: string;
  data: Record<string, string>;
  files: Record<string, string>;
}

export function registerSecret(program: Command, globals: () => GlobalFlags, io: CliIo): void {
  const secret = program.command('secret').description('versioned secrets for workloads: put, get, delete, undelete, destroy, metadata, list');
  const api = (method: string, path: string, body?: unknown) => call(clientOptions(globals()), method, path, body);
  const format = () => globals().format;

  secret
    .command('put')
    .description('write a new version: key=value pairs (value @file reads a file) and --file name=@path, or --tls-cert/--tls-key, or --generate')
    .argument('<path>', 'secret path, e.g. app/db')
    .argument('[pairs...]', 'key=value')
    .option('--file <name=@path>', 'a file entry (repeatable; up to 1 MiB each)', collectFile)
    .option('--cas <version>', 'check-and-set: write only if the current version is this (0: only if the secret has none)', parseIntInRange(0, 999_999_999))
    .option('--tls-cert <file>', 'TLS: PEM certificate chain, leaf first (with --tls-key)')
    .option('--tls-key <file>', 'TLS: PEM private key of the leaf')
    .option('--tls-ca <file>', 'TLS: PEM CA bundle for ca.crt')
    .addOption(new Option('--generate <kind>', 'generate the content here').choices(['password', 'ssh-host-key', 'datakey']))
    .option('--length <n>', 'password length (8-1024, default 32)', parseIntInRange(8, 1024))
    .option('--alphabet <chars>', 'password alphabet (distinct printable ASCII)')
    .option('--key <name>', 'datakey: the key that wraps the data key')
    .addOption(new Option('--bits <bits>', 'datakey size (default 256)').choices(['128', '256', '512']))
    .option('--comment <text>', 'ssh-host-key: comment of the public key')
    .action(async (path: string, pairs: string[], o: { file?: string[]; cas?: number; tlsCert?: string; tlsKey?: string; tlsCa?: string; generate?: string; length?: number; alphabet?: string; key?: string; bits?: string; comment?: string }) => {
      let body: Record<string, unknown>;
      if (o.generate !== undefined) {
        if (o.generate === 'datakey' && o.key === undefined) throw new CliError('KH_CLI_USAGE', '--generate datakey needs --key', 2);
        body = {
          generate: {
            kind: o.generate,
            ...(o.length !== undefined && { length: o.length }),
            ...(o.alphabet !== undefined && { alphabet: o.alphabet }),
            ...(o.key !== undefined && { key: o.key }),
            ...(o.bits !== undefined && { bits: Number(o.bits) }),
            ...(o.comment !== undefined && { comment: o.comment }),
          },
        };
      } else if (o.tlsCert !== undefined || o.tlsKey !== undefined) {
        if (o.tlsCert === undefined || o.tlsKey === undefined) throw new CliError('KH_CLI_USAGE', '--tls-cert and --tls-key go together', 2);
        body = {
          tls: {
            certificate: readArgFile(o.tlsCert, 'certificate').toString('utf8'),
            privateKey: readArgFile(o.tlsKey, 'private key').toString('utf8'),
            ...(o.tlsCa !== undefined && { ca: readArgFile(o.tlsCa, 'CA bundle').toString('utf8') }),
          },
        };
      } else {
        const data = parsePairs(pairs);
        const files: Record<string, string> = {};
        for (const f of o.file ?? []) {
          const eq = f.indexOf('=@');
          Object.defineProperty(files, f.slice(0, eq), { value: readArgFile(f.slice(eq + 2), 'file').toString('base64'), enumerable: true, writable: true, configurable: true });
        }
        if (Object.keys(data).length === 0 && Object.keys(files).length === 0) throw new CliError('KH_CLI_USAGE', 'nothing to write: give key=value pairs, --file, --tls-cert/--tls-key or --generate', 2);
        body = { ...(Object.keys(data).length > 0 && { data }), ...(Object.keys(files).length > 0 && { files }) };
      }
      if (o.cas !== undefined) body.options = { cas: o.cas };
      print(io.stdout, format(), await api('POST', secretPath('data', path), body));
    });

  secret
    .command('get')
    .description('read a version (default: the current one); --field prints one value or file alone')
    .argument('<path>', 'secret path')
    // Not --version: commander gives that to the program's own version flag.
    .option('--ver <n>', 'version to read (default: the current one)', parseVersion)
    .option('--field <name>', 'print only this data value or file (raw bytes)')
    .action(async (path: string, o: { ver?: number; field?: string }) => {
      const answer = (await api('GET', `${secretPath('data', path)}${o.ver !== undefined ? `?version=${o.ver}` : ''}`)) as ReadAnswer;
      if (o.field !== undefined) {
        if (Object.hasOwn(answer.data, o.field)) io.stdout.write(`${answer.data[o.field]!}\n`);
        else if (Object.hasOwn(answer.files, o.field)) io.stdout.write(Buffer.from(answer.files[o.field]!, 'base64'));
        else throw new CliError('KH_CLI_FIELD_NOT_FOUND', `version ${answer.version} has no field ${o.field}`, 1);
        return;
      }
      if (format() === 'json') return print(io.stdout, 'json', answer);
      print(io.stdout, 'human', { version: answer.version, type: answer.type, createdAt: answer.createdAt, ...answer.data, ...Object.fromEntries(Object.entries(answer.files).map(([k, v]) => [k, `<file, ${Buffer.from(v, 'base64').length} bytes>`])) });
    });

  for (const [name, route, description] of [
    ['delete', 'delete', 'soft-delete versions (default: the current one); undelete brings them back'],
    ['undelete', 'undelete', 'undo the soft deletion of versions'],
    ['destroy', 'destroy', 'remove the data of versions for good'],
  ] as const) {
    secret
      .command(name)
      .description(description)
      .argument('<path>', 'secret path')
      .option('--versions <list>', 'comma-separated versions', parseVersions)
      .action(async (path: string, o: { versions?: number[] }) => {
        if (name !== 'delete' && o.versions === undefined) throw new CliError('KH_CLI_USAGE', `${name} needs --versions`, 2);
        print(io.stdout, format(), await api('POST', secretPath(route, path), o.versions === undefined ? {} : { versions: o.versions }));
      });
  }

  secret
    .command('metadata')
    .description('show the settings and version history of a secret, or change them; --delete removes the secret and all versions')
    .argument('<path>', 'secret path')
    .option('--max-versions <n>', 'keep at most N versions (1-100)', parseIntInRange(1, 100))
    .addOption(new Option('--cas-required <bool>', 'require check-and-set writes').choices(['true', 'false']))
    .option('--delete-version-after <seconds>', 'soft-delete versions this long after they are written (0: never)', parseIntInRange(0, 315_360_000))
    .option('--custom <key=value>', 'custom metadata pair (repeatable; replaces all custom metadata)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--delete', 'delete the secret: metadata and every version, for good')
    .action(async (path: string, o: { maxVersions?: number; casRequired?: string; deleteVersionAfter?: number; custom?: string[]; delete?: boolean }) => {
      if (o.delete === true) return print(io.stdout, format(), await api('DELETE', secretPath('metadata', path)));
      const body = {
        ...(o.maxVersions !== undefined && { maxVersions: o.maxVersions }),
        ...(o.casRequired !== undefined && { casRequired: o.casRequired === 'true' }),
        ...(o.deleteVersionAfter !== undefined && { deleteVersionAfterSeconds: o.deleteVersionAfter }),
        ...(o.custom !== undefined && { customMetadata: parsePairs(o.custom) }),
      };
      print(io.stdout, format(), await api(Object.keys(body).length === 0 ? 'GET' : 'POST', secretPath('metadata', path), Object.keys(body).length === 0 ? undefined : body));
    });

  secret
    .command('list')
    .description('names under a folder (one level; folders end with "/")')
    .argument('[folder]', 'folder, e.g. app/ (default: the top)', '')
    .action(async (folder: string) => {
      const answer = (await api('GET', `/v1/secrets/list/${folder.split('/').map(encodeURIComponent).join('/')}`)) as { keys: string[] };
      if (format() === 'json') return print(io.stdout, 'json', answer);
      io.stdout.write(answer.keys.map((k) => `${k}\n`).join(''));
    });
}
