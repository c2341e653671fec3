/**
 * AWS Nitro attestation verifier: the two real documents from blocky/nitrite
 * (published vectors nitro/, not carried here: see test/helpers/vectors.ts;
 * tests that need them are skipped with one line when absent) verify at
 * their own time; each kind
 * of tampering and each policy failure throws its own AttestationError code;
 * self-made documents cover tag 18, foreign roots and the alg check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { KeyObject, X509Certificate, createHash, sign as nodeSign, webcrypto } from 'node:crypto';
import { decode, encode } from 'cborg';
import fc from 'fast-check';
import * as x509 from '@peculiar/x509';
import { verifyNitroDocument } from '../../src/attestation/nitro/verify.js';
import { AWS_NITRO_ROOT_G1, AWS_NITRO_ROOT_G1_SHA256 } from '../../src/attestation/nitro/aws-root.js';
import { AttestationError } from '../../src/attestation/errors.js';
import { NITRO_SAMPLE, NITRO_SAMPLE_DEBUG, assertPresent, publishedVectors, type PublishedVectors } from '../helpers/vectors.js';
import { rejects } from './nitro-rejects.js';

const ROOT_PEM = publishedVectors('nitro/aws-nitro-enclaves-root-g1.pem', 'AWS, AWS_NitroEnclaves_Root-G1.zip');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A real document, read (once) only when a test that is not skipped asks for it. */
class RealDocument {
  readonly vectors: PublishedVectors;
  #doc: Uint8Array | undefined;
  constructor(
    vectors: PublishedVectors,
    readonly timestamp: number,
    readonly moduleId: string,
  ) {
    this.vectors = vectors;
  }
  get file(): string {
    return basename(this.vectors.path);
  }
  get doc(): Uint8Array {
    this.#doc ??= new Uint8Array(Buffer.from(readFileSync(assertPresent(this.vectors), 'utf8').trim(), 'base64'));
    return this.#doc;
  }
}

const DOCS = [
  new RealDocument(NITRO_SAMPLE, 1725719859545, 'i-0a22e5c5f24d22174-enc0191cceb4289903f'),
  new RealDocument(NITRO_SAMPLE_DEBUG, 1725719886508, 'i-0a22e5c5f24d22174-enc0191ccebaf8feaba'),
] as const;
const [MAIN, DEBUG] = DOCS;
/** For tests that need both real documents. */
const BOTH = { skip: MAIN.vectors.skip || DEBUG.vectors.skip };

function flipped(doc: Uint8Array, offset: number, mask = 0x01): Uint8Array {
  const copy = new Uint8Array(doc);
  copy[offset] = copy[offset]! ^ mask;
  return copy;
}

/** Offset of `needle` in `hay`, asserting it is there. */
function offsetOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  const at = Buffer.from(hay).indexOf(Buffer.from(needle), from);
  assert.ok(at >= 0, 'needle not found');
  return at;
}

function partsOf(doc: Uint8Array) {
  const [protectedBytes, , payload, signature] = decode(doc, { useMaps: true }) as [Uint8Array, unknown, Uint8Array, Uint8Array];
  const p = decode(payload, { useMaps: true }) as Map<string, unknown>;
  return { protectedBytes, payload, signature, pcr4: (p.get('pcrs') as Map<number, Uint8Array>).get(4)!, certificate: p.get('certificate') as Uint8Array, cabundle: p.get('cabundle') as Uint8Array[] };
}

test('the built-in AWS root matches its pin and the vector file', { skip: ROOT_PEM.skip }, () => {
  const pem = readFileSync(assertPresent(ROOT_PEM), 'utf8');
  const fromFile = new X509Certificate(pem);
  assert.equal(createHash('sha256').update(fromFile.raw).digest('hex'), AWS_NITRO_ROOT_G1_SHA256);
  assert.ok(fromFile.raw.equals(AWS_NITRO_ROOT_G1.raw));
});

for (const v of DOCS) {
  test(`${v.file}: verifies at its own timestamp and reports its contents`, { skip: v.vectors.skip }, () => {
    const r = verifyNitroDocument(v.doc, { now: new Date(v.timestamp) });
    assert.equal(r.moduleId, v.moduleId);
    assert.equal(r.timestamp, v.timestamp);
    assert.equal(r.digest, 'SHA384');
    assert.equal(r.pcrs.size, 16);
    for (const [i, pcr] of r.pcrs) assert.equal(pcr.length, 48, `PCR${i}`);
    // README: public_key, user_data and nonce are 1024 bytes each of 0x01.
    for (const field of [r.publicKey, r.userData, r.nonce]) assert.deepEqual(field, new Uint8Array(1024).fill(1));
    assert.match(r.certificate.subject, new RegExp(`CN=${v.moduleId}`));
    // Without `now`, only the document's own time is checked.
    assert.equal(verifyNitroDocument(v.doc).moduleId, v.moduleId);
  });

  test(`${v.file}: expected PCRs, nonce and maxAge that match are accepted`, { skip: v.vectors.skip }, () => {
    const r = verifyNitroDocument(v.doc, { now: new Date(v.timestamp) });
    const expectedPcrs = Object.fromEntries([...r.pcrs].map(([i, b]) => [i, hex(b).toUpperCase()]));
    verifyNitroDocument(v.doc, { now: new Date(v.timestamp + 1000), expectedPcrs, nonce: new Uint8Array(1024).fill(1), maxAgeMs: 5000 });
  });

  test(`${v.file}: a flipped byte in each part fails with that part's code`, { skip: v.vectors.skip }, () => {
    const now = new Date(v.timestamp);
    const p = partsOf(v.doc);
    // Protected header {1: -35} is a1 01 38 22: flip the alg value -35 -> -36.
    const prot = offsetOf(v.doc, p.protectedBytes);
    rejects(flipped(v.doc, prot + 3), { now }, 'KH_ATTESTATION_ALG_UNSUPPORTED', 'protected alg');
    // The map key 1 -> 0: alg missing.
    rejects(flipped(v.doc, prot + 1), { now }, 'KH_ATTESTATION_ALG_UNSUPPORTED', 'protected label');
    // Payload: flip a letter of module_id's value (still valid UTF-8 and CBOR).
    const moduleAt = offsetOf(v.doc, new TextEncoder().encode(v.moduleId));
    rejects(flipped(v.doc, moduleAt + 2, 0x20), { now }, 'KH_ATTESTATION_SIGNATURE_INVALID', 'payload module_id');
    // Payload: a byte of PCR4 (non-zero in both documents), and of user_data.
    rejects(flipped(v.doc, offsetOf(v.doc, p.pcr4) + 10), { now }, 'KH_ATTESTATION_SIGNATURE_INVALID', 'payload PCR4');
    rejects(flipped(v.doc, offsetOf(v.doc, new TextEncoder().encode('user_data')) + 20), { now }, 'KH_ATTESTATION_SIGNATURE_INVALID', 'payload user_data');
    // Signature: first and last byte.
    const sig = offsetOf(v.doc, p.signature);
    rejects(flipped(v.doc, sig), { now }, 'KH_ATTESTATION_SIGNATURE_INVALID', 'signature r');
    rejects(flipped(v.doc, sig + 95), { now }, 'KH_ATTESTATION_SIGNATURE_INVALID', 'signature s');
    // Leaf certificate: a letter in its subject CN, and a byte of its own signature.
    const leaf = offsetOf(v.doc, p.certificate);
    const cn = offsetOf(v.doc, new TextEncoder().encode('.us-east-1.aws'), leaf);
    rejects(flipped(v.doc, cn + 1, 0x20), { now }, 'KH_ATTESTATION_CHAIN_INVALID', 'leaf subject');
    rejects(flipped(v.doc, leaf + p.certificate.length - 3), { now }, 'KH_ATTESTATION_CHAIN_INVALID', 'leaf signature');
    // cabundle: the root (no longer the trusted root) and an intermediate (broken link).
    for (const [i, der] of p.cabundle.entries()) {
      const at = offsetOf(v.doc, der);
      rejects(flipped(v.doc, at + der.length - 3), { now }, 'KH_ATTESTATION_CHAIN_INVALID', `cabundle[${i}] signature`);
      const name = offsetOf(v.doc, new TextEncoder().encode('nitro-enclaves'), at);
      rejects(flipped(v.doc, name + 1, 0x20), { now }, 'KH_ATTESTATION_CHAIN_INVALID', `cabundle[${i}] name`);
    }
    // A byte that breaks a certificate's DER outright.
    rejects(flipped(v.doc, leaf, 0xff), { now }, 'KH_ATTESTATION_FIELD_INVALID', 'leaf DER');
  });

  test(`${v.file}: clock checks (leaf expiry, before issuance, maxAge)`, { skip: v.vectors.skip }, () => {
    const leaf = new X509Certificate(partsOf(v.doc).certificate);
    const after = new Date(Date.parse(leaf.validTo) + 1000);
    rejects(v.doc, { now: after }, 'KH_ATTESTATION_CERT_EXPIRED', 'after leaf expiry');
    rejects(v.doc, { now: new Date() }, 'KH_ATTESTATION_CERT_EXPIRED', 'today');
    rejects(v.doc, { now: new Date(Date.parse(leaf.validFrom) - 1000) }, 'KH_ATTESTATION_CERT_EXPIRED', 'before leaf');
    rejects(v.doc, { now: new Date(v.timestamp + 60_001), maxAgeMs: 60_000 }, 'KH_ATTESTATION_STALE', 'max age');
    verifyNitroDocument(v.doc, { now: new Date(v.timestamp + 60_000), maxAgeMs: 60_000 });
    rejects(v.doc, { now: new Date(v.timestamp - 10 * 60_000), maxAgeMs: 60_000 }, 'KH_ATTESTATION_CERT_EXPIRED', 'before leaf (future doc)');
  });

  test(`${v.file}: wrong PCR, missing PCR and wrong nonce fail`, { skip: v.vectors.skip }, () => {
    const now = new Date(v.timestamp);
    rejects(v.doc, { now, expectedPcrs: { 4: '00'.repeat(48) } }, 'KH_ATTESTATION_PCR_MISMATCH', 'PCR4');
    rejects(v.doc, { now, expectedPcrs: { 0: '00'.repeat(32) } }, 'KH_ATTESTATION_PCR_MISMATCH', 'PCR0 short');
    rejects(v.doc, { now, expectedPcrs: { 20: '00'.repeat(48) } }, 'KH_ATTESTATION_PCR_MISMATCH', 'PCR20 absent');
    rejects(v.doc, { now, nonce: new Uint8Array(1024).fill(2) }, 'KH_ATTESTATION_NONCE_MISMATCH', 'nonce');
    rejects(v.doc, { now, nonce: new Uint8Array(1023).fill(1) }, 'KH_ATTESTATION_NONCE_MISMATCH', 'nonce prefix');
    assert.throws(() => verifyNitroDocument(v.doc, { now, expectedPcrs: { 0: 'zz' } }), TypeError);
  });
}

test('sample-attestation.b64: PCR0..2 and 4 are the measured values, the rest zero', { skip: MAIN.vectors.skip }, () => {
  const r = verifyNitroDocument(MAIN.doc, { now: new Date(MAIN.timestamp) });
  assert.equal(hex(r.pcrs.get(0)!).slice(0, 20), 'e72a46ca80a260fb044a');
  assert.equal(hex(r.pcrs.get(1)!).slice(0, 20), '0343b056cd8485ca7890');
  assert.equal(hex(r.pcrs.get(2)!).slice(0, 20), 'd5dcbdea0aa39c802f9d');
  assert.equal(hex(r.pcrs.get(4)!).slice(0, 20), '45706d7b621e4620a332');
  for (const i of [3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]) assert.ok(r.pcrs.get(i)!.every((b) => b === 0), `PCR${i}`);
});

test('sample-attestation-debug.b64: debug mode zeroes PCR0..2; PCR4 (instance) is still measured', BOTH, () => {
  const r = verifyNitroDocument(DEBUG.doc, { now: new Date(DEBUG.timestamp) });
  for (const i of [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]) assert.ok(r.pcrs.get(i)!.every((b) => b === 0), `PCR${i}`);
  assert.ok(!r.pcrs.get(4)!.every((b) => b === 0));
  // Same instance as the non-debug document: same PCR4.
  const main = verifyNitroDocument(MAIN.doc, { now: new Date(MAIN.timestamp) });
  assert.deepEqual(r.pcrs.get(4), main.pcrs.get(4));
  rejects(DEBUG.doc, { now: new Date(DEBUG.timestamp), expectedPcrs: { 0: hex(main.pcrs.get(0)!) } }, 'KH_ATTESTATION_PCR_MISMATCH', 'debug PCR0');
});

test('structurally broken inputs fail as malformed', { skip: MAIN.vectors.skip }, () => {
  rejects(new Uint8Array(0), {}, 'KH_ATTESTATION_MALFORMED', 'empty');
  rejects(MAIN.doc.subarray(0, 100), {}, 'KH_ATTESTATION_MALFORMED', 'truncated');
  rejects(new Uint8Array([...MAIN.doc, 0]), {}, 'KH_ATTESTATION_MALFORMED', 'trailing byte');
  rejects(encode([1, 2, 3]), {}, 'KH_ATTESTATION_MALFORMED', '3-array');
  rejects(new Uint8Array(40 * 1024), {}, 'KH_ATTESTATION_MALFORMED', 'oversized');
  // Tag 18 around the real document is accepted (then fails nothing else); another tag is not.
  verifyNitroDocument(new Uint8Array([0xd2, ...MAIN.doc]), { now: new Date(MAIN.timestamp) });
  rejects(new Uint8Array([0xd1, ...MAIN.doc]), {}, 'KH_ATTESTATION_MALFORMED', 'tag 17');
});

// --- self-made PKI and documents --------------------------------------------------

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const P384 = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' } as const;

async function makeCa(name: string) {
  const keys = await webcrypto.subtle.generateKey(P384, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name}`,
    notBefore: new Date('2024-01-01T00:00:00Z'),
    notAfter: new Date('2049-01-01T00:00:00Z'),
    keys,
    signingAlgorithm: P384,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return { keys, cert, der: new Uint8Array(cert.rawData), node: new X509Certificate(new Uint8Array(cert.rawData)) };
}

async function makeLeaf(ca: Awaited<ReturnType<typeof makeCa>>) {
  const keys = await webcrypto.subtle.generateKey(P384, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=keyhold-sim-enclave',
    issuer: ca.cert.subject,
    notBefore: new Date('2024-09-07T14:00:00Z'),
    notAfter: new Date('2024-09-07T18:00:00Z'),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: P384,
  });
  return { der: new Uint8Array(cert.rawData), privateKey: KeyObject.from(keys.privateKey) };
}

function makeDocument(leaf: Awaited<ReturnType<typeof makeLeaf>>, cabundle: Uint8Array[], alg = -35, tagged = false): Uint8Array {
  const payload = encode(
    new Map<string, unknown>([
      ['module_id', 'keyhold-sim-test'],
      ['digest', 'SHA384'],
      ['timestamp', MAIN.timestamp],
      ['pcrs', new Map([[0, new Uint8Array(48).fill(7)]])],
      ['certificate', leaf.der],
      ['cabundle', cabundle],
      ['public_key', new Uint8Array(32).fill(3)],
      ['user_data', null],
      ['nonce', null],
    ]),
  );
  const protectedBytes = encode(new Map([[1, alg]]));
  const toSign = encode(['Signature1', protectedBytes, new Uint8Array(0), payload]);
  const signature = nodeSign('sha384', toSign, { key: leaf.privateKey, dsaEncoding: 'ieee-p1363' });
  const body = encode([protectedBytes, new Map(), payload, new Uint8Array(signature)]);
  return tagged ? new Uint8Array([0xd2, ...body]) : body;
}

test('self-made documents: trusted only under their own root; tag 18; alg and null optionals', async () => {
  const ca = await makeCa('Keyhold test CA');
  const leaf = await makeLeaf(ca);
  const now = new Date(MAIN.timestamp);
  for (const tagged of [false, true]) {
    const doc = makeDocument(leaf, [ca.der], -35, tagged);
    const r = verifyNitroDocument(doc, { now, trustedRoots: [ca.node], expectedPcrs: { 0: '07'.repeat(48) } });
    assert.equal(r.moduleId, 'keyhold-sim-test');
    assert.deepEqual(r.publicKey, new Uint8Array(32).fill(3));
    assert.equal(r.userData, undefined);
    assert.equal(r.nonce, undefined);
    rejects(doc, { now }, 'KH_ATTESTATION_CHAIN_INVALID', 'not under the AWS root');
    rejects(doc, { now, trustedRoots: [ca.node], nonce: new Uint8Array(1) }, 'KH_ATTESTATION_NONCE_MISMATCH', 'no nonce in document');
  }
  // A document stamped 10 minutes after the verifier's clock (certificates still valid then) is refused with maxAgeMs.
  const doc = makeDocument(leaf, [ca.der]);
  rejects(doc, { now: new Date(MAIN.timestamp - 10 * 60_000), maxAgeMs: 60_000, trustedRoots: [ca.node] }, 'KH_ATTESTATION_STALE', 'future timestamp');
  verifyNitroDocument(doc, { now: new Date(MAIN.timestamp - 60_000), maxAgeMs: 60_000, trustedRoots: [ca.node] });
  rejects(makeDocument(leaf, [ca.der], -7), { now, trustedRoots: [ca.node] }, 'KH_ATTESTATION_ALG_UNSUPPORTED', 'ES256 alg');
  // The leaf cannot pose as its own CA: a bundle whose top is the leaf's issuer but signed by another CA.
  const other = await makeCa('Keyhold test CA');
  rejects(makeDocument(leaf, [other.der], -35), { now, trustedRoots: [other.node] }, 'KH_ATTESTATION_CHAIN_INVALID', 'same name, other key');
});

test('real documents fail under a self-made P-384 root', BOTH, async () => {
  const ca = await makeCa('aws.nitro-enclaves');
  for (const v of DOCS) rejects(v.doc, { now: new Date(v.timestamp), trustedRoots: [ca.node] }, 'KH_ATTESTATION_CHAIN_INVALID', v.file);
});

test('property: random mutations never throw anything but AttestationError', BOTH, () => {
  const now = new Date(MAIN.timestamp);
  fc.assert(
    fc.property(
      fc.constantFrom(...DOCS),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.option(fc.nat({ max: 7600 }), { nil: undefined }),
      (v, flips, cut) => {
        let doc = new Uint8Array(v.doc);
        for (const [at, mask] of flips) doc[at % doc.length] = doc[at % doc.length]! ^ mask;
        if (cut !== undefined) doc = doc.subarray(0, cut);
        try {
          verifyNitroDocument(doc, { now: new Date(v.timestamp) });
        } catch (e) {
          if (!(e instanceof AttestationError)) throw e;
        }
      },
    ),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
      try {
        verifyNitroDocument(bytes, { now });
        return false;
      } catch (e) {
        return e instanceof AttestationError;
      }
    }),
    { numRuns: 1000 },
  );
});
