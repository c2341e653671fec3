/**
 * Wycheproof HMAC-SHA256 vectors through Keyhold's computeHmac / verifyHmac
 * (keys/operations/hmac.ts) on imported hmac-sha256 keys (legacy: true for
 * keys under 16 bytes, as key import requires):
 * - full 32-byte tags: valid → computeHmac gives the tag and verifyHmac is
 *   true; invalid → verifyHmac false.
 * - truncated tags (tagSize < 256): Keyhold accepts only full-length tags,
 *   so verifyHmac must be false for every one, valid or not; for valid ones
 *   the computed HMAC must start with the vector's tag.
 * An empty tag cannot be written as keyhold:v1:<base64> and is refused as
 * KH_SIGNATURE_MALFORMED (there is none in the file today).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeHmac, verifyHmac } from '../../../src/keys/operations/hmac.js';
import { decodeVersioned, encodeVersioned } from '../../../src/keys/ciphertext.js';
import type { ManagedKey } from '../../../src/keys/managed-key.js';
import {
  VectorTally,
  attempt,
  attemptAsync,
  bytesEqual,
  describeError,
  hex,
  isKeyholdCode,
  keyNames,
  loadWycheproof,
  wycheproof,
  toHex,
  vaultKeys,
  type MacGroup,
} from './wycheproof.js';

const FILE = 'hmac_sha256_test.json';
const FULL_TAG_BYTES = 32;

test(`Wycheproof ${FILE} through Keyhold's computeHmac / verifyHmac on imported hmac-sha256 keys`, { skip: wycheproof(FILE).skip }, async (t) => {
  const data = loadWycheproof<MacGroup>(FILE);
  const keys = await vaultKeys(t);
  const name = keyNames('hmac');
  const cache = new Map<string, ManagedKey>();
  const tally = new VectorTally(FILE);
  let full = 0;
  let truncated = 0;
  for (const g of data.testGroups) {
    for (const tc of g.tests) {
      const secret = hex(tc.key);
      const msg = hex(tc.msg);
      const tag = hex(tc.tag);
      if (secret.length === 0 || secret.length > 1024) {
        tally.skip('key length outside 1..1024 bytes (not importable)');
        continue;
      }
      let key = cache.get(tc.key);
      if (key === undefined) {
        const imported = await attemptAsync(() => keys.importKey({ name: name(), type: 'hmac-sha256', secret, ...(secret.length < 16 ? { legacy: true } : {}) }));
        if (!imported.ok) {
          tally.fail(tc.tcId, `the ${secret.length}-byte key did not import: ${describeError(imported.error)}`);
          tally.ran();
          continue;
        }
        key = imported.value;
        cache.set(tc.key, key);
      }
      const k = key;
      const computed = decodeVersioned(computeHmac(k, msg).hmac, 'KH_SIGNATURE_MALFORMED').bytes;
      const verified = attempt(() => verifyHmac(k, msg, encodeVersioned(1, tag)).valid);
      const answer = verified.ok ? `valid=${verified.value}` : describeError(verified.error);
      const refusedEmpty = tag.length === 0 && !verified.ok && isKeyholdCode(verified.error, 'KH_SIGNATURE_MALFORMED');
      if (tag.length === FULL_TAG_BYTES) {
        full++;
        if (tc.result === 'valid') {
          tally.check(bytesEqual(computed, tag), tc.tcId, () => `computeHmac gave ${toHex(computed)}, expected ${tc.tag}`);
          tally.check(verified.ok && verified.value, tc.tcId, () => `verifyHmac: expected valid=true, got ${answer}`);
        } else if (tc.result === 'invalid') {
          tally.check(verified.ok && !verified.value, tc.tcId, () => `verifyHmac: expected valid=false (${tc.comment}), got ${answer}`);
        }
      } else {
        truncated++;
        // Only full-length tags are accepted: a truncated one never verifies, even when it is a correct prefix.
        tally.check((verified.ok && !verified.value) || refusedEmpty, tc.tcId, () => `verifyHmac of a ${tag.length}-byte truncated tag (${tc.result}): expected valid=false, got ${answer}`);
        if (tc.result === 'valid') tally.check(bytesEqual(computed.subarray(0, tag.length), tag), tc.tcId, () => `computeHmac gave ${toHex(computed)}, which does not start with ${tc.tag}`);
      }
      tally.ran();
    }
  }
  t.diagnostic(`${FILE}: ${full} full-length tags, ${truncated} truncated tags, ${cache.size} distinct keys imported`);
  tally.finish(t, { run: 174, skipped: {} });
  // Both kinds must be present, or one of the checks above ran on nothing.
  assert.deepEqual({ full, truncated }, { full: 87, truncated: 87 }, `${FILE}: the split of full-length and truncated tags changed`);
});
