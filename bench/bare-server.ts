/**
 * Baseline for `npm run bench`: a bare Fastify server with the routes the
 * HTTP comparisons need, and nothing else (no hooks, no auth, no schema, no
 * logger). Started by bench/run.ts and bench/keys-http.ts as its own process so
 * that its CPU time can be read from /proc on its own.
 *   POST /random        32 random bytes, base64 (bench/run.ts)
 *   POST /echo          parses the JSON body and sends it back (bench/keys-http.ts baseline)
 *   POST /keys-encrypt  {"plaintext": base64} -> {"ciphertext","version"} through the keys
 *                       layer (KeyManager on SqliteBackend(':memory:'), key "bench",
 *                       aes256-gcm), as the Keyhold route's handler does it, but with
 *                       none of Keyhold's hooks, auth, schemas or metrics
 *                       (bench/keys-http.ts: splits Keyhold's cost into operation and framework)
 * Usage: node --import tsx bench/bare-server.ts PORT
 */
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { Barrier } from '../src/barrier/barrier.js';
import { SqliteBackend } from '../src/storage/sqlite-backend.js';
import { KeyManager } from '../src/keys/key-manager.js';
import { encrypt } from '../src/keys/operations/encrypt.js';
import { b64, checkSize } from '../src/api/v1/inputs.js';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error('usage: bare-server.ts PORT');

const backend = new SqliteBackend({ path: ':memory:' });
const barrier = new Barrier(backend);
await backend.transaction([barrier.createKeyring(randomBytes(32))]);
const keys = new KeyManager(barrier);
await keys.create({ name: 'bench' });
const MAX = 4 * 1024 * 1024; // Keyhold's default limits.maxPlaintextBytes

const app = Fastify({ logger: false });
app.post('/random', async () => ({ random: randomBytes(32).toString('base64') }));
app.post('/echo', async (request) => request.body);
app.post('/keys-encrypt', async (request) => {
  const { plaintext } = request.body as { plaintext: string };
  return encrypt(await keys.get('bench'), { plaintext: checkSize('plaintext', b64('plaintext', plaintext), MAX) });
});
await app.listen({ host: '127.0.0.1', port });

const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
