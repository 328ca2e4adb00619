// Command: what a worker reports about one of its executions — output chunks, phases,
// the final result — in the order it observed them, in one transaction. Everything is
// idempotent (chunks by seq, a phase already reached, the same result again), because a
// worker re-sends what it cannot prove was delivered. Reports about an execution that is
// no longer live (lost, or finished differently) are refused with 409 so the worker
// drops them: the server's decision stands and nothing is counted twice.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Pool, Db } from '../db/pool.js';
import { ProblemError, notFound } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';
import type { QueueSettings } from '../settings.js';
import { LIVE } from './loseExecutions.js';
import { releaseDependents } from './releaseDependents.js';
import { renewLease } from './renewLeases.js';
import { storeOutput, type Chunk } from './storeOutput.js';
import { taskOutcome } from './taskOutcome.js';

export type Report =
  | { kind: 'output'; stream: 'stdout' | 'stderr'; seq: number; data: string }
  | { kind: 'phase'; phase: 'downloading' | 'running' | 'uploading' }
  | { kind: 'finish'; status: 'succeeded' | 'failed' | 'killed' | 'refused'; exit_code: number | null; peak_memory_bytes: number | null; error: string | null };

const PHASES = ['assigned', 'downloading', 'running', 'uploading'];
const FINAL_TASK = ['succeeded', 'failed', 'cancelled'];

export class ExecutionGone extends ProblemError {
  constructor(executionId: number, status: string) {
    super(409, 'Execution gone', `execution ${executionId} is ${status}: it is no longer live on this worker; drop its reports`);
  }
}

async function finish(
  tx: Db, x: { id: number; task_id: number; version: number; kill_requested_at: string | null },
  report: Extract<Report, { kind: 'finish' }>, settings: QueueSettings, meta: EventMeta,
) {
  const taskStatus = await taskOutcome(tx, x, report.status, settings.maxLostExecutions);
  await recordEvents(tx, [{
    type: 'execution.finished',
    streamId: x.id,
    version: x.version + 1,
    data: { task_id: x.task_id, status: report.status, exit_code: report.exit_code, peak_memory_bytes: report.peak_memory_bytes, error: report.error, task_status: taskStatus },
  }], meta);
  await tx.query(sql.unsafe`DELETE FROM execution_leases WHERE execution_id = ${x.id}`);
  if (FINAL_TASK.includes(taskStatus)) await releaseDependents(tx, [x.task_id], meta);
}

export async function recordReports(pool: Pool, executionId: number, reports: Report[], settings: QueueSettings, meta: EventMeta): Promise<void> {
  await pool.transaction(async (tx) => {
    // Task before execution, the lock order of every command that touches both (killTask,
    // loseExecutions): two orders would deadlock under a kill racing a result.
    const taskId = await tx.maybeOneFirst(sql.unsafe`
      SELECT t.id FROM executions x JOIN tasks t ON t.id = x.task_id WHERE x.id = ${executionId} FOR UPDATE OF t`);
    if (taskId === null) throw notFound(`execution ${executionId}`);
    const x = await tx.one(sql.unsafe`SELECT id, task_id, status, version, kill_requested_at FROM executions WHERE id = ${executionId} FOR UPDATE`);
    let status: string = x.status;
    let version: number = x.version;
    let chunks: Chunk[] = [];
    const flushOutput = async () => {
      await storeOutput(tx, executionId, chunks, settings.outputCapBytes);
      chunks = [];
    };
    for (const report of reports) {
      if (report.kind === 'output') {
        chunks.push({ stream: report.stream, seq: report.seq, data: Buffer.from(report.data, 'base64') });
        continue;
      }
      await flushOutput();
      if (report.kind === 'phase') {
        if (status === 'lost') throw new ExecutionGone(executionId, status);
        if (!LIVE.includes(status)) continue;
        if (PHASES.indexOf(report.phase) <= PHASES.indexOf(status)) continue;
        await recordEvents(tx, [{ type: 'execution.phase', streamId: executionId, version: ++version, data: { task_id: x.task_id, phase: report.phase } }], meta);
        status = report.phase;
      } else if (LIVE.includes(status)) {
        await finish(tx, { id: executionId, task_id: x.task_id, version, kill_requested_at: x.kill_requested_at }, report, settings, meta);
        version++;
        status = report.status;
      } else if (status !== report.status) {
        throw new ExecutionGone(executionId, status);
      }
    }
    if (chunks.length && status === 'lost') throw new ExecutionGone(executionId, status);
    await flushOutput();
    if (LIVE.includes(status)) await renewLease(tx, executionId, settings.leaseSeconds);
  });
}
