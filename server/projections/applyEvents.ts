// Applies stored events to every projection. Events are cut into runs of one type in
// which no stream repeats, so each run can be applied by one set-based statement per
// projection while the order of events on any one stream is kept.
import type { Db } from '../db/pool.js';
import type { StoredEvent } from '../events/types.js';
import { executionsProjection } from './executions.js';
import { pausesProjection } from './pauses.js';
import { policiesProjection } from './policies.js';
import { schedulesProjection } from './schedules.js';
import type { Projection } from './projection.js';
import { tasksProjection } from './tasks.js';
import { workersProjection } from './workers.js';
import { workflowsProjection } from './workflows.js';

export const PROJECTIONS: Projection[] = [workflowsProjection, pausesProjection, tasksProjection, executionsProjection, workersProjection, policiesProjection, schedulesProjection];

function* runs(events: StoredEvent[]): Generator<StoredEvent[]> {
  let run: StoredEvent[] = [];
  let streams = new Set<string>();
  for (const event of events) {
    const keys = [`${event.stream_type}:${event.stream_id}`];
    if (typeof event.data.task_id === 'number') keys.push(`task:${event.data.task_id}`);
    const clash = run.length > 0 && (run[0]!.type !== event.type || keys.some((k) => streams.has(k)));
    if (clash) {
      yield run;
      run = [];
      streams = new Set();
    }
    run.push(event);
    for (const k of keys) streams.add(k);
  }
  if (run.length > 0) yield run;
}

export async function applyEvents(db: Db, events: StoredEvent[]): Promise<void> {
  for (const run of runs(events)) {
    for (const projection of PROJECTIONS) await projection.apply(db, run[0]!.type, run);
  }
}
