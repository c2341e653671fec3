/**
 * Where tests find data this repository does not carry.
 *
 * Published test vectors (Wycheproof, the AWS Nitro sample document, the
 * XChaCha draft, VSSM known answers, RFC 9591 FROST) live outside the
 * repository, in the directory named by KEYHOLD_TEST_VECTORS (default:
 * `../shared/vectors` beside the checkout, when it exists). A test that needs
 * one asks `publishedVectors(...)` and passes its `skip` to node:test:
 *
 *   const V = publishedVectors('wycheproof/aes_gcm_test.json', 'C2SP/wycheproof (testvectors_v1/)');
 *   test('AES-GCM answers every Wycheproof vector', { skip: V.skip }, () => { ... readFileSync(V.path) ... });
 *
 * Absent vectors are a skip with one line saying what is missing and where it
 * is published, except under CI (CI set and not "false"), where absence is a
 * failure: `skip` is then false and `path` does not exist, so the test fails
 * on its first read with that same line (`assertPresent`).
 *
 * Paths are resolved from this file's location, never from the working
 * directory, so a test runs the same from any folder.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: two folders up from test/helpers/. */
import { REPO_ROOT } from './repo-root.js';
export { REPO_ROOT };

/** The directory holding published vectors: KEYHOLD_TEST_VECTORS, else ../shared/vectors beside the checkout. */
export const VECTORS_DIR = resolve(process.env.KEYHOLD_TEST_VECTORS ?? join(REPO_ROOT, '..', 'shared', 'vectors'));

/** Where the Wycheproof files are published (the commit is in the vectors folder's README). */
export const WYCHEPROOF_SOURCE = 'C2SP/wycheproof (testvectors_v1/)';

/** True when running under CI, where a missing component or vector set is a failure, never a skip. */
export const UNDER_CI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

export interface PublishedVectors {
  /** Absolute path of the file or folder (it may not exist). */
  readonly path: string;
  /** For node:test's `skip` option: false when present (or under CI), else the one-line reason. */
  readonly skip: string | false;
  /** The one-line description of what is missing and where it is published. */
  readonly missing: string;
}

/**
 * A published vector file or folder, by its path under the vectors directory.
 * `source` says where it is published, e.g. 'C2SP/wycheproof (testvectors_v1/)'.
 */
export function publishedVectors(relativePath: string, source: string): PublishedVectors {
  const path = join(VECTORS_DIR, relativePath);
  const missing = `published vectors ${relativePath} not found under ${VECTORS_DIR} (published by ${source}); set KEYHOLD_TEST_VECTORS to the folder that holds them`;
  const present = existsSync(path);
  return { path, missing, skip: present || UNDER_CI ? false : missing };
}

/** Throws the one-line reason when the vectors are absent (call it before reading, so CI fails with a clear message). */
export function assertPresent(v: PublishedVectors): string {
  if (!existsSync(v.path)) throw new Error(v.missing);
  return v.path;
}

/**
 * NIST CAVP and RFC vectors as Debian's python3-cryptography-vectors installs
 * them (a component the test command installs: scripts/test-deps.sh), so a
 * fresh clone anywhere still checks the crypto against published answers.
 * KEYHOLD_CAVP_VECTORS names another copy of its cryptography_vectors folder.
 */
export const CAVP_DIR = resolve(process.env.KEYHOLD_CAVP_VECTORS ?? '/usr/lib/python3/dist-packages/cryptography_vectors');

/** A file under the cryptography_vectors folder (e.g. 'ciphers/AES/GCM/gcmDecrypt128.rsp'); absent, a skip (a failure under CI). */
export function packagedVectors(relativePath: string): PublishedVectors {
  const path = join(CAVP_DIR, relativePath);
  const missing = `vectors ${relativePath} not found under ${CAVP_DIR}: install Debian python3-cryptography-vectors (NIST CAVP and RFC vectors of pyca/cryptography), or set KEYHOLD_CAVP_VECTORS to its cryptography_vectors folder`;
  const present = existsSync(path);
  return { path, missing, skip: present || UNDER_CI ? false : missing };
}

/** A fixture that the repository does carry, resolved from the calling test file's URL (import.meta.url). */
export function fixturePath(fromUrl: string | URL, relativePath: string): string {
  return fileURLToPath(new URL(relativePath, fromUrl));
}

// The published files more than one test reads (declared after publishedVectors, which they call at load).

/** The XChaCha20-Poly1305 example of draft-irtf-cfrg-xchacha-03, appendix A.3.1, as JSON (key, nonce, aad, plaintext, ciphertext, tag in hex). */
export const XCHACHA_DRAFT_A3: PublishedVectors = publishedVectors('xchacha/xchacha_draft_a3.json', 'draft-irtf-cfrg-xchacha-03 appendix A.3.1, bikeshedders/xchacha-rfc');

/** A real AWS Nitro attestation document (base64 of an untagged COSE_Sign1, 2024-09-07, module i-0a22e5c5f24d22174-enc0191cceb4289903f). */
export const NITRO_SAMPLE: PublishedVectors = publishedVectors('nitro/sample-attestation.b64', 'blocky/nitrite, internal/testdata/nitro_attestation.b64');

/** The same enclave's debug-mode document (PCR0-2 zero). */
export const NITRO_SAMPLE_DEBUG: PublishedVectors = publishedVectors('nitro/sample-attestation-debug.b64', 'blocky/nitrite, internal/testdata/nitro_attestation_debug.b64');
