// What the route modules need from the running server.
import type { TokenCache } from '../auth/tokenCache.js';
import type { Pool } from '../db/pool.js';
import type { LogTailer } from '../events/tailer.js';
import type { ListenHub } from '../listen/hub.js';
import type { OutputReader } from '../queries/outputReader.js';
import type { WorkerFeed } from '../queries/workerFeed.js';
import type { ExchangeRounds } from '../workers/exchangeRounds.js';
import type { ParkedPolls } from '../workers/wakeups.js';
import type { SecretBox } from '../secrets/secretBox.js';
import type { QueueSettings } from '../settings.js';

export interface ServerContext {
  pool: Pool;
  hub: ListenHub;
  /** The one reader of new events for every SSE stream of the process. */
  tailer: LogTailer;
  /** The one reader of new output for every output follower of the process. */
  outputs: OutputReader;
  /** The one reader of the workers' live view for every GET /workers/stream of the process. */
  workerFeed: WorkerFeed;
  /** The one writer of the workers' exchange rounds, many workers' rounds per transaction. */
  rounds: ExchangeRounds;
  /** Which exchanges parked on this process a change wakes. */
  polls: ParkedPolls;
  tokens: TokenCache;
  /** The key that seals and opens secrets. */
  secrets: SecretBox;
  settings: QueueSettings;
  log: (line: string) => void;
  /** Trust X-Forwarded-For and X-Forwarded-Proto: only behind a reverse proxy that sets them. */
  trustProxy?: boolean;
}
