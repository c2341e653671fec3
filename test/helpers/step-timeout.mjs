/**
 * Loaded into every test process by scripts/run-tests.mjs (--import): no test
 * step may run longer than KEYHOLD_TEST_STEP_TIMEOUT_MS (default 60 s), so a
 * hung test is noticed in a minute.
 *
 * Why not --test-timeout: on Node 20 the runner applies it to each test FILE
 * (the file's process), not to the tests inside it, and node's own per-test
 * `timeout` counts a test's subtests too, so a long scenario split into named
 * steps (t.test) could still never exceed it. Here the clock restarts at
 * every step boundary: a test without steps has 60 s in all, each step has
 * 60 s, and the code of a test between its steps has 60 s per stretch.
 * A test that names its own `timeout` keeps it (same rule, its value).
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { clearTimeout, setTimeout } from 'node:timers';

const require = createRequire(import.meta.url);
/** @type {typeof import('node:test')} */
const nodeTest = require('node:test');

const fromEnv = Number(process.env.KEYHOLD_TEST_STEP_TIMEOUT_MS);
const STEP_MS = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 60_000;

/** test(name?, options?, fn?) in any of node's shapes, as [name, options, fn]. */
function normalise(args) {
  let [name, options, fn] = args;
  if (typeof name === 'function' || (typeof name === 'object' && name !== null)) [name, options, fn] = [undefined, name, options];
  if (typeof options === 'function') [options, fn] = [undefined, options];
  return [name, options ?? {}, fn];
}

/** Wraps a test body so that it fails when no step boundary is crossed for `ms`. */
function watched(fn, ms) {
  // Callback-style bodies (t, done) are left to node (none in this suite today).
  if (typeof fn !== 'function' || fn.length >= 2) return fn;
  return async function watchedBody(t) {
    let timer;
    let expire;
    const expired = new Promise((_, reject) => {
      expire = reject;
    });
    expired.catch(() => {});
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => expire(new Error(`no step of this test finished within ${ms} ms (a hung test?): split long scenarios into t.test steps or make them faster`)), ms);
    };
    // While steps run, each has its own clock; this one restarts when the last of them ends.
    let running = 0;
    const subtest = t.test.bind(t);
    t.test = (...args) => {
      const [name, options, body] = normalise(args);
      const stepMs = typeof options.timeout === 'number' ? options.timeout : STEP_MS;
      running += 1;
      clearTimeout(timer);
      const done = name === undefined ? subtest(options, watched(body, stepMs)) : subtest(name, options, watched(body, stepMs));
      return Promise.resolve(done).finally(() => {
        running -= 1;
        if (running === 0) arm();
      });
    };
    arm();
    try {
      return await Promise.race([fn.call(this, t), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}

function wrap(original) {
  const wrapped = (...args) => {
    const [name, options, fn] = normalise(args);
    const ms = typeof options.timeout === 'number' ? options.timeout : STEP_MS;
    return name === undefined ? original(options, watched(fn, ms)) : original(name, options, watched(fn, ms));
  };
  for (const key of ['skip', 'todo', 'only']) if (typeof original[key] === 'function') wrapped[key] = (...args) => original[key](...args);
  return wrapped;
}

nodeTest.test = wrap(nodeTest.test);
// `import test from 'node:test'` is the same function as the named export.
syncBuiltinESMExports();
