// Command: tell every server process that a worker gave up on its exchange numbered `seq`
// (and so on any numbered below), without hanging up (worker/exchanges.ts). The process where
// that exchange is parked answers it at once (server/workers/wakeups.ts, `worker:N:S`), as
// the process its next exchange reached would have. Sent only when the exchange was not
// found parked on that process: with one server process, hardly ever.
import { sql } from 'slonik';
import type { Db } from '../db/pool.js';
import { WORK_CHANNEL } from '../listen/hub.js';

export async function tellGivenUp(db: Db, workerId: number, seq: number): Promise<void> {
  await db.query(sql.unsafe`SELECT pg_notify(${WORK_CHANNEL}, ${`worker:${workerId}:${seq}`})`);
}
