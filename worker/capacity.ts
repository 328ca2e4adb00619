// What a worker says in each exchange about the executions it has: how many more tasks it
// takes, how many it works on, and which it holds. The server claims by the first and keeps
// live by the last, so both are counted here, in one place, from the daemon's executions and
// its spool.
import type { WorkerSettings } from '../shared/schemas/worker.js';
import type { Execution } from './execution.js';

type Executions = ReadonlyMap<number, Execution>;

/** Executions whose result is not in the spool yet: each takes a place in the worker's capacity. */
export function unfinished(executions: Executions): number {
  let count = 0;
  for (const execution of executions.values()) if (!execution.ended) count++;
  return count;
}

/** How many more tasks it takes: its capacity (concurrency and prefetch) less its unfinished executions; none paused or draining. */
export function wanted(settings: WorkerSettings, executions: Executions): number {
  if (settings.paused || settings.draining) return 0;
  return Math.max(0, settings.concurrency + settings.prefetch - unfinished(executions));
}

/**
 * What this worker holds: what it runs, and what it still has reports to deliver about
 * (`undelivered`, the spool's); not an execution whose result the server has recorded,
 * which is still here for a moment (its folders go back) and would only make the server
 * look up why it is held.
 */
export function holding(executions: Executions, undelivered: number[]): number[] {
  return [...new Set([...executions.keys(), ...undelivered])].filter((id) => !executions.get(id)?.resultRecorded);
}
