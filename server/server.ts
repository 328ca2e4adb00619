// Starts one server process against a database: migrations, the slonik pool, the
// LISTEN hub and the HTTP listener. Any number of these may share one database.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectPool, type Pool } from './db/pool.js';
import { migrate } from './db/migrate.js';
import { createApp } from './http/app.js';
import { MAX_HEADER_BYTES, answerClientErrors } from './http/requestLimits.js';
import { ListenHub } from './listen/hub.js';
import { Reaper } from './reaper.js';
import { queueSettings, type QueueSettings } from './settings.js';

export interface ServerOptions {
  databaseUrl: string;
  host: string;
  port: number;
  log?: (line: string) => void;
  settings?: Partial<QueueSettings>;
}

export interface RunningServer {
  url: string;
  pool: Pool;
  hub: ListenHub;
  settings: QueueSettings;
  /** Whether this process leads the reaper now. */
  reaperLeads(): boolean;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const log = options.log ?? ((line: string) => console.error(line));
  await migrate(options.databaseUrl);
  const pool = await connectPool(options.databaseUrl, { maximumPoolSize: 20 });
  const hub = new ListenHub(options.databaseUrl, log);
  await hub.start();
  const settings = queueSettings(options.settings);
  const reaper = new Reaper(options.databaseUrl, pool, settings, log);
  reaper.start();
  const app = createApp({ pool, hub, settings, log });
  const http = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, app.callback());
  answerClientErrors(http);
  http.listen(options.port, options.host);
  await new Promise<void>((resolve, reject) => {
    http.once('listening', resolve);
    http.once('error', reject);
  });
  http.keepAliveTimeout = 65_000;
  const address = http.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    pool,
    hub,
    settings,
    reaperLeads: () => reaper.isLeader,
    async close() {
      await reaper.stop();
      await hub.stop();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await pool.end();
    },
  };
}
