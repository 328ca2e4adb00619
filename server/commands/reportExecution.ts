// Command: reports about one execution, sent on their own (curl, tests) rather than in a
// worker's exchange: recorded as the exchange records them, refused as a whole with 404
// (no such execution), 403 (a worker token's report on another worker's execution: the
// lock reads the execution's worker anyway, so the check costs no query) or 409 (no
// longer live) so the sender drops them, and the lease of an execution still live is
// renewed when due; dependents of a task that ended are released last.
import type { EventMeta } from '../../shared/events.js';
import type { Report } from '../../shared/schemas/worker.js';
import type { Pool } from '../db/pool.js';
import { notFound, notItsExecution, ProblemError } from '../errors.js';
import type { QueueSettings } from '../settings.js';
import { lockExecutions } from './lockExecutions.js';
import { recordReports } from './recordReports.js';
import { releaseDependents } from './releaseDependents.js';
import { renewLeases } from './renewLeases.js';

export async function reportExecution(
  pool: Pool, executionId: number, reports: Report[], settings: QueueSettings, meta: EventMeta, workerId?: number,
): Promise<void> {
  await pool.transaction(async (tx) => {
    const locked = await lockExecutions(tx, [executionId]);
    const execution = locked.get(executionId);
    if (execution && workerId !== undefined && execution.worker_id !== workerId) throw notItsExecution(executionId);
    const { receipts: [receipt], live, missing, ended } = await recordReports(tx, [{ execution_id: executionId, reports }], settings, meta, { locked });
    if (!receipt!.recorded) {
      if (missing.length > 0) throw notFound(`execution ${executionId}`);
      throw new ProblemError(409, 'Execution gone', receipt!.detail!);
    }
    await renewLeases(tx, [...live.keys()], settings.leaseSeconds);
    await releaseDependents(tx, ended, meta);
  });
}
