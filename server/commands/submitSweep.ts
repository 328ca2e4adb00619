// Command: submit a parameter sweep (up to 100,000 tasks) in one transaction. The grid is
// expanded a slice at a time (shared/sweep.ts) and each slice goes through the same steps
// as a bulk submit (submitInTransaction: set-based look-up of existing keys, one INSERT of
// events per 1,000), so the server holds one slice's tasks, never the whole sweep's. Each
// task's key is a hash of its parameters: a sweep submitted again finds its tasks and
// creates only those it lacks.
import type { EventMeta } from '../../shared/events.js';
import type { SweepResponse } from '../../shared/schemas/sweep.js';
import { MAX_PROBLEMS, type CompiledSweep, type SweepTask } from '../../shared/sweep.js';
import type { Db, Pool } from '../db/pool.js';
import { invalid, type FieldError } from '../errors.js';
import { retryOnKeyRace, submitInTransaction, type NewTask } from './submitTasks.js';

/**
 * Tasks per slice. On a 100,000-task sweep (docs/performance.md) the server's resident
 * memory peaked near 185 MiB with slices of 500 or 1,000 and near 220 MiB with 5,000, in
 * about the same time.
 */
export const SWEEP_SLICE = 1000;

/** Expands tasks [from, to); throws a 400 naming the fields when a replaced value is invalid. */
function expand(sweep: CompiledSweep, from: number, to: number): NewTask[] {
  const tasks: NewTask[] = [];
  const errors: FieldError[] = [];
  for (let i = from; i < to && errors.length < MAX_PROBLEMS; i++) {
    const task: SweepTask | FieldError[] = sweep.task(i);
    if (Array.isArray(task)) errors.push(...task);
    else tasks.push({ ...task.definition, parameters: task.parameters });
  }
  if (errors.length) throw invalid(errors.slice(0, MAX_PROBLEMS));
  return tasks;
}

/**
 * Submits the sweep in the caller's transaction (a schedule submits it along with its own
 * events); what its tasks are refused for (a secret that does not exist) is named under
 * `field`, where the template sits in the request.
 */
export async function submitSweepInTransaction(tx: Db, sweep: CompiledSweep, meta: EventMeta, field = 'template.'): Promise<SweepResponse> {
  const ids: number[] = [];
  let created = 0;
  for (let from = 0; from < sweep.size; from += SWEEP_SLICE) {
    const slice = expand(sweep, from, Math.min(sweep.size, from + SWEEP_SLICE));
    for (const task of await submitInTransaction(tx, slice, () => field, meta)) {
      ids.push(task.id);
      if (task.created) created++;
    }
  }
  return { total: sweep.size, created, existing: sweep.size - created, ids };
}

export async function submitSweep(pool: Pool, sweep: CompiledSweep, meta: EventMeta): Promise<SweepResponse> {
  return retryOnKeyRace(() => pool.transaction((tx) => submitSweepInTransaction(tx, sweep, meta)));
}
