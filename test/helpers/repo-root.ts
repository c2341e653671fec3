/**
 * The repository's root folder. Tests run from a compiled copy of src/ and
 * test/ (.tmp/test-build, scripts/build-test-tree.mjs) whose other entries are
 * links into the repository, so the root is found through the real path of
 * package.json: the same answer whether a test runs compiled or through tsx.
 */
import { realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = dirname(realpathSync(join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'package.json')));
