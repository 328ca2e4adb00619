// Command: what workers report about their executions — output chunks, phases, the final
// result — for any number of executions at once, set-based: one lock statement per table,
// one statement for all output, one append of all events. Each execution's reports are
// applied in the order the worker observed them, and all or none of them: an execution
// that is no longer live (lost, finished differently, another worker's) gets a receipt
// that refuses its reports, so the worker drops them; the server's decision stands and
// nothing is counted twice. Everything is idempotent (chunks by seq, a phase already
// reached, the same result again), because a worker re-sends what it cannot prove was
// delivered. Runs in the caller's transaction, which may hold the worker's row. Lock order:
// worker, tasks, executions, output counters, leases; the tasks that ended for good are
// returned for the caller to release their dependents last (releaseDependents), after it
// has renewed its leases: a waiting task's lock is never held while waiting for a lease.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import { isLive, LIVE_STATUSES, type FailureClass, type LiveStatus } from '../../shared/schemas/execution.js';
import { isFinalTask, type TaskStatus } from '../../shared/schemas/task.js';
import type { ExecutionReports, Report, ReportsReceipt } from '../../shared/schemas/worker.js';
import type { Db } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import type { NewEvent } from '../events/types.js';
import type { QueueSettings } from '../settings.js';
import { lockExecutions, type LockedExecution } from './lockExecutions.js';
import { storeOutput, type Chunk } from './storeOutput.js';
import { taskOutcome, type TaskOutcome } from './taskOutcome.js';

type Finish = Extract<Report, { kind: 'finish' }>;

export interface RecordedReports {
  receipts: ReportsReceipt[];
  /** The reported executions that are still live after their reports, with their status now. */
  live: Map<number, LiveStatus>;
  /** The reported executions that do not exist. */
  missing: number[];
  /** Tasks that ended for good (succeeded, failed, cancelled): their dependents are the caller's to release. */
  ended: number[];
  /** The executions whose end these reports recorded. */
  finished: number[];
}

const gone = (executionId: number, why: string): ReportsReceipt =>
  ({ execution_id: executionId, recorded: false, detail: `execution ${executionId} ${why}: it is no longer live on this worker; drop its reports` });

/** One execution's reports turned into events and chunks, or the reason they are refused. */
async function walk(
  tx: Db, x: LockedExecution, reports: Report[], settings: QueueSettings, meta: EventMeta | undefined,
): Promise<{ events: NewEvent[]; chunks: Chunk[]; status: string; ended: TaskStatus | null } | ReportsReceipt> {
  let status = x.status;
  let version = x.version;
  const events: NewEvent[] = [];
  const chunks: Chunk[] = [];
  let ended: TaskStatus | null = null;
  for (const report of reports) {
    if (report.kind === 'output') {
      if (status === 'lost') return gone(x.id, 'is lost');
      chunks.push({ stream: report.stream, seq: report.seq, data: Buffer.from(report.data, 'base64') });
    } else if (report.kind === 'phase') {
      if (status === 'lost') return gone(x.id, 'is lost');
      if (!isLive(status) || LIVE_STATUSES.indexOf(report.phase) <= LIVE_STATUSES.indexOf(status)) continue;
      events.push({ type: 'execution.phase', streamId: x.id, version: ++version, data: { task_id: x.task_id, phase: report.phase }, meta });
      status = report.phase;
    } else if (isLive(status)) {
      const failureClass = failureClassOf(report);
      const outcome = await taskOutcome(tx, x, report.status, failureClass, settings.maxLostExecutions);
      events.push({ type: 'execution.finished', streamId: x.id, version: ++version, data: finishData(x, report, failureClass, outcome), meta });
      ended = outcome.task_status;
      status = report.status;
    } else if (status !== report.status) {
      return gone(x.id, `is ${status}`);
    }
  }
  return { events, chunks, status, ended };
}

/** A worker older than failure classes does not say one: its failures read as exit, killed or refused by their status. */
function failureClassOf(report: Finish): FailureClass | null {
  if (report.status === 'succeeded') return null;
  return report.failure_class ?? (report.status === 'failed' ? 'exit' : report.status);
}

const finishData = (x: LockedExecution, report: Finish, failureClass: FailureClass | null, outcome: TaskOutcome) => ({
  task_id: x.task_id, status: report.status, exit_code: report.exit_code, peak_memory_bytes: report.peak_memory_bytes,
  cpu_seconds: report.cpu_seconds ?? null, error: report.error, failure_class: failureClass, ...outcome,
});

/** One execution's reports; from an exchange, with the worker that sent them (only its own executions may be reported on) and its request's meta. */
export type ReportBatch = ExecutionReports & { worker_id?: number; meta?: EventMeta };

export interface ReportsScope {
  /** The reported executions, already locked by the caller (lockExecutions); else they are locked here. */
  locked?: Map<number, LockedExecution>;
}

/** Records the reports, after any lock the caller took on the worker. */
export async function recordReports(
  tx: Db, batches: ReportBatch[], settings: QueueSettings, meta: EventMeta, { locked: held }: ReportsScope = {},
): Promise<RecordedReports> {
  const locked = held ?? (await lockExecutions(tx, batches.map((b) => b.execution_id)));
  const receipts: ReportsReceipt[] = [];
  const live = new Map<number, LiveStatus>();
  const missing: number[] = [];
  // Each execution's events in order; across executions, the n-th events of all of them go
  // together, so the projections apply them in a few set-based runs rather than one by one.
  const waves: NewEvent[][] = [];
  const chunks = new Map<number, Chunk[]>();
  const finished: number[] = [];
  const endedTasks: number[] = [];
  for (const batch of batches) {
    const x = locked.get(batch.execution_id);
    if (!x) {
      missing.push(batch.execution_id);
      receipts.push({ execution_id: batch.execution_id, recorded: false, detail: `execution ${batch.execution_id} does not exist` });
      continue;
    }
    if (batch.worker_id !== undefined && x.worker_id !== batch.worker_id) {
      receipts.push(gone(x.id, `belongs to worker ${x.worker_id}`));
      continue;
    }
    const applied = await walk(tx, x, batch.reports, settings, batch.meta);
    if ('recorded' in applied) {
      receipts.push(applied);
      continue;
    }
    receipts.push({ execution_id: x.id, recorded: true, detail: null });
    applied.events.forEach((event, i) => (waves[i] ??= []).push(event));
    if (applied.chunks.length) chunks.set(x.id, applied.chunks);
    if (applied.ended === null) {
      if (isLive(applied.status)) live.set(x.id, applied.status);
    } else {
      finished.push(x.id);
      if (isFinalTask(applied.ended)) endedTasks.push(x.task_id);
    }
  }
  await storeOutput(tx, chunks, settings.outputCapBytes);
  await recordEvents(tx, waves.flatMap((wave) => wave.sort((a, b) => a.type.localeCompare(b.type))), meta);
  if (finished.length) {
    await tx.query(sql.unsafe`DELETE FROM execution_leases WHERE execution_id = ANY(${sql.array(finished.sort((a, b) => a - b), 'int8')})`);
  }
  return { receipts, live, missing, ended: endedTasks, finished };
}
