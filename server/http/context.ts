// What the route modules need from the running server.
import type { Pool } from '../db/pool.js';
import type { ListenHub } from '../listen/hub.js';

export interface ServerContext {
  pool: Pool;
  hub: ListenHub;
  log: (line: string) => void;
}
