/**
 * Review finding 12 (issue 15): a verify() whose storage read was in flight
 * while the token was revoked put the revoked token back into the 5 s
 * cache, so it kept working after revoke answered. Driven deterministically
 * by a storage view whose reads the test releases by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RootTokens } from '../../src/auth/root-token.js';
import type { Barrier } from '../../src/barrier/barrier.js';

/** A barrier stand-in: an in-memory view whose get() can be held until the test releases it. */
function gatedBarrier() {
  const store = new Map<string, Uint8Array>();
  let hold: Promise<void> | undefined;
  const view = {
    indexPath: (ns: string, name: string) => `sys/token/${ns}:${name}`,
    async get(path: string) {
      const value = store.get(path);
      // Only the read that was started while held waits; later ones (the revocation's) go through.
      const wait = hold;
      hold = undefined;
      if (wait !== undefined) await wait;
      return value;
    },
    async put(path: string, value: Uint8Array) {
      store.set(path, value);
    },
    async delete(path: string) {
      store.delete(path);
    },
    async list() {
      return [...store.keys()];
    },
  };
  const barrier = { view: () => view, onSeal: () => undefined } as unknown as Barrier;
  return {
    barrier,
    /** Holds the next read (its value is taken when it starts); returns the function releasing it. */
    holdNextRead(): () => void {
      let release!: () => void;
      hold = new Promise<void>((r) => (release = r));
      return release;
    },
  };
}

test('a verify whose storage read was in flight during revocation does not re-cache the revoked root token', async () => {
  const { barrier, holdNextRead } = gatedBarrier();
  const tokens = new RootTokens(barrier);
  const token = await tokens.create();
  const now = Date.now();
  // The read of verify() starts and sees the record, but is held back...
  const release = holdNextRead();
  const inFlight = tokens.verify(token, now);
  await new Promise((r) => setImmediate(r));
  // ...while the revocation runs to completion; only then does the verify's read return.
  assert.equal(await tokens.revokeToken(token), true);
  release();
  await inFlight;
  // The next request (inside the 5 s cache window) must read storage, and find nothing.
  assert.equal(await tokens.verify(token, now + 1), false);
});

test('a verify that completes before revocation is dropped from the cache by it', async () => {
  const { barrier } = gatedBarrier();
  const tokens = new RootTokens(barrier);
  const token = await tokens.create();
  assert.equal(await tokens.verify(token), true);
  assert.equal(await tokens.revokeToken(token), true);
  assert.equal(await tokens.verify(token), false);
});
