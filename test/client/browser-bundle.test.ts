/**
 * The SDK in a browser-like runtime: src/client bundled by esbuild for
 * platform "browser" (which fails on any Node builtin it reaches), then run
 * in a fresh V8 context that has only web globals (fetch, crypto,
 * TextEncoder/Decoder, atob/btoa, URL) and no require, process or Buffer. It
 * talks to a real server over the E2E channel. The Node-only parts (request
 * signing, the Nitro verifier) are dynamic imports, left out of the bundle;
 * a browser passes its own `e2e.verify`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { build } from 'esbuild';
import { runningVault } from '../helpers/keyhold.js';
import { REPO_ROOT } from '../helpers/vectors.js';

async function bundle(): Promise<string> {
  const result = await build({
    entryPoints: [join(REPO_ROOT, 'src', 'client', 'index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'Keyhold',
    write: false,
    logLevel: 'silent',
    plugins: [
      {
        name: 'node-only-parts-stay-out',
        setup(b) {
          b.onResolve({ filter: /(nitro-verifier|http-signature)\.js$/ }, (args) => ({ path: args.path, external: true }));
        },
      },
    ],
  });
  return result.outputFiles[0]!.text;
}

test('the SDK bundles for browsers and speaks the channel with web APIs only', async (t) => {
  const code = await bundle();
  assert.doesNotMatch(code, /require\(["']node:/, 'no Node builtin in the bundle');
  const { server, rootToken } = await runningVault(t, { enclave: { provider: 'simulated' } });
  const sandbox: Record<string, unknown> = { fetch, crypto: webcrypto, TextEncoder, TextDecoder, atob, btoa, URL, console };
  runInNewContext(code, sandbox);
  const script = `
    (async () => {
      // A browser app checks the document with its own verifier; this one only pins the channel key binding.
      const vault = new Keyhold.KeyholdClient({ baseUrl: ${JSON.stringify(server.apiUrl)}, token: ${JSON.stringify(rootToken)},
        e2e: { verify: ({ document, publicKey }) => { if (document.length < 100 || publicKey.length !== 32) throw new Error('bad'); } } });
      await vault.createKey('browser', 'aes256-gcm');
      const ct = await vault.encrypt('browser', 'from a browser');
      return { ct, pt: new TextDecoder().decode(await vault.decrypt('browser', ct)), hasBuffer: typeof Buffer, hasProcess: typeof process };
    })()`;
  const out = (await runInNewContext(script, sandbox)) as { ct: string; pt: string; hasBuffer: string; hasProcess: string };
  assert.equal(out.hasBuffer, 'undefined');
  assert.equal(out.hasProcess, 'undefined');
  assert.match(out.ct, /^keyhold:v1:/);
  assert.equal(out.pt, 'from a browser');
});
