// The embedded PostgreSQL is reached through a Unix socket in its cluster's directory where
// the socket's path fits (a relative data directory too), and through 127.0.0.1 otherwise or
// where PostgreSQL cannot make its socket; it listens on 127.0.0.1 either way (psql,
// docs/auditing.md), and an admin command beside a running labq finds the same URL from its
// postmaster.pid (127.0.0.1 where that names a socket outside the cluster's directory).
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { runningEmbeddedUrl, startEmbeddedPostgres, type EmbeddedDatabase } from './embedded.js';

/** The cluster stops before its directory goes (a test's after-hooks run in the order they were added). */
async function stopAndRemove(db: EmbeddedDatabase, dir: string): Promise<void> {
  try {
    await db.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

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
  const db = await startEmbeddedPostgres({ dataDir });
  t.after(() => stopAndRemove(db, dataDir));
  const url = new URL(db.url);
  assert.equal(decodeURIComponent(url.hostname), join(dataDir, 'pg'));
  assert.equal(await serverAddress(db.url), null, 'the URL goes through the socket');
  assert.equal(await serverAddress(db.adminUrl), null);
  assert.equal(await runningEmbeddedUrl(dataDir), db.url, 'an admin command beside it uses the same URL');
  const tcp = { host: '127.0.0.1', port: Number(url.port), user: 'postgres', password: decodeURIComponent(url.password), database: 'labq' };
  assert.equal(await serverAddress(tcp), '127.0.0.1');

  // A cluster started by an earlier labq has its socket in /tmp (PostgreSQL's default),
  // which may be the /tmp of another mount namespace (systemd's PrivateTmp): an admin
  // command beside it goes through 127.0.0.1.
  const pidFile = join(dataDir, 'pg', 'postmaster.pid');
  const lines = (await readFile(pidFile, 'utf8')).split('\n');
  await writeFile(pidFile, [...lines.slice(0, 4), '/tmp/labq-no-such-namespace', ...lines.slice(5)].join('\n'));
  let beside: string | null;
  try {
    beside = await runningEmbeddedUrl(dataDir);
  } finally {
    await writeFile(pidFile, lines.join('\n'));
  }
  assert.equal(new URL(beside!).hostname, '127.0.0.1');
  assert.equal(await serverAddress(beside!), '127.0.0.1');
});

test('where the socket\'s path would be too long, the embedded PostgreSQL is reached through 127.0.0.1', async (t) => {
  const base = await mkdtemp('/tmp/labq-embedded-');
  // As root, PostgreSQL runs as the postgres user, who must traverse every parent.
  await chmod(base, 0o755);
  const dataDir = join(base, 'a-data-directory-deep-enough-that-a-socket-in-it'.repeat(2));
  await mkdir(dataDir, { recursive: true });
  const db = await startEmbeddedPostgres({ dataDir });
  t.after(() => stopAndRemove(db, base));
  assert.equal(new URL(db.url).hostname, '127.0.0.1');
  assert.equal(await serverAddress(db.url), '127.0.0.1');
  assert.equal(await runningEmbeddedUrl(dataDir), db.url);
});

test('a relative data directory gets its socket all the same', async (t) => {
  const base = await mkdtemp('/tmp/labq-embedded-');
  await chmod(base, 0o755);
  const dataDir = relative(process.cwd(), join(base, 'data'));
  const db = await startEmbeddedPostgres({ dataDir });
  t.after(() => stopAndRemove(db, base));
  assert.equal(decodeURIComponent(new URL(db.url).hostname), join(base, 'data', 'pg'));
  assert.equal(await serverAddress(db.url), null);
});

test('where PostgreSQL cannot make its socket, it starts on 127.0.0.1 alone', async (t) => {
  const dataDir = await mkdtemp('/tmp/labq-embedded-');
  const first = await startEmbeddedPostgres({ dataDir });
  await first.stop();
  const port = Number(new URL(first.url).port);
  // The socket's lock file cannot be made where a directory of its name stands.
  await mkdir(join(dataDir, 'pg', `.s.PGSQL.${port}.lock`));
  const said: string[] = [];
  const db = await startEmbeddedPostgres({ dataDir, port, log: (line) => said.push(line) });
  t.after(() => stopAndRemove(db, dataDir));
  assert.equal(new URL(db.url).hostname, '127.0.0.1');
  assert.equal(await serverAddress(db.url), '127.0.0.1');
  assert.match(said.join('\n'), /did not start with its socket .*: starting it on 127\.0\.0\.1 alone/);
  assert.equal(await runningEmbeddedUrl(dataDir), db.url);
});
