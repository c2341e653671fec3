/**
 * Issue 15 M3: what unauthenticated oversized bodies cost the server.
 * Starts a sealed (never initialised) Keyhold in its own process, sends
 * HOSTILE_POSTS concurrent garbage bodies of HOSTILE_BYTES each to
 * POST /v1/enclave/post (public, answers while sealed), polls the health
 * port's /health meanwhile, and reports the server's peak RSS (VmHWM from
 * /proc/<pid>/status), the slowest /health answer and the status codes seen.
 * Usage: node --import tsx bench/hostile-posts.ts [posts=120] [bytes=22900000]
 */
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (process.argv[2] === 'serve') {
  const { resolveConfig } = await import('../src/config/load-config.js');
  const { startServer } = await import('../src/api/server.js');
  const dir = process.argv[3]!;
  const server = await startServer(
    resolveConfig({ storage: { path: join(dir, 'k.db') }, listeners: { api: { port: 0 }, health: { port: 0 } }, log: { level: 'silent' } }),
    { logger: false },
  );
  process.stdout.write(`READY ${server.apiUrl} ${server.healthUrl}\n`);
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
} else {
  const posts = Number(process.argv[2] ?? 120);
  const bytes = Number(process.argv[3] ?? 22_900_000);
  const dir = mkdtempSync(join(tmpdir(), 'kh-hostile-'));
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, 'serve', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [apiUrl, healthUrl] = await new Promise<[string, string]>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /READY (\S+) (\S+)/.exec(out);
      if (m !== null) resolve([m[1]!, m[2]!]);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const vmHwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const idle = vmHwm();

  // One shared chunk, written repeatedly: the client's own memory stays small.
  const prefix = Buffer.from('{"ciphertext":"');
  const suffix = Buffer.from('","nonce":"00","ephemeralPublicKey":"00"}');
  const chunk = Buffer.alloc(64 * 1024, 'z');
  const statuses = new Map<string, number>();
  const post = () =>
    new Promise<void>((resolve) => {
      const req = request(`${apiUrl}/v1/enclave/post`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(bytes) } }, (res) => {
        const key = `${res.statusCode}${res.headers['retry-after'] !== undefined ? ' (Retry-After)' : ''}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        const key = `socket ${e.code ?? e.message}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        resolve();
      });
      let left = bytes - prefix.length - suffix.length;
      req.write(prefix);
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump);
        }
        req.end(suffix);
      };
      pump();
    });

  let worstHealthMs = 0;
  let healthFailures = 0;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const t0 = performance.now();
      try {
        const res = await fetch(`${healthUrl}/health`, { signal: AbortSignal.timeout(60_000) });
        await res.arrayBuffer();
      } catch {
        healthFailures++;
      }
      worstHealthMs = Math.max(worstHealthMs, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: posts }, post));
  const elapsed = (performance.now() - t0) / 1000;
  polling = false;
  await poll;
  const peak = vmHwm();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  console.log(
    JSON.stringify({ posts, bytesEach: bytes, idleRssMiB: Math.round(idle), peakRssMiB: Math.round(peak), worstHealthMs: Math.round(worstHealthMs), healthFailures, seconds: Number(elapsed.toFixed(1)), statuses: Object.fromEntries(statuses) }),
  );
}
