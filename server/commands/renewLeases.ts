// Renews the leases of the executions a worker says it holds, and sorts out the
// disagreements: an execution it holds that is no longer live for it must be abandoned;
// a live execution of it that it does not hold (a restart that lost it, or an assignment
// whose answer never reached it) is returned so the caller can mark it lost.
import { sql } from 'slonik';
import type { Db } from '../db/pool.js';

/** `live`: the worker's live executions, as the caller read them under the worker's lock. */
export async function renewLeases(tx: Db, workerId: number, holding: number[], live: number[], leaseSeconds: number) {
  const renewed = new Set(
    (await tx.anyFirst(sql.unsafe`
      UPDATE execution_leases SET expires_at = clock_timestamp() + make_interval(secs => ${leaseSeconds})
      WHERE worker_id = ${workerId} AND execution_id = ANY(${sql.array(holding, 'int8')})
      RETURNING execution_id`)) as number[],
  );
  const held = new Set(holding);
  return {
    abandon: holding.filter((id) => !renewed.has(id)),
    unheld: live.filter((id) => !held.has(id)),
  };
}

/** Renews one execution's lease on any report from its worker. */
export async function renewLease(tx: Db, executionId: number, leaseSeconds: number): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE execution_leases SET expires_at = clock_timestamp() + make_interval(secs => ${leaseSeconds})
    WHERE execution_id = ${executionId}`);
}
