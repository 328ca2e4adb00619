// Command (run by the reaper): executions whose lease expired are lost, and their tasks
// go back to pending per the retry policy. The reaper takes the execution, its lease and
// its task together and skips any of them another transaction holds: a report or a poll
// locks the execution before the lease, a kill the task before the execution, so waiting
// on any of them while holding the others could deadlock. A skipped one is taken at a
// later tick, if its lease is still expired then.
import { sql } from 'slonik';
import type { Pool } from '../db/pool.js';
import { loseExecutions } from './loseExecutions.js';
import { releaseDependents } from './releaseDependents.js';

const meta = { actor: 'reaper', request_id: null, source: null };

export async function expireLeases(pool: Pool, maxLost: number): Promise<number[]> {
  return pool.transaction(async (tx) => {
    const expired = (await tx.anyFirst(sql.unsafe`
      SELECT x.id FROM executions x
        JOIN execution_leases l ON l.execution_id = x.id
        JOIN tasks t ON t.id = x.task_id
      WHERE l.expires_at < clock_timestamp()
      ORDER BY l.expires_at LIMIT 1000
      FOR UPDATE OF x, l, t SKIP LOCKED`)) as number[];
    const { lost, ended } = await loseExecutions(tx, expired, 'lease expired: the worker stopped renewing it', maxLost, meta);
    await releaseDependents(tx, ended, meta);
    return lost;
  });
}
