// `labq up` that cannot start its local worker (its name is in use by another live daemon)
// fails with that reason and leaves nothing running: no server, no connection to the
// database, no claim on the data directory.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectionsTo } from '../e2e/support/db.js';
import { startTestServer } from '../e2e/support/server.js';
import { registerWorker } from '../e2e/support/workerApi.js';
import { until } from '../e2e/support/worker.js';
import { serve } from './serve.js';

test('labq up whose local worker is refused stops everything it started', async (t) => {
  const ts = await startTestServer();
  const dataDir = await mkdtemp(join(tmpdir(), 'labq-serve-test-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  // Another live daemon already runs as the local worker's name.
  await registerWorker(ts, { name: `local-${hostname()}` });
  await ts.close();

  await assert.rejects(
    serve({ dataDir, host: '127.0.0.1', port: 0, databaseUrl: ts.databaseUrl, worker: true }, () => undefined),
    new RegExp(`worker name "local-${hostname()}" is in use by another running worker daemon`),
  );
  assert.equal(existsSync(join(dataDir, 'labq.pid')), false, 'the data directory is released');
  await until('no connection left to the database', async () => (await connectionsTo(ts.databaseUrl)) === 0, 10_000);
});
