/**
 * Baseline for `npm run bench`: a bare Fastify server with the one route the
 * HTTP comparison needs, and nothing else (no hooks, no auth, no schema, no
 * logger). Started by bench/run.ts as its own process so that its CPU time can
 * be read from /proc on its own. Usage: node --import tsx bench/bare-server.ts PORT
 */
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error('usage: bare-server.ts PORT');

const app = Fastify({ logger: false });
app.post('/random', async () => ({ random: randomBytes(32).toString('base64') }));
await app.listen({ host: '127.0.0.1', port });

const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
