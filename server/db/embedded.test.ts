// The embedded PostgreSQL is reached through a Unix socket in its cluster's directory where
// the socket's path fits, and through 127.0.0.1 otherwise; it listens on 127.0.0.1 either
// way (psql, docs/auditing.md), and an admin command beside a running labq finds the same
// URL from its postmaster.pid.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { runningEmbeddedUrl, startEmbeddedPostgres } from './embedded.js';

/** The address the server sees the connection come from: null over a Unix socket. */
async function serverAddress(config: string | pg.ClientConfig): Promise<string | null> {
  const client = new pg.Client(typeof config === 'string' ? { connectionString: config } : config);
  await client.connect();
  try {
    return (await client.query('SELECT host(inet_server_addr()) AS address')).rows[0].address;
  } finally {
    await client.end();
  }
}

test('the embedded PostgreSQL is reached through a socket in its directory, and still listens on 127.0.0.1', async (t) => {
  const dataDir = await mkdtemp('/tmp/labq-embedded-');
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const db = await startEmbeddedPostgres({ dataDir });
  t.after(() => db.stop());
  const url = new URL(db.url);
  assert.equal(decodeURIComponent(url.hostname), join(dataDir, 'pg'));
  assert.equal(await serverAddress(db.url), null, 'the URL goes through the socket');
  assert.equal(await serverAddress(db.adminUrl), null);
  assert.equal(await runningEmbeddedUrl(dataDir), db.url, 'an admin command beside it uses the same URL');
  const tcp = { host: '127.0.0.1', port: Number(url.port), user: 'postgres', password: decodeURIComponent(url.password), database: 'labq' };
  assert.equal(await serverAddress(tcp), '127.0.0.1');
});

test('where the socket\'s path would be too long, the embedded PostgreSQL is reached through 127.0.0.1', async (t) => {
  const base = await mkdtemp('/tmp/labq-embedded-');
  t.after(() => rm(base, { recursive: true, force: true }));
  // As root, PostgreSQL runs as the postgres user, who must traverse every parent.
  await chmod(base, 0o755);
  const dataDir = join(base, 'a-data-directory-deep-enough-that-a-socket-in-it'.repeat(2));
  await mkdir(dataDir, { recursive: true });
  const db = await startEmbeddedPostgres({ dataDir });
  t.after(() => db.stop());
  assert.equal(new URL(db.url).hostname, '127.0.0.1');
  assert.equal(await serverAddress(db.url), '127.0.0.1');
  assert.equal(await runningEmbeddedUrl(dataDir), db.url);
});
