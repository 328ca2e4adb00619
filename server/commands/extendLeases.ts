// Command (run by a reaper that just became leader): gives every live execution at least
// one full lease from now. While no server was leading — all servers down, or the
// database unreachable — workers could not renew, and that is not their fault: without
// this grace a restarted server would take back every running task at once.
import { sql } from 'slonik';
import type { Pool } from '../db/pool.js';

export async function extendLeases(pool: Pool, leaseSeconds: number): Promise<void> {
  // A lease locked by a report or a poll is being renewed by it: passing it by keeps this
  // from holding many leases in an order no other transaction follows.
  await pool.query(sql.unsafe`
    UPDATE execution_leases SET expires_at = clock_timestamp() + make_interval(secs => ${leaseSeconds})
    WHERE execution_id IN (
      SELECT execution_id FROM execution_leases
      WHERE expires_at < clock_timestamp() + make_interval(secs => ${leaseSeconds})
      FOR UPDATE SKIP LOCKED)`);
}
