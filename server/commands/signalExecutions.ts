// Commands: suspend and continue the live executions of a set of tasks. They record what
// the user wants (execution.suspend_requested / execution.continue_requested), which the
// executions projection keeps as `suspended`; the worker of each execution learns it from
// its next poll answer (a trigger wakes a parked poll) and converges to it. Set-based and
// idempotent, so the single-task routes and the bulk operations share them: each says
// which tasks it changed and why it left the others alone.
import { sql } from 'slonik';
import { z } from 'zod';
import type { EventMeta } from '../../shared/events.js';
import { isLive } from '../../shared/schemas/execution.js';
import type { Db } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';

/** Why a task was left alone. */
export type SignalSkipReason =
  /** No such task. */
  | 'not_found'
  /** The task has no live execution (not started, or ended). */
  | 'not_live'
  /** Its execution is uploading: its run has ended, there is nothing left to suspend. */
  | 'run_ended'
  /** A kill was asked for: it ends anyway, and a suspension would only delay it. */
  | 'killing'
  /** Idempotence: it already is in the state asked for. */
  | 'already_suspended'
  | 'not_suspended';

export interface SignalResult {
  affected: { task_id: number; execution_id: number }[];
  /** `execution_id`: the task's live execution, null when it has none. */
  skipped: { task_id: number; execution_id: number | null; reason: SignalSkipReason; detail: string }[];
}

const LockedTask = z.object({ id: z.number(), status: z.string(), execution_id: z.number().nullable() });
const LockedExecution = z.object({ id: z.number(), version: z.number(), suspended: z.boolean(), kill_requested_at: z.string().nullable() });

/** A task with a live execution, as a command checks it. */
interface Target {
  task_id: number;
  task_status: string;
  suspended: boolean;
  kill_requested_at: string | null;
}

/** Suspends the live executions of these tasks (one that has not started yet is suspended as soon as it starts). */
export function suspendTasks(tx: Db, taskIds: number[], meta: EventMeta): Promise<SignalResult> {
  return signal(tx, taskIds, meta, 'execution.suspend_requested', (t) => {
    if (t.task_status === 'uploading') return ['run_ended', `task ${t.task_id} is uploading: its run has ended, there is nothing to suspend`];
    if (t.kill_requested_at !== null) return ['killing', `task ${t.task_id} is being killed`];
    if (t.suspended) return ['already_suspended', `task ${t.task_id} is already suspended`];
    return null;
  });
}

/** Lets the suspended live executions of these tasks go on. */
export function continueTasks(tx: Db, taskIds: number[], meta: EventMeta): Promise<SignalResult> {
  return signal(tx, taskIds, meta, 'execution.continue_requested', (t) =>
    t.suspended ? null : ['not_suspended', `task ${t.task_id} is not suspended`]);
}

async function signal(
  tx: Db, taskIds: number[], meta: EventMeta, type: 'execution.suspend_requested' | 'execution.continue_requested',
  refuse: (target: Target) => [SignalSkipReason, string] | null,
): Promise<SignalResult> {
  const ids = [...new Set(taskIds)].sort((a, b) => a - b);
  const result: SignalResult = { affected: [], skipped: [] };
  if (ids.length === 0) return result;
  // The lock order of every command: tasks by id, then their executions by id. A task's
  // live execution cannot change while the task is locked (claims and ends lock it first).
  const tasks = await tx.any(sql.type(LockedTask)`
    SELECT id, status, execution_id FROM tasks WHERE id = ANY(${sql.array(ids, 'int8')}) ORDER BY id FOR UPDATE`);
  const live = tasks.flatMap((t) => (isLive(t.status) && t.execution_id !== null ? [t.execution_id] : []));
  const executions = new Map((await tx.any(sql.type(LockedExecution)`
    SELECT id, version, suspended, kill_requested_at FROM executions
    WHERE id = ANY(${sql.array(live, 'int8')}) ORDER BY id FOR UPDATE`)).map((x) => [x.id, x]));
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const events = [];
  for (const id of ids) {
    const task = byId.get(id);
    const x = task?.execution_id != null && isLive(task.status) ? executions.get(task.execution_id) : undefined;
    const refused: [SignalSkipReason, string] | null = !task
      ? ['not_found', `task ${id} does not exist`]
      : !x
        ? ['not_live', `task ${id} is ${task.status}: it has no live execution`]
        : refuse({ task_id: id, task_status: task.status, suspended: x.suspended, kill_requested_at: x.kill_requested_at });
    if (refused) {
      result.skipped.push({ task_id: id, execution_id: x?.id ?? null, reason: refused[0], detail: refused[1] });
      continue;
    }
    events.push({ type, streamId: x!.id, version: x!.version + 1, data: { task_id: id } });
    result.affected.push({ task_id: id, execution_id: x!.id });
  }
  if (events.length > 0) await recordEvents(tx, events, meta);
  return result;
}
