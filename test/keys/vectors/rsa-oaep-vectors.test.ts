/**
 * Wycheproof RSA-OAEP-2048 (SHA-256, MGF1-SHA-256) decryption vectors
 * through Keyhold's decrypt() (keys/operations/encrypt.ts) on an rsa-2048 key
 * imported from the group's PKCS#8 private key (one import per group):
 * valid with an empty label → msg; invalid → KH_DECRYPT_FAILED. The one
 * exception is an empty ciphertext: keyhold:v1: with nothing after it is not
 * a Keyhold ciphertext at all and is refused earlier, as KH_CIPHERTEXT_MALFORMED.
 *
 * Keyhold's decrypt() takes no OAEP label, so vectors with a non-empty label
 * are not applicable to it (counted). For those, two other checks run and
 * are tallied separately: decrypt() (empty label) must refuse them, and the
 * crypto layer's rsaOaepDecrypt given the label must return msg.
 */
import { test } from 'node:test';
import { KeyObject } from 'node:crypto';
import { decrypt, encrypt } from '../../../src/keys/operations/encrypt.js';
import { encodeVersioned } from '../../../src/keys/ciphertext.js';
import { rsaOaepDecrypt } from '../../../src/crypto/signature/rsa.js';
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
  type OaepGroup,
} from './wycheproof.js';

const FILE = 'rsa_oaep_2048_sha256_mgf1sha256_test.json';

test(`Wycheproof ${FILE} through Keyhold's decrypt() on an imported rsa-2048 key`, { skip: wycheproof(FILE).skip }, async (t) => {
  const data = loadWycheproof<OaepGroup>(FILE);
  const keys = await vaultKeys(t);
  const name = keyNames('oaep');
  const tally = new VectorTally(FILE);
  const labelled = new VectorTally(`${FILE} [non-empty label]`);
  for (const g of data.testGroups) {
    if (g.sha !== 'SHA-256' || g.mgf !== 'MGF1' || g.mgfSha !== 'SHA-256' || g.keySize !== 2048) {
      tally.skip(`OAEP ${g.sha}/${g.mgf}-${g.mgfSha}/${g.keySize} bits`, g.tests.length);
      continue;
    }
    const imported = await attemptAsync(() => keys.importKey({ name: name(), type: 'rsa-2048', secret: hex(g.privateKeyPkcs8) }));
    if (!imported.ok) {
      for (const tc of g.tests) tally.fail(tc.tcId, `the group's private key did not import as rsa-2048: ${describeError(imported.error)}`);
      continue;
    }
    const key = imported.value;
    const privateKey = key.handles(1).privateKey;
    if (!(privateKey instanceof KeyObject)) throw new Error(`${FILE}: the imported key has no private KeyObject`);
    for (const tc of g.tests) {
      const msg = hex(tc.msg);
      const ct = hex(tc.ct);
      const label = hex(tc.label);
      const opened = attempt(() => decrypt(key, { ciphertext: encodeVersioned(1, ct) }).plaintext);
      if (label.length > 0) {
        tally.skip('non-empty OAEP label (decrypt() takes none)');
        // decrypt() uses the empty label, so a labelled ciphertext must not open.
        labelled.check(!opened.ok && isKeyholdCode(opened.error, 'KH_DECRYPT_FAILED'), tc.tcId, () =>
          `decrypt() without the label: expected KH_DECRYPT_FAILED, got ${opened.ok ? toHex(opened.value) : describeError(opened.error)}`,
        );
        const withLabel = attempt(() => rsaOaepDecrypt(privateKey, ct, 'sha256', label));
        const want = tc.result === 'valid' ? toHex(msg) : 'undefined';
        const got = withLabel.ok ? (withLabel.value === undefined ? 'undefined' : toHex(withLabel.value)) : describeError(withLabel.error);
        labelled.check(tc.result === 'acceptable' || got === want, tc.tcId, () => `rsaOaepDecrypt with the label: expected ${want}, got ${got}`);
        labelled.ran();
        continue;
      }
      if (tc.result === 'valid') {
        tally.check(opened.ok && bytesEqual(opened.value, msg), tc.tcId, () => `expected ${toHex(msg)}, decrypt() gave ${opened.ok ? toHex(opened.value) : describeError(opened.error)}`);
        // The encrypt direction is randomised: a round trip of the same message.
        const round = attempt(() => decrypt(key, { ciphertext: encrypt(key, { plaintext: msg }).ciphertext }).plaintext);
        tally.check(round.ok && bytesEqual(round.value, msg), tc.tcId, () => `encrypt()→decrypt() round trip: ${round.ok ? toHex(round.value) : describeError(round.error)}`);
      } else if (tc.result === 'invalid') {
        const code = ct.length === 0 ? 'KH_CIPHERTEXT_MALFORMED' : 'KH_DECRYPT_FAILED';
        tally.check(!opened.ok && isKeyholdCode(opened.error, code), tc.tcId, () =>
          `expected ${code} (${tc.comment}), decrypt() ${opened.ok ? `returned ${toHex(opened.value)}` : `threw ${describeError(opened.error)}`}`,
        );
      }
      tally.ran();
    }
  }
  tally.finish(t, { run: 29, skipped: { 'non-empty OAEP label (decrypt() takes none)': 8 } });
  labelled.finish(t, { run: 8, skipped: {} });
});
