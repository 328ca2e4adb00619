// Starts one server process against a database: migrations, the slonik pool, the
// LISTEN hub with what reads on its wake-ups (the log tailer, the output reader, the workers feed, the
// token cache), the reaper, the scheduler and the HTTP listener (HTTPS when given a certificate and
// its key). Any number of these may share one
// database. When a step fails (the port is taken, say), what was started before it is
// released, so a caller that retries or carries on leaks no connection or timer.
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TokenCache } from './auth/tokenCache.js';
import { connectPool, type Pool } from './db/pool.js';
import { migrate } from './db/migrate.js';
import { logTailer, type LogTailer } from './events/tailer.js';
import { createApp } from './http/app.js';
import { MAX_HEADER_BYTES } from '../shared/limits.js';
import { answerClientErrors } from './http/requestLimits.js';
import { ListenHub } from './listen/hub.js';
import { outputReader, type OutputReader } from './queries/outputReader.js';
import { WorkerFeed } from './queries/workerFeed.js';
import { ExchangeRounds, IN_FLIGHT, LOCK_WAIT } from './workers/exchangeRounds.js';
import { ParkedPolls } from './workers/wakeups.js';
import { claimableTask } from './queries/claimable.js';
import { tellGivenUp } from './commands/tellGivenUp.js';
import { Reaper } from './reaper.js';
import { Scheduler } from './scheduler.js';
import { assertKeyOpensSecrets, loadSecretBox, type SecretBox } from './secrets/secretBox.js';
import { queueSettings, type QueueSettings } from './settings.js';
import { Teardown } from './teardown.js';

export interface ServerOptions {
  databaseUrl: string;
  host: string;
  port: number;
  log?: (line: string) => void;
  settings?: Partial<QueueSettings>;
  /** Trust X-Forwarded-For and X-Forwarded-Proto (behind a reverse proxy that sets them). */
  trustProxy?: boolean;
  /** Where the secret-key file is kept when no key is given (`labq up`/`labq server` pass theirs). */
  dataDir?: string;
  /** The key for secrets, base64 of 32 bytes; LABQ_SECRET_KEY when absent. */
  secretKey?: string;
  /** Serve HTTPS with this certificate (chain) and private key, both PEM. */
  tls?: TlsFiles;
}

export interface TlsFiles {
  cert: string | Buffer;
  key: string | Buffer;
}

export interface RunningServer {
  url: string;
  pool: Pool;
  hub: ListenHub;
  tailer: LogTailer;
  outputs: OutputReader;
  workerFeed: WorkerFeed;
  rounds: ExchangeRounds;
  polls: ParkedPolls;
  tokens: TokenCache;
  secrets: SecretBox;
  settings: QueueSettings;
  /** Whether this process leads the reaper now. */
  reaperLeads(): boolean;
  close(): Promise<void>;
}

/** Listens, or fails with a message that names the address (EADDRINUSE alone does not). */
async function listen(http: Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    http.once('listening', resolve);
    http.once('error', reject);
    http.listen(port, host);
  }).catch((error: NodeJS.ErrnoException) => {
    const why = error.code === 'EADDRINUSE' ? 'the address is already in use' : error.message;
    throw new Error(`cannot listen on ${host}:${port}: ${why}`, { cause: error });
  });
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const log = options.log ?? ((line: string) => console.error(line));
  await migrate(options.databaseUrl);
  const secrets = await loadSecretBox({ given: options.secretKey ?? process.env.LABQ_SECRET_KEY, dataDir: options.dataDir });
  const teardown = new Teardown();
  try {
    const pool = await connectPool(options.databaseUrl, { maximumPoolSize: 20 });
    teardown.add(() => pool.end());
    // A server that could not open the secrets the others sealed would fail every task that uses one: it does not start.
    await assertKeyOpensSecrets(pool, secrets);
    const hub = new ListenHub(options.databaseUrl, log);
    teardown.add(() => hub.stop());
    await hub.start();
    const tailer = logTailer(pool, hub, log);
    teardown.add(async () => tailer.stop());
    const outputs = outputReader(pool, hub, log);
    teardown.add(async () => outputs.stop());
    const workerFeed = new WorkerFeed(pool, hub, log);
    teardown.add(async () => workerFeed.stop());
    const tokens = new TokenCache(pool, hub);
    teardown.add(async () => tokens.stop());
    const settings = queueSettings(options.settings);
    const reaper = new Reaper(options.databaseUrl, pool, settings, log);
    teardown.add(() => reaper.stop());
    reaper.start();
    const scheduler = new Scheduler(pool, hub, log);
    teardown.add(() => scheduler.stop());
    scheduler.start();
    // The exchanges' batches have connections of their own, which wait for a lock at most
    // LOCK_WAIT and plan their statements once: PostgreSQL kept planning several of them
    // again at every call (custom plans), about a millisecond of a dispatch's claim
    // (docs/performance.md).
    const batches = await connectPool(options.databaseUrl, { maximumPoolSize: IN_FLIGHT, lockTimeout: LOCK_WAIT, genericPlans: true });
    teardown.add(() => batches.end());
    const rounds = new ExchangeRounds(batches, pool, secrets, settings, log);
    const polls = new ParkedPolls(hub, (tag) => claimableTask(pool, tag), (workerId, seq) => tellGivenUp(pool, workerId, seq));
    teardown.add(async () => polls.stop());
    const app = createApp({ pool, hub, tailer, outputs, workerFeed, rounds, polls, tokens, secrets, settings, log, trustProxy: options.trustProxy });
    // An https.Server is an http.Server over TLS sockets: the same limits and answers apply.
    const http: Server = options.tls
      ? createTlsServer({ ...options.tls, maxHeaderSize: MAX_HEADER_BYTES }, app.callback())
      : createServer({ maxHeaderSize: MAX_HEADER_BYTES }, app.callback());
    answerClientErrors(http);
    await listen(http, options.host, options.port);
    teardown.add(async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    });
    http.keepAliveTimeout = 65_000;
    const address = http.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return {
      url: `${options.tls ? 'https' : 'http'}://${host}:${address.port}`,
      pool,
      hub,
      tailer,
      outputs,
      workerFeed,
      rounds,
      polls,
      tokens,
      secrets,
      settings,
      reaperLeads: () => reaper.isLeader,
      close: () => teardown.run(),
    };
  } catch (error) {
    await teardown.run().catch((failure: Error) => log(failure.message));
    throw error;
  }
}
