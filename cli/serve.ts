// `labq up` and `labq server`: start the database (embedded unless DATABASE_URL is
// given), the server (HTTPS when given a certificate and key), and make sure an admin
// token exists; stop everything on Ctrl-C.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, hostname } from 'node:os';
import { join } from 'node:path';
import type { EventMeta } from '../shared/events.js';
import type { WorkerDaemon } from '../worker/daemon.js';
import { createToken, freeTokenName, tokenCount, verifyToken } from '../server/auth/tokens.js';
import { serverFile, tokenFile } from '../server/config.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../server/db/embedded.js';
import type { Pool } from '../server/db/pool.js';
import { startServer, type RunningServer, type TlsFiles } from '../server/server.js';

export interface ServeOptions {
  /** Which command runs: the actor of what it writes to the database itself (the first tokens). */
  command: 'labq up' | 'labq server';
  dataDir: string;
  host: string;
  port: number;
  databaseUrl?: string;
  adminToken?: string;
  /** Trust X-Forwarded-For and X-Forwarded-Proto: only behind a reverse proxy that sets them. */
  trustProxy?: boolean;
  /** Also run a worker in this process (what `labq up` does). */
  worker?: boolean;
  /** Serve HTTPS with the certificate and key in these PEM files. */
  tls?: { certFile: string; keyFile: string };
}

export interface Served {
  server: RunningServer;
  worker: WorkerDaemon | null;
  database: EmbeddedDatabase | null;
  adminToken: string | null;
  stop(): Promise<void>;
}

const metaOf = (command: ServeOptions['command']) => ({ actor: command, request_id: null, source: 'local' });

async function isLive(pool: Pool, token: string): Promise<boolean> {
  const found = await verifyToken(pool, token);
  return found !== null && found !== 'expired';
}

/** The local worker's own token (role worker), made once and kept in the data dir. */
async function localWorkerToken(pool: Pool, dataDir: string, meta: EventMeta): Promise<string> {
  const file = join(dataDir, 'worker-token');
  if (existsSync(file)) {
    const saved = (await readFile(file, 'utf8')).trim();
    if (await isLive(pool, saved)) return saved;
  }
  const token = await createToken(pool, await freeTokenName(pool, 'local-worker'), 'worker', meta);
  await writeFile(file, token + '\n', { mode: 0o600 });
  return token;
}

/** The admin token: LABQ_ADMIN_TOKEN when given, else the one made on first start. */
async function ensureAdminToken(pool: Pool, dataDir: string, meta: EventMeta, given?: string): Promise<string | null> {
  const file = tokenFile(dataDir);
  if (given) {
    if ((await verifyToken(pool, given)) === null) await createToken(pool, await freeTokenName(pool, 'admin'), 'admin', meta, { value: given });
    return given;
  }
  if (existsSync(file)) {
    const saved = (await readFile(file, 'utf8')).trim();
    if (await isLive(pool, saved)) return saved;
  }
  if ((await tokenCount(pool)) > 0 && !existsSync(file)) return null;
  const token = await createToken(pool, await freeTokenName(pool, 'admin'), 'admin', meta);
  await writeFile(file, token + '\n', { mode: 0o600 });
  return token;
}

/** The TLS flags as given: both or neither. */
export function tlsFiles(certFile?: string, keyFile?: string): ServeOptions['tls'] {
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new Error('--tls-cert and --tls-key go together: give both files, or neither to serve plain HTTP');
  return { certFile, keyFile };
}

async function readTls(files: NonNullable<ServeOptions['tls']>): Promise<TlsFiles> {
  const read = (what: string, file: string) =>
    readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`cannot read the TLS ${what} ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
    });
  return { cert: await read('certificate', files.certFile), key: await read('key', files.keyFile) };
}

/** One labq per data directory: a second one would fight the first over its database. */
async function claimDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = join(dataDir, 'labq.pid');
  if (existsSync(file)) {
    const pid = Number((await readFile(file, 'utf8')).trim());
    let alive = false;
    try {
      alive = Number.isInteger(pid) && pid > 0 && pid !== process.pid && process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (alive) throw new Error(`labq is already running with the data directory ${dataDir} (pid ${pid}); stop it first`);
  }
  await writeFile(file, `${process.pid}\n`);
  return () => rm(file, { force: true });
}

export async function serve(options: ServeOptions, log: (line: string) => void): Promise<Served> {
  // Read first: a missing file fails before anything starts.
  const tls = options.tls && (await readTls(options.tls));
  await mkdir(options.dataDir, { recursive: true });
  const release = await claimDataDir(options.dataDir);
  let database: EmbeddedDatabase | null = null;
  let databaseUrl = options.databaseUrl;
  if (!databaseUrl) {
    database = await startEmbeddedPostgres({ dataDir: options.dataDir, log });
    databaseUrl = database.url;
    log(`embedded PostgreSQL in ${join(options.dataDir, 'pg')}`);
  }
  let server: RunningServer;
  try {
    server = await startServer({ databaseUrl, host: options.host, port: options.port, dataDir: options.dataDir, log, trustProxy: options.trustProxy, tls });
  } catch (error) {
    await database?.stop();
    await release();
    throw error;
  }
  let adminToken: string | null;
  let worker: WorkerDaemon | null = null;
  try {
    adminToken = await ensureAdminToken(server.pool, options.dataDir, metaOf(options.command), options.adminToken);
    await writeFile(serverFile(options.dataDir), server.url + '\n');
    if (options.worker) {
      // `labq server` alone does not carry the worker's code.
      const { WorkerDaemon } = await import('../worker/daemon.js');
      worker = new WorkerDaemon({
        server: server.url, token: await localWorkerToken(server.pool, options.dataDir, metaOf(options.command)), name: `local-${hostname()}`,
        concurrency: cpus().length, stateDir: join(options.dataDir, 'worker'), log,
      });
      await worker.start();
    }
  } catch (error) {
    // The local worker refused (its name in use by another daemon, say): nothing is left running.
    await server.close();
    await database?.stop();
    await release();
    throw error;
  }
  return {
    server,
    worker,
    database,
    adminToken,
    async stop() {
      await worker?.stop();
      await server.close();
      await database?.stop();
      await release();
    },
  };
}
