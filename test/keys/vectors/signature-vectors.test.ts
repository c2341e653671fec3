/**
 * Wycheproof signature-verification vectors through Keyhold's own verify
 * (keys/operations/sign.ts verifyMessage) on a public-only key imported from
 * each group's publicKeyDer (SPKI):
 * - valid → { valid: true }; invalid → { valid: false } or a KeyholdError
 *   (KH_SIGNATURE_MALFORMED: an empty signature cannot be written as
 *   keyhold:v1:<base64>); acceptable → either.
 * - ECDSA (P-256 DER and P1363, secp256k1) and RSA PKCS#1 v1.5: the
 *   prehashed path (verifyMessage over sha256(msg) with prehashed: true, a
 *   different implementation: @noble/curves for ECDSA, publicDecrypt +
 *   DigestInfo for RSA) must give the same answers.
 * RSA-PSS groups run only when they match Keyhold's PSS (MGF1 with the same
 * hash, salt length = digest length); others are counted as not applicable.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { createHash } from 'node:crypto';
import type { KeyType } from '../../../src/keys/key-types.js';
import { verifyMessage, type SignRequestOptions } from '../../../src/keys/operations/sign.js';
import { encodeVersioned } from '../../../src/keys/ciphertext.js';
import type { ManagedKey } from '../../../src/keys/managed-key.js';
import { KeyholdError } from '../../../src/errors.js';
import {
  VectorTally,
  attempt,
  attemptAsync,
  describeError,
  hex,
  isKeyholdCode,
  keyNames,
  loadWycheproof,
  wycheproof,
  vaultKeys,
  type ExpectedCounts,
  type SignatureGroup,
  type SignatureTest,
} from './wycheproof.js';

type SigKeyType = Extract<KeyType, 'ed25519' | 'ecdsa-p256' | 'ecdsa-secp256k1' | 'rsa-2048'>;

interface SignatureFilePlan {
  readonly file: string;
  readonly type: SigKeyType;
  readonly options: SignRequestOptions;
  /** Also verify sha256(msg) with prehashed: true and these options. */
  readonly prehashed?: SignRequestOptions;
  /** A reason when Keyhold's scheme does not apply to the group. */
  readonly notApplicable?: (g: SignatureGroup) => string | undefined;
  readonly expected: ExpectedCounts;
  readonly known?: ReadonlyMap<number, string>;
}

const sha256 = (m: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(m).digest());

const onlySha256 = (g: SignatureGroup): string | undefined => (g.sha === 'SHA-256' ? undefined : `hash ${String(g.sha)}`);

const PLANS: readonly SignatureFilePlan[] = [
  {
    file: 'ed25519_test.json',
    type: 'ed25519',
    options: {},
    expected: { run: 151, skipped: {} },
  },
  {
    file: 'ecdsa_secp256r1_sha256_test.json',
    type: 'ecdsa-p256',
    options: { signatureFormat: 'der' },
    prehashed: { prehashed: true, signatureFormat: 'der' },
    notApplicable: onlySha256,
    expected: { run: 484, skipped: {} },
  },
  {
    file: 'ecdsa_secp256r1_sha256_p1363_test.json',
    type: 'ecdsa-p256',
    options: { signatureFormat: 'p1363' },
    prehashed: { prehashed: true, signatureFormat: 'p1363' },
    notApplicable: onlySha256,
    expected: { run: 262, skipped: {} },
  },
  {
    file: 'ecdsa_secp256k1_sha256_test.json',
    type: 'ecdsa-secp256k1',
    options: { signatureFormat: 'der' },
    prehashed: { prehashed: true, signatureFormat: 'der' },
    notApplicable: onlySha256,
    expected: { run: 476, skipped: {} },
  },
  {
    file: 'rsa_pss_2048_sha256_mgf1_32_test.json',
    type: 'rsa-2048',
    options: { signatureAlgorithm: 'pss' },
    notApplicable: (g) =>
      // Keyhold's PSS: RSA_PSS_SALTLEN_DIGEST, MGF1 over the signing hash.
      g.sha !== 'SHA-256' || g.mgf !== 'MGF1' || g.mgfSha !== g.sha || g.sLen !== 32 || g.keySize !== 2048
        ? `PSS ${String(g.sha)}/${String(g.mgf)}-${String(g.mgfSha)}/sLen ${String(g.sLen)}/${String(g.keySize)} bits`
        : undefined,
    expected: { run: 108, skipped: {} },
  },
  {
    file: 'rsa_signature_2048_sha256_test.json',
    type: 'rsa-2048',
    options: { signatureAlgorithm: 'pkcs1v15' },
    prehashed: { prehashed: true, signatureAlgorithm: 'pkcs1v15' },
    notApplicable: (g) => onlySha256(g) ?? (g.keySize === 2048 ? undefined : `${String(g.keySize)}-bit key`),
    expected: { run: 259, skipped: {} },
  },
];

/** Checks one verify outcome against the vector's result; counts the kinds of outcome for the diagnostics. */
function judge(tally: VectorTally, seen: Map<string, number>, tc: SignatureTest, what: string, out: ReturnType<typeof attempt<{ valid: boolean }>>): void {
  const kind = `${what} ${out.ok ? `valid=${out.value.valid}` : out.error instanceof KeyholdError ? out.error.code : 'non-Keyhold error'}`;
  seen.set(kind, (seen.get(kind) ?? 0) + 1);
  if (out.ok) {
    const valid = out.value.valid;
    if (tc.result === 'valid') tally.check(valid, tc.tcId, () => `${what}: expected valid, got valid=false (${tc.comment})`);
    if (tc.result === 'invalid') tally.check(!valid, tc.tcId, () => `${what}: expected invalid, got valid=true (${tc.comment}; flags ${tc.flags.join(',')})`);
    return;
  }
  // A refusal is a KeyholdError for a signature that cannot even be carried; never for a valid one.
  const allowed = tc.result !== 'valid' && isKeyholdCode(out.error, 'KH_SIGNATURE_MALFORMED');
  tally.check(allowed, tc.tcId, () => `${what}: expected ${tc.result === 'valid' ? 'valid' : 'valid=false or KH_SIGNATURE_MALFORMED'}, threw ${describeError(out.error)} (${tc.comment})`);
}

async function runFile(t: TestContext, plan: SignatureFilePlan): Promise<void> {
  const data = loadWycheproof<SignatureGroup>(plan.file);
  const keys = await vaultKeys(t);
  const name = keyNames('sig');
  const tally = new VectorTally(plan.file);
  const seen = new Map<string, number>();
  for (const g of data.testGroups) {
    const why = plan.notApplicable?.(g);
    if (why !== undefined) {
      tally.skip(why, g.tests.length);
      continue;
    }
    const imported = await attemptAsync(() => keys.importKey({ name: name(), type: plan.type, publicKey: hex(g.publicKeyDer) }));
    if (!imported.ok) {
      for (const tc of g.tests) {
        tally.fail(tc.tcId, `the group's public key did not import as ${plan.type}: ${describeError(imported.error)}`);
        tally.ran();
      }
      continue;
    }
    const key: ManagedKey = imported.value;
    for (const tc of g.tests) {
      const msg = hex(tc.msg);
      const sig = encodeVersioned(1, hex(tc.sig));
      const plain = attempt(() => verifyMessage(key, msg, sig, plan.options));
      judge(tally, seen, tc, 'verifyMessage', plain);
      if (plan.prehashed !== undefined) {
        const pre = plan.prehashed;
        const digest = attempt(() => verifyMessage(key, sha256(msg), sig, pre));
        judge(tally, seen, tc, 'verifyMessage prehashed', digest);
        const answer = (o: typeof plain) => (o.ok ? `valid=${o.value.valid}` : describeError(o.error));
        tally.check(answer(plain) === answer(digest), tc.tcId, () => `the prehashed path answers ${answer(digest)}, the message path ${answer(plain)}`);
      }
      tally.ran();
    }
  }
  t.diagnostic(`${plan.file} outcomes: ${[...seen].map(([k, n]) => `${n} ${k}`).join('; ')}`);
  tally.finish(t, plan.expected, plan.known);
}

for (const plan of PLANS) {
  test(`Wycheproof ${plan.file} through Keyhold's verifyMessage on an imported ${plan.type} public key`, { skip: wycheproof(plan.file).skip }, (t) => runFile(t, plan));
}
