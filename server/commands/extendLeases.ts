// Command (run by a reaper that just became leader): gives every live execution at least
// one full lease from now. While no server was leading — all servers down, or the
// database unreachable — workers could not renew, and that is not their fault: without
// this grace a restarted server would take back every running task at once.
import { sql } from 'slonik';
import type { Pool } from '../db/pool.js';

export async function extendLeases(pool: Pool, leaseSeconds: number): Promise<void> {
  await pool.query(sql.unsafe`
    UPDATE execution_leases SET expires_at = clock_timestamp() + make_interval(secs => ${leaseSeconds})
    WHERE expires_at < clock_timestamp() + make_interval(secs => ${leaseSeconds})`);
}
