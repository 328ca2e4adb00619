// Renews the leases of the executions a worker holds, at most once every third of a lease:
// a lease with more than two thirds left is not written again, so a worker that polls and
// reports often costs no write per round. Leases are locked in execution id order, after
// every task and execution lock of the same transaction (the lock order of every command:
// worker, tasks, executions, leases), and the task counters take no lock at all.
import { sql } from 'slonik';
import type { Db } from '../db/pool.js';

// Due: a third of the lease has passed, or the lease runs longer than a whole lease (it was
// granted under a longer setting, and follows the current one from now on).
export const leaseDue = (leaseSeconds: number) => sql.fragment`(
  expires_at < clock_timestamp() + make_interval(secs => ${(leaseSeconds * 2) / 3})
  OR expires_at > clock_timestamp() + make_interval(secs => ${leaseSeconds}))`;
const renewed = (leaseSeconds: number) => sql.fragment`expires_at = clock_timestamp() + make_interval(secs => ${leaseSeconds})`;

/** Renews the due leases among `executionIds` (checked again under their locks). */
export async function renewLeases(tx: Db, executionIds: number[], leaseSeconds: number): Promise<void> {
  if (executionIds.length === 0) return;
  await tx.query(sql.unsafe`
    UPDATE execution_leases SET ${renewed(leaseSeconds)}
    WHERE execution_id IN (
      SELECT execution_id FROM execution_leases
      WHERE execution_id = ANY(${sql.array(executionIds, 'int8')}) AND ${leaseDue(leaseSeconds)}
      ORDER BY execution_id FOR UPDATE)`);
}
