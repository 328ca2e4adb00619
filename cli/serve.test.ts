// `labq up` that cannot start its local worker (its name is in use by another live daemon)
// fails with that reason and leaves nothing running: no server, no connection to the
// database, no claim on the data directory. With a certificate and key it serves HTTPS.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sql } from 'slonik';
import { generate } from 'selfsigned';
import { connectionsTo } from '../e2e/support/db.js';
import { startTestServer } from '../e2e/support/server.js';
import { registerWorker } from '../e2e/support/workerApi.js';
import { until } from '../e2e/support/worker.js';
import { serve, tlsFiles } from './serve.js';

test('labq up whose local worker is refused stops everything it started', async (t) => {
  const ts = await startTestServer();
  const dataDir = await mkdtemp(join(tmpdir(), 'labq-serve-test-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  // Another live daemon already runs as the local worker's name.
  await registerWorker(ts, { name: `local-${hostname()}` });
  await ts.close();

  await assert.rejects(
    serve({ command: 'labq up', dataDir, host: '127.0.0.1', port: 0, databaseUrl: ts.databaseUrl, worker: true }, () => undefined),
    new RegExp(`worker name "local-${hostname()}" is in use by another running worker daemon`),
  );
  assert.equal(existsSync(join(dataDir, 'labq.pid')), false, 'the data directory is released');
  await until('no connection left to the database', async () => (await connectionsTo(ts.databaseUrl)) === 0, 10_000);
});

test('labq server --tls-cert --tls-key serves HTTPS; one flag alone or a missing file is refused before anything starts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labq-serve-tls-'));
  let stop: () => Promise<unknown> = async () => undefined;
  t.after(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });
  const pems = await generate([{ name: 'commonName', value: 'labq-test' }], { keyType: 'ec' });
  await writeFile(join(dir, 'cert.pem'), pems.cert);
  await writeFile(join(dir, 'key.pem'), pems.private);
  assert.throws(() => tlsFiles(join(dir, 'cert.pem'), undefined), /--tls-cert and --tls-key go together/);
  assert.equal(tlsFiles(undefined, undefined), undefined);

  const ts = await startTestServer();
  await ts.close();
  const dataDir = join(dir, 'data');
  await assert.rejects(
    serve({ command: 'labq server', dataDir, host: '127.0.0.1', port: 0, databaseUrl: ts.databaseUrl, tls: { certFile: join(dir, 'nope.pem'), keyFile: join(dir, 'key.pem') } }, () => undefined),
    /cannot read the TLS certificate .*nope\.pem: no such file/,
  );
  assert.equal(existsSync(dataDir), false, 'nothing was started');

  const served = await serve({ command: 'labq server', dataDir, host: '127.0.0.1', port: 0, databaseUrl: ts.databaseUrl, tls: tlsFiles(join(dir, 'cert.pem'), join(dir, 'key.pem')) }, () => undefined);
  stop = () => served.stop();
  assert.match(served.server.url, /^https:/);
  const status = await new Promise<number>((resolve, reject) =>
    httpsGet(served.server.url + '/healthz', { ca: pems.cert, checkServerIdentity: () => undefined }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    }).on('error', reject),
  );
  assert.equal(status, 200);
});

test('labq server records the admin token it makes as made by labq server, not labq up', async (t) => {
  const ts = await startTestServer();
  await ts.close();
  const dataDir = await mkdtemp(join(tmpdir(), 'labq-serve-actor-'));
  const served = await serve({ command: 'labq server', dataDir, host: '127.0.0.1', port: 0, databaseUrl: ts.databaseUrl, adminToken: 'labq_given-to-labq-server' }, () => undefined);
  // After-hooks run in the order they were added: the server stops before its folder goes.
  t.after(() => served.stop());
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const made = await served.server.pool.one(sql.unsafe`
    SELECT t.created_by, e.meta->>'actor' AS actor FROM api_tokens t
    JOIN events e ON e.stream_type = 'token' AND e.stream_id = t.id AND e.type = 'token.created'
    WHERE t.name LIKE 'admin%' ORDER BY t.id DESC LIMIT 1`);
  assert.deepEqual(made, { created_by: 'labq server', actor: 'labq server' });
});
