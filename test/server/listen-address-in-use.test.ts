/** A port held by another process is a startup error naming the port and the flag that moves it, never KH_INTERNAL. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { resolveConfig } from '../../src/config/load-config.js';
import { startServer } from '../../src/api/server.js';
import { KeyholdError } from '../../src/errors.js';
import { tempDir } from '../helpers/temp-dir.js';

async function occupiedPort(t: TestContext): Promise<number> {
  const squatter: Server = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  return (squatter.address() as AddressInfo).port;
}

for (const listener of ['api', 'health'] as const) {
  test(`a busy ${listener} port is KH_LISTEN_ADDRESS_IN_USE naming the port, --${listener}-port and listeners.${listener}.port`, async (t) => {
    const port = await occupiedPort(t);
    const listeners = { api: { port: 0 }, health: { port: 0 }, [listener]: { port } };
    const config = resolveConfig({ storage: { path: join(tempDir(t), 'k.db') }, listeners, log: { level: 'silent' } });
    await assert.rejects(startServer(config, { logger: false }), (e: unknown) => {
      assert.ok(e instanceof KeyholdError, 'a KeyholdError, not a bare EADDRINUSE');
      assert.equal(e.code, 'KH_LISTEN_ADDRESS_IN_USE');
      assert.equal(e.status, 409);
      assert.ok(e.message.includes(`port ${port}`), e.message);
      assert.ok(e.message.includes(`--${listener}-port`), e.message);
      assert.ok(e.message.includes(`listeners.${listener}.port`), e.message);
      return true;
    });
  });
}
