// Command (run by the reaper): executions whose lease expired are lost, and their tasks
// go back to pending per the retry policy.
import { sql } from 'slonik';
import type { Pool } from '../db/pool.js';
import { loseExecutions } from './loseExecutions.js';

const meta = { actor: 'reaper', request_id: null, source: null };

export async function expireLeases(pool: Pool, maxLost: number): Promise<number[]> {
  return pool.transaction(async (tx) => {
    const expired = (await tx.anyFirst(sql.unsafe`
      SELECT execution_id FROM execution_leases WHERE expires_at < clock_timestamp()
      ORDER BY expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED`)) as number[];
    return loseExecutions(tx, expired, 'lease expired: the worker stopped renewing it', maxLost, meta);
  });
}
