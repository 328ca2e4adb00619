// Applies events to every projection. Events are cut into runs of one type in which no
// stream repeats, so each run can be applied by set-based statements (each projection's)
// while the order of events on any one stream is kept. The statements of a run that do not
// depend on each other go as one (ONE_STATEMENT); recordEvents sends the first run's with
// the events' insert (`joinable`).
import { sql, type FragmentSqlToken } from 'slonik';
import { ctes } from '../db/ctes.js';
import type { Db } from '../db/pool.js';
import type { ProjectedEvent } from '../events/types.js';
import { executionsProjection } from './executions.js';
import { pausesProjection } from './pauses.js';
import { policiesProjection } from './policies.js';
import { schedulesProjection } from './schedules.js';
import type { Projection } from './projection.js';
import { tasksProjection } from './tasks.js';
import { workersProjection } from './workers.js';
import { workflowsProjection } from './workflows.js';

export const PROJECTIONS: Projection[] = [workflowsProjection, pausesProjection, tasksProjection, executionsProjection, workersProjection, policiesProjection, schedulesProjection];

function* runs(events: ProjectedEvent[]): Generator<ProjectedEvent[]> {
  let run: ProjectedEvent[] = [];
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

const EXECUTION_ENDS = new Set(['execution.finished', 'execution.lost', 'execution.cancelled']);

/**
 * The phases whose execution ends later in the same batch (a short task's `running` and its
 * result in one exchange). The end sets the task's status and time over what the phase set,
 * so the task row, its counts and its notifications come out the same without the phase:
 * the tasks projection skips them, one UPDATE of the hot rows less. The executions
 * projection still applies them (the phase's time stays on the execution).
 */
function phasesOverwritten(events: ProjectedEvent[]): Set<ProjectedEvent> {
  const overwritten = new Set<ProjectedEvent>();
  const ending = new Set<unknown>();
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i]!;
    if (EXECUTION_ENDS.has(event.type)) ending.add(event.stream_id);
    else if (event.type === 'execution.phase' && ending.has(event.stream_id)) overwritten.add(event);
  }
  return overwritten;
}

/**
 * The event types whose projections write one statement each, to tables of their own, none
 * reading what another writes: an execution's row and its task's row (the triggers on
 * tasks and executions read only their own transition tables). Their statements go to
 * PostgreSQL as one, each a data-modifying CTE of a single statement: one round trip for
 * both rows, where every exchange paid two per run (its results, its claims). Other runs
 * send their statements one by one: a pause's second statement reads what its first wrote.
 * PostgreSQL runs such CTEs last to first (executions, then tasks), against the lock
 * order: every command that writes execution events has locked both rows before (its
 * tasks, then its executions: lockExecutions, the claim's FOR UPDATE), so the statement
 * takes no lock of its own on them.
 */
const ONE_STATEMENT = new Set(['execution.assigned', 'execution.phase', ...EXECUTION_ENDS]);

/** A run of events, and the statements that apply it, in order. */
interface RunPlan {
  type: string;
  statements: FragmentSqlToken[];
}

/** What applying `events` takes, run by run. */
export function plansOf(events: ProjectedEvent[]): RunPlan[] {
  const overwritten = phasesOverwritten(events);
  return [...runs(events)].map((run) => {
    const type = run[0]!.type;
    return {
      type,
      statements: PROJECTIONS.flatMap((projection) => {
        const applied = projection === tasksProjection && run.some((e) => overwritten.has(e)) ? run.filter((e) => !overwritten.has(e)) : run;
        return applied.length > 0 ? projection.statements(type, applied) : [];
      }),
    };
  });
}

/**
 * Whether a plan's statements may go as data-modifying CTEs of one statement, with each
 * other and with the insert of their events (no projection reads the log).
 */
export const joinable = (plan: RunPlan): boolean => plan.statements.length <= 1 || ONE_STATEMENT.has(plan.type);

export async function applyPlans(db: Db, plans: RunPlan[]): Promise<void> {
  for (const plan of plans) {
    if (plan.statements.length > 1 && joinable(plan)) {
      await db.query(sql.unsafe`WITH ${ctes(plan.statements)} SELECT 1`);
    } else {
      for (const statement of plan.statements) await db.query(sql.unsafe`${statement}`);
    }
  }
}

export async function applyEvents(db: Db, events: ProjectedEvent[]): Promise<void> {
  await applyPlans(db, plansOf(events));
}
