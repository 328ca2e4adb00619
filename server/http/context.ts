// What the route modules need from the running server.
import type { Pool } from '../db/pool.js';
import type { ListenHub } from '../listen/hub.js';
import type { QueueSettings } from '../settings.js';

export interface ServerContext {
  pool: Pool;
  hub: ListenHub;
  settings: QueueSettings;
  log: (line: string) => void;
}
