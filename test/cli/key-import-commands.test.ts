/**
 * `keyhold key wrapping-key | import | import-version | export | derive |
 * encapsulate | decapsulate` against a real server, each result checked with
 * node:crypto on this side: an imported AES key decrypts Keyhold's ciphertext
 * locally, an imported Ed25519 PEM signs exactly as node does, a public-only
 * key verifies node's signature, export gives back the imported bytes (and is
 * refused for a non-exportable key), X25519 derive equals node's
 * diffieHellman, an ML-KEM encapsulation decapsulates to its secret, and
 * import-version adds a binary (DER) public key as version 2.
 *
 * Commands run in this process (runCliRaw) in two parallel waves; the
 * dependent decapsulate runs the real binary in a bash script.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runningVault } from '../helpers/keyhold.js';
import { CLI_ARGS, runCliRaw, spawnRaw, type RawRun } from '../helpers/cli.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function asText(run: Promise<RawRun>): Promise<Run> {
  const r = await run;
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

interface Meta {
  name: string;
  type: string;
  exportable: boolean;
  publicOnly: boolean;
  latestVersion: number;
}

test('keys are imported (wrapped locally), exported, and used for key agreement and ML-KEM from the CLI', async (t) => {
  const { server, dir, rootToken } = await runningVault(t);

  const env = { KEYHOLD_ADDR: server.apiUrl, KEYHOLD_TOKEN: rootToken, DIR: dir, KH_NODE: process.execPath };
  const kh = (...args: string[]) => asText(runCliRaw(args, env));
  const sh = (script: string) => asText(spawnRaw('bash', ['-c', `set -euo pipefail\nkh() { "$KH_NODE" ${CLI_ARGS.join(' ')} "$@"; }\n${script}`], env));
  const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);
  const file = (name: string, content: Buffer | string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const meta = (r: Run) => JSON.parse(r.stdout) as Meta;

  // Material made here, with node:crypto.
  const aesBytes = randomBytes(32);
  const ed = generateKeyPairSync('ed25519');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecNext = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
  const x = generateKeyPairSync('x25519');
  const peer = generateKeyPairSync('x25519');
  const aesFile = file('aes.bin', aesBytes);
  const ecNextFile = file('ec-next.pub.der', ecNext);
  const edFile = file('ed.pem', ed.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const ecPubFile = file('ec.pub.pem', ec.publicKey.export({ format: 'pem', type: 'spki' }));
  const xFile = file('x.pem', x.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const peerFile = file('peer.pub.pem', peer.publicKey.export({ format: 'pem', type: 'spki' }));

  // Wave 1: the wrapping key, the imports, an ML-KEM key.
  const [wrapping, aes, edKey, partner, xKey, kem] = await Promise.all([
    kh('key', 'wrapping-key'),
    kh('key', 'import', 'aes', '--type', 'aes256-gcm', '--file', aesFile, '--exportable', '--description', 'moved in', '-f', 'json'),
    kh('key', 'import', 'ed', '--type', 'ed25519', '--file', edFile, '-f', 'json'),
    kh('key', 'import', 'partner', '--type', 'ecdsa-p256', '--public-key-file', ecPubFile),
    kh('key', 'import', 'x', '--type', 'x25519', '--file', xFile, '-f', 'json'),
    kh('key', 'create', 'kem', '--type', 'ml-kem-768'),
  ]);
  ok(wrapping, 'wrapping-key');
  assert.match(wrapping.stdout, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);
  const wk = createPublicKey(wrapping.stdout);
  assert.deepEqual([wk.asymmetricKeyType, wk.asymmetricKeyDetails?.modulusLength], ['rsa', 4096]);
  ok(aes, 'import aes');
  assert.deepEqual(
    [meta(aes).name, meta(aes).type, meta(aes).exportable, meta(aes).publicOnly, meta(aes).latestVersion, (JSON.parse(aes.stdout) as { description: string }).description],
    ['aes', 'aes256-gcm', true, false, 1, 'moved in'],
  );
  ok(edKey, 'import ed25519 PEM');
  assert.deepEqual([meta(edKey).type, meta(edKey).exportable, meta(edKey).publicOnly], ['ed25519', false, false]);
  ok(partner, 'import public key');
  assert.match(partner.stdout, /^publicOnly\s+true$/m);
  ok(xKey, 'import x25519 PEM');
  ok(kem, 'create ml-kem-768');

  // Wave 2: use every key, export, encapsulate then decapsulate, and add a version to
  // the public-only key (verify takes the version of its signature, v1; the others
  // here work with the latest version, so a concurrent new one would race them).
  const message = 'release 1.2.3';
  const ecSignature = sign('sha256', Buffer.from(message), ec.privateKey).toString('base64');
  const [encrypted, signed, verified, exported, refused, derived, kemTrip, nextVersion] = await Promise.all([
    kh('key', 'encrypt', 'aes', 'moved in'),
    kh('key', 'sign', 'ed', message),
    kh('key', 'verify', 'partner', `keyhold:v1:${ecSignature}`, message),
    kh('key', 'export', 'aes'),
    kh('key', 'export', 'ed'),
    kh('key', 'derive', 'x', '--peer-public-key-file', peerFile),
    sh(`kh key encapsulate kem > "$DIR/encap.txt"\nkh key decapsulate kem "$(awk '$1 == "ciphertext" { print $2 }' "$DIR/encap.txt")"`),
    kh('key', 'import-version', 'partner', '--public-key-file', ecNextFile, '-f', 'json'),
  ]);

  // Keyhold's ciphertext decrypts here with the bytes of the imported file.
  ok(encrypted, 'encrypt');
  const raw = Buffer.from(encrypted.stdout.trim().split(':')[2]!, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', aesBytes, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  assert.equal(Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString(), 'moved in');

  // Ed25519 is deterministic: Keyhold's signature is node's.
  ok(signed, 'sign');
  assert.equal(signed.stdout, `keyhold:v1:${sign(null, Buffer.from(message), ed.privateKey).toString('base64')}\n`);

  assert.deepEqual([verified.code, verified.stdout], [0, 'valid\n'], verified.stderr);

  ok(exported, 'export');
  assert.equal(exported.stdout, `1  ${aesBytes.toString('base64')}\n`);
  assert.deepEqual([refused.code, refused.stdout], [1, '']);
  assert.match(refused.stderr, /^Error KH_KEY_NOT_EXPORTABLE: /);

  ok(derived, 'derive');
  assert.equal(derived.stdout, `${diffieHellman({ privateKey: peer.privateKey, publicKey: x.publicKey }).toString('base64')}\n`);

  ok(kemTrip, 'encapsulate | decapsulate');
  const encap = readFileSync(join(dir, 'encap.txt'), 'utf8');
  assert.match(encap, /^ciphertext\s+keyhold:v1:[A-Za-z0-9+/]+=*\nsharedSecret\s+[A-Za-z0-9+/]+=*\n$/);
  const sharedSecret = /^sharedSecret\s+(\S+)$/m.exec(encap)![1]!;
  assert.equal(Buffer.from(sharedSecret, 'base64').length, 32);
  assert.equal(kemTrip.stdout, `${sharedSecret}\n`);

  ok(nextVersion, 'import-version');
  assert.deepEqual([meta(nextVersion).latestVersion, meta(nextVersion).publicOnly], [2, true]);
  const stored = (await server.services.keys.store.all()).find((k) => k.name === 'partner')!.record;
  assert.equal(stored.versions[1]!.publicKey, ecNext.toString('base64'));
});
