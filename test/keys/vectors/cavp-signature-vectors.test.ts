/**
 * NIST CAVP signature-verification vectors (Debian's
 * python3-cryptography-vectors) through Keyhold's own verify
 * (keys/operations/sign.ts verifyMessage) on public-only keys imported from
 * each vector's public key (SPKI built from Qx/Qy or n/e):
 * - ECDSA (FIPS 186-3 SigVer.rsp) on P-256, P-384 and P-521 with SHA-256/384/512
 *   and SHA-1 (legacy keys): P → valid, F (message, R, S or Q changed) →
 *   invalid or, for a changed Q that is not a curve point, refused at import.
 *   Each signature is checked as P1363 (r || s) and as DER, and the prehashed
 *   path (verifyMessage over the digest, @noble/curves) must agree.
 * - RSA PKCS#1 v1.5 (SigVer15_186-3.rsp) for 2048/3072/4096-bit moduli with
 *   SHA-256/384/512 and SHA-1 (legacy): P → valid, F → invalid; the prehashed
 *   path (publicDecrypt + DigestInfo) must agree.
 * - RSA-PSS: Keyhold's PSS uses a salt as long as the digest. SigVerPSS_186-3
 *   signs with a 10-byte salt, so it does not apply (counted); SigGenPSS_186-2
 *   signs with a 20-byte salt, which is SHA-1's digest length: its SHA-1
 *   signatures must verify (legacy keys), and with one message bit changed
 *   must not.
 * Not applicable (counted): other curves (P-192, P-224, K-*, B-*), SHA-224,
 * moduli without a key type (1024, 1536).
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { createHash, createPublicKey } from 'node:crypto';
import type { KeyType } from '../../../src/keys/key-types.js';
import { verifyMessage, type SignRequestOptions } from '../../../src/keys/operations/sign.js';
import { encodeVersioned } from '../../../src/keys/ciphertext.js';
import type { ManagedKey } from '../../../src/keys/managed-key.js';
import type { HashName } from '../../../src/crypto/signature/signature-scheme.js';
import { concatBytes } from '../../../src/crypto/bytes.js';
import { packagedVectors } from '../../helpers/vectors.js';
import { VectorTally, attempt, attemptAsync, describeError, isKeyholdCode, keyNames, toHex, vaultKeys, type ExpectedCounts } from './wycheproof.js';
import { cavpHex, field, fixedWidth, loadCavp, unsignedBytes, type CavpBlock } from './cavp.js';

const HASHES: Readonly<Record<string, HashName>> = { 'SHA-1': 'sha1', SHA1: 'sha1', 'SHA-256': 'sha256', SHA256: 'sha256', 'SHA-384': 'sha384', SHA384: 'sha384', 'SHA-512': 'sha512', SHA512: 'sha512' };
const digest = (hash: HashName, m: Uint8Array): Uint8Array => new Uint8Array(createHash(hash).update(m).digest());

type Verdict = ReturnType<typeof attempt<{ valid: boolean }>>;
const answer = (o: Verdict): string => (o.ok ? `valid=${o.value.valid}` : describeError(o.error));

/** Imported public-only keys, one per distinct (type, SPKI, legacy). */
function keyCache(t: TestContext) {
  const keys = vaultKeys(t);
  const name = keyNames('sig');
  const cache = new Map<string, ManagedKey>();
  return async (type: KeyType, spki: Uint8Array, legacy: boolean) => {
    const id = `${type}:${legacy}:${toHex(spki)}`;
    const hit = cache.get(id);
    if (hit) return { ok: true as const, value: hit };
    const made = await attemptAsync(async () => (await keys).importKey({ name: name(), type, publicKey: spki, ...(legacy ? { legacy: true } : {}) }));
    if (made.ok) cache.set(id, made.value);
    return made;
  };
}

// --- ECDSA ---------------------------------------------------------------------

const CURVES: Readonly<Record<string, { type: KeyType; bytes: number; spkiPrefix: string }>> = {
  // RFC 5480 SubjectPublicKeyInfo up to the uncompressed point's 0x04.
  'P-256': { type: 'ecdsa-p256', bytes: 32, spkiPrefix: '3059301306072a8648ce3d020106082a8648ce3d030107034200' },
  'P-384': { type: 'ecdsa-p384', bytes: 48, spkiPrefix: '3076301006072a8648ce3d020106052b81040022036200' },
  'P-521': { type: 'ecdsa-p521', bytes: 66, spkiPrefix: '30819b301006072a8648ce3d020106052b8104002303818600' },
};

/** DER INTEGER of an unsigned big-endian value. */
function derInteger(v: Uint8Array): Uint8Array {
  const body = (v[0]! & 0x80) !== 0 ? concatBytes(new Uint8Array([0]), v) : v;
  return concatBytes(new Uint8Array([0x02, body.length]), body);
}

/** ECDSA-Sig-Value (RFC 3279 §2.2.3): SEQUENCE { r INTEGER, s INTEGER }. */
function derSignature(r: string, s: string): Uint8Array {
  const body = concatBytes(derInteger(unsignedBytes(r)), derInteger(unsignedBytes(s)));
  const len = body.length < 0x80 ? new Uint8Array([body.length]) : new Uint8Array([0x81, body.length]);
  return concatBytes(new Uint8Array([0x30]), len, body);
}

const ECDSA_FILE = 'asymmetric/ECDSA/FIPS_186-3/SigVer.rsp';

test(`NIST CAVP ECDSA ${ECDSA_FILE} (P-256/P-384/P-521) through Keyhold's verifyMessage on imported public keys, P1363, DER and prehashed`, { skip: packagedVectors(ECDSA_FILE).skip }, async (t) => {
  const blocks = loadCavp(packagedVectors(ECDSA_FILE));
  const keyFor = keyCache(t);
  const tally = new VectorTally('SigVer.rsp (ECDSA)', 'vector #');
  const seen = new Map<string, number>();
  let ordinal = 0;
  for (const b of blocks) {
    if (b.fields.Msg === undefined) continue;
    ordinal++;
    const [curveName = '', hashName = ''] = (b.section.name ?? '').split(',');
    const where = `[${b.section.name}] line ${b.line}`;
    const curve = CURVES[curveName];
    const hash = HASHES[hashName];
    if (curve === undefined) {
      tally.skip(`curve ${curveName} (no key type)`);
      continue;
    }
    if (hash === undefined) {
      tally.skip(`${hashName} (not a Keyhold hash)`);
      continue;
    }
    const result = field(b, 'Result', ECDSA_FILE);
    const valid = result.startsWith('P');
    const msg = cavpHex(field(b, 'Msg', ECDSA_FILE));
    const spki = concatBytes(cavpHex(curve.spkiPrefix), new Uint8Array([4]), fixedWidth(field(b, 'Qx', ECDSA_FILE), curve.bytes), fixedWidth(field(b, 'Qy', ECDSA_FILE), curve.bytes));
    const legacy = hash === 'sha1';
    const imported = await keyFor(curve.type, spki, legacy);
    if (!imported.ok) {
      // Only a changed Q may be refused, and only as bad input: it need not be a point on the curve.
      const refusable = result.includes('Q changed') && isKeyholdCode(imported.error, 'KH_INPUT_INVALID');
      tally.check(refusable, ordinal, () => `${where} (${result}): the public key did not import: ${describeError(imported.error)}`);
      seen.set('import refused', (seen.get('import refused') ?? 0) + 1);
      tally.ran();
      continue;
    }
    const key = imported.value;
    const r = field(b, 'R', ECDSA_FILE);
    const s = field(b, 'S', ECDSA_FILE);
    const forms: [string, Uint8Array, SignRequestOptions][] = [
      ['p1363', concatBytes(fixedWidth(r, curve.bytes), fixedWidth(s, curve.bytes)), { hash, signatureFormat: 'p1363' }],
      ['der', derSignature(r, s), { hash, signatureFormat: 'der' }],
    ];
    for (const [form, sig, options] of forms) {
      const plain = attempt(() => verifyMessage(key, msg, encodeVersioned(1, sig), options));
      const pre = attempt(() => verifyMessage(key, digest(hash, msg), encodeVersioned(1, sig), { ...options, prehashed: true }));
      seen.set(`${form} ${answer(plain)}`, (seen.get(`${form} ${answer(plain)}`) ?? 0) + 1);
      tally.check(plain.ok && plain.value.valid === valid, ordinal, () => `${where} ${form} (${result}): expected valid=${valid}, got ${answer(plain)}`);
      tally.check(answer(pre) === answer(plain), ordinal, () => `${where} ${form}: the prehashed path answers ${answer(pre)}, the message path ${answer(plain)}`);
    }
    tally.ran();
  }
  t.diagnostic(`SigVer.rsp (ECDSA) outcomes: ${[...seen].map(([k, n]) => `${n} ${k}`).join('; ')}`);
  const expected: ExpectedCounts = {
    run: 180,
    skipped: {
      'curve P-192 (no key type)': 75,
      'curve P-224 (no key type)': 75,
      'curve K-163 (no key type)': 75,
      'curve K-233 (no key type)': 75,
      'curve K-283 (no key type)': 75,
      'curve K-409 (no key type)': 75,
      'curve K-571 (no key type)': 75,
      'curve B-163 (no key type)': 75,
      'curve B-233 (no key type)': 75,
      'curve B-283 (no key type)': 75,
      'curve B-409 (no key type)': 75,
      'curve B-571 (no key type)': 75,
      'SHA-224 (not a Keyhold hash)': 45,
    },
  };
  tally.finish(t, expected);
});

// --- RSA -----------------------------------------------------------------------

const RSA_TYPES: Readonly<Record<string, KeyType>> = { '2048': 'rsa-2048', '3072': 'rsa-3072', '4096': 'rsa-4096' };

/** SPKI DER of an RSA public key (n, e in hex), through node's JWK import. */
function rsaSpki(n: string, e: string): Uint8Array {
  const b64 = (hex: string) => Buffer.from(unsignedBytes(hex)).toString('base64url');
  return new Uint8Array(createPublicKey({ key: { kty: 'RSA', n: b64(n), e: b64(e) }, format: 'jwk' }).export({ format: 'der', type: 'spki' }));
}

interface RsaVector {
  readonly block: CavpBlock;
  readonly mod: string;
  readonly n: string;
  readonly e: string;
}

/** The signature records of an RSA file, each with the modulus (and exponent, where the file gives it once per key) in force. */
function rsaVectors(blocks: readonly CavpBlock[]): RsaVector[] {
  const out: RsaVector[] = [];
  let n = '';
  let e = '';
  for (const b of blocks) {
    if (b.fields.n !== undefined) n = b.fields.n;
    // SigVer files give e with every signature; SigGen files once per key, in the block of its first signature.
    if (b.fields.e !== undefined) e = b.fields.e;
    if (b.fields.Msg !== undefined) out.push({ block: b, mod: b.section.mod ?? '', n, e });
  }
  return out;
}

const PKCS1_FILE = 'asymmetric/RSA/FIPS_186-2/SigVer15_186-3.rsp';

test(`NIST CAVP RSA PKCS#1 v1.5 ${PKCS1_FILE} (2048/3072/4096) through Keyhold's verifyMessage, message and prehashed paths`, { skip: packagedVectors(PKCS1_FILE).skip }, async (t) => {
  const keyFor = keyCache(t);
  const tally = new VectorTally('SigVer15_186-3.rsp', 'vector #');
  const seen = new Map<string, number>();
  let ordinal = 0;
  for (const v of rsaVectors(loadCavp(packagedVectors(PKCS1_FILE)))) {
    ordinal++;
    const b = v.block;
    const where = `[mod = ${v.mod}] line ${b.line}`;
    const type = RSA_TYPES[v.mod];
    const shaAlg = field(b, 'SHAAlg', PKCS1_FILE);
    const hash = HASHES[shaAlg];
    if (type === undefined) {
      tally.skip(`${v.mod}-bit modulus (no key type)`);
      continue;
    }
    if (hash === undefined) {
      tally.skip(`${shaAlg} (not a Keyhold hash)`);
      continue;
    }
    const result = field(b, 'Result', PKCS1_FILE);
    const valid = result.startsWith('P');
    const imported = await keyFor(type, rsaSpki(v.n, v.e), hash === 'sha1');
    if (!imported.ok) {
      tally.fail(ordinal, `${where} (${result}): the public key did not import as ${type}: ${describeError(imported.error)}`);
      tally.ran();
      continue;
    }
    const key = imported.value;
    const msg = cavpHex(field(b, 'Msg', PKCS1_FILE));
    const sig = encodeVersioned(1, cavpHex(field(b, 'S', PKCS1_FILE)));
    const plain = attempt(() => verifyMessage(key, msg, sig, { hash, signatureAlgorithm: 'pkcs1v15' }));
    const pre = attempt(() => verifyMessage(key, digest(hash, msg), sig, { hash, signatureAlgorithm: 'pkcs1v15', prehashed: true }));
    seen.set(answer(plain), (seen.get(answer(plain)) ?? 0) + 1);
    tally.check(plain.ok && plain.value.valid === valid, ordinal, () => `${where} ${shaAlg} (${result}): expected valid=${valid}, got ${answer(plain)}`);
    tally.check(answer(pre) === answer(plain), ordinal, () => `${where} ${shaAlg}: the prehashed path answers ${answer(pre)}, the message path ${answer(plain)}`);
    tally.ran();
  }
  t.diagnostic(`SigVer15_186-3.rsp outcomes: ${[...seen].map(([k, n]) => `${n} ${k}`).join('; ')}`);
  tally.finish(t, { run: 216, skipped: { '1024-bit modulus (no key type)': 90, '1536-bit modulus (no key type)': 90, 'SHA224 (not a Keyhold hash)': 54 } });
});

const PSS_VER_FILE = 'asymmetric/RSA/FIPS_186-2/SigVerPSS_186-3.rsp';
const PSS_GEN_FILE = 'asymmetric/RSA/FIPS_186-2/SigGenPSS_186-2.rsp';

test(`NIST CAVP RSA-PSS: ${PSS_GEN_FILE} SHA-1 signatures (20-byte salt = digest) verify through Keyhold's PSS, changed messages do not; ${PSS_VER_FILE} (10-byte salt) is counted as not applicable`, { skip: packagedVectors(PSS_GEN_FILE).skip || packagedVectors(PSS_VER_FILE).skip }, async (t) => {
  const keyFor = keyCache(t);
  const gen = new VectorTally('SigGenPSS_186-2.rsp', 'vector #');
  let ordinal = 0;
  for (const v of rsaVectors(loadCavp(packagedVectors(PSS_GEN_FILE)))) {
    ordinal++;
    const b = v.block;
    const where = `[mod = ${v.mod}] line ${b.line}`;
    const type = RSA_TYPES[v.mod];
    const shaAlg = field(b, 'SHAAlg', PSS_GEN_FILE);
    if (type === undefined) {
      gen.skip(`${v.mod}-bit modulus (no key type)`);
      continue;
    }
    if (shaAlg !== 'SHA1') {
      gen.skip(`${shaAlg} with a 20-byte salt (Keyhold's PSS salt is the digest length)`);
      continue;
    }
    const imported = await keyFor(type, rsaSpki(v.n, v.e), true);
    if (!imported.ok) {
      gen.fail(ordinal, `${where}: the public key did not import as ${type}: ${describeError(imported.error)}`);
      gen.ran();
      continue;
    }
    const key = imported.value;
    const msg = cavpHex(field(b, 'Msg', PSS_GEN_FILE));
    const sig = encodeVersioned(1, cavpHex(field(b, 'S', PSS_GEN_FILE)));
    const ok = attempt(() => verifyMessage(key, msg, sig, { hash: 'sha1', signatureAlgorithm: 'pss' }));
    gen.check(ok.ok && ok.value.valid, ordinal, () => `${where}: the published signature: expected valid=true, got ${answer(ok)}`);
    const changed = msg.slice();
    changed[changed.length - 1]! ^= 1;
    const bad = attempt(() => verifyMessage(key, changed, sig, { hash: 'sha1', signatureAlgorithm: 'pss' }));
    gen.check(bad.ok && !bad.value.valid, ordinal, () => `${where}: one message bit changed: expected valid=false, got ${answer(bad)}`);
    gen.ran();
  }
  gen.finish(t, {
    run: 30,
    skipped: {
      '1024-bit modulus (no key type)': 50,
      '1536-bit modulus (no key type)': 50,
      'SHA224 with a 20-byte salt (Keyhold\'s PSS salt is the digest length)': 30,
      'SHA256 with a 20-byte salt (Keyhold\'s PSS salt is the digest length)': 30,
      'SHA384 with a 20-byte salt (Keyhold\'s PSS salt is the digest length)': 30,
      'SHA512 with a 20-byte salt (Keyhold\'s PSS salt is the digest length)': 30,
    },
  });

  // Every SigVerPSS_186-3 vector signs with a 10-byte salt: none is Keyhold's PSS. Counted, so a new file with other salts is noticed.
  const ver = new VectorTally('SigVerPSS_186-3.rsp', 'vector #');
  for (const v of rsaVectors(loadCavp(packagedVectors(PSS_VER_FILE)))) {
    const salt = cavpHex(field(v.block, 'SaltVal', PSS_VER_FILE)).length;
    ver.skip(`${salt}-byte salt (Keyhold's PSS salt is the digest length)`);
  }
  ver.finish(t, { run: 0, skipped: { "10-byte salt (Keyhold's PSS salt is the digest length)": 450 } });
});
