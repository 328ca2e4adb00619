// Command: submit one or many tasks (up to 10,000) in one transaction. Reads every
// referenced step, workflow, dependency, secret and idempotency key with one query each,
// checks container options against the Docker policy, then
// appends all task.submitted events with one INSERT. A key already used in the same
// workflow returns the existing task instead of a duplicate; two requests racing on one
// key meet on the tasks_workflow_key unique index and the loser re-runs, finding the
// winner's task. submitSweep (submitSweep.ts) runs the same steps on one slice of a
// sweep after another, inside its own transaction.
import { sql } from 'slonik';
import { UniqueIntegrityConstraintViolationError } from 'slonik';
import type { EventMeta, TaskSubmittedData } from '../../shared/events.js';
import type { SubmitTasksResponse, TaskDefinition, TaskStatus } from '../../shared/schemas/task.js';
import type { Pool, Db } from '../db/pool.js';
import { invalid, type FieldError } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';
import { containerPolicyErrors, imagelessOptionErrors } from '../queries/policies.js';
import { missingDependencies } from '../queries/references.js';
import { unknownSecrets } from '../queries/secrets.js';
import { dependencyStatus } from './dependencyStatus.js';
import { WITH_PAUSES_LOCK } from './lockScope.js';
import { jsonb } from '../db/jsonb.js';

type Submitted = SubmitTasksResponse['tasks'][number];
/** A task to create; a sweep's tasks also carry their parameters. */
export type NewTask = TaskDefinition & { parameters?: Record<string, string> };

const scopeKey = (workflowId: number | null, key: string) => `${workflowId ?? 0}\u0000${key}`;

async function resolveWorkflows(tx: Db, defs: TaskDefinition[], field: (i: number) => string, errors: FieldError[]) {
  const stepIds = [...new Set(defs.flatMap((d) => (d.step_id ? [d.step_id] : [])))];
  const workflowIds = [...new Set(defs.flatMap((d) => (d.workflow_id ? [d.workflow_id] : [])))];
  // Nothing to look up costs no round trip: most submits name no step or workflow.
  const steps = new Map<number, number>();
  if (stepIds.length) {
    for (const row of await tx.any(sql.unsafe`SELECT id, workflow_id FROM steps WHERE id = ANY(${sql.array(stepIds, 'int8')})`)) {
      steps.set(row.id, row.workflow_id);
    }
  }
  const workflows = new Set<number>(workflowIds.length
    ? await tx.anyFirst(sql.unsafe`SELECT id FROM workflows WHERE id = ANY(${sql.array(workflowIds, 'int8')})`) as number[]
    : []);
  return defs.map((d, i) => {
    if (d.step_id && !steps.has(d.step_id)) {
      errors.push({ field: field(i) + 'step_id', message: `step ${d.step_id} does not exist` });
      return null;
    }
    if (d.workflow_id && !workflows.has(d.workflow_id)) {
      errors.push({ field: field(i) + 'workflow_id', message: `workflow ${d.workflow_id} does not exist` });
      return null;
    }
    const fromStep = d.step_id ? steps.get(d.step_id)! : null;
    if (fromStep !== null && d.workflow_id && d.workflow_id !== fromStep) {
      errors.push({ field: field(i) + 'workflow_id', message: `step ${d.step_id} belongs to workflow ${fromStep}, not ${d.workflow_id}` });
      return null;
    }
    return fromStep ?? d.workflow_id ?? null;
  });
}

/** The most dependencies a task may have once its steps' tasks have joined them. */
const MAX_DEPENDENCIES = 10_000;

/**
 * A dependency on a step is one on every task the step holds now: they join depends_on, so
 * the rest of labq (release, block, relaunch, why) treats them as any dependency.
 */
async function withStepDependencies<T extends TaskDefinition>(tx: Db, defs: T[], field: (i: number) => string, errors: FieldError[]): Promise<T[]> {
  const stepIds = [...new Set(defs.flatMap((d) => d.depends_on_steps))];
  if (stepIds.length === 0) return defs;
  const rows = await tx.any(sql.unsafe`
    SELECT s.id, coalesce(array_agg(t.id ORDER BY t.id) FILTER (WHERE t.id IS NOT NULL), '{}') AS tasks
    FROM steps s LEFT JOIN tasks t ON t.step_id = s.id WHERE s.id = ANY(${sql.array(stepIds, 'int8')}) GROUP BY s.id`);
  const tasksOf = new Map(rows.map((r) => [Number(r.id), (r.tasks as number[]).map(Number)]));
  errors.push(...missingDependencies(defs, 'depends_on_steps', tasksOf, field));
  return defs.map((d, i) => {
    if (d.depends_on_steps.length === 0) return d;
    const dependsOn = [...new Set([...d.depends_on, ...d.depends_on_steps.flatMap((id) => tasksOf.get(id) ?? [])])];
    if (dependsOn.length > MAX_DEPENDENCIES) {
      errors.push({ field: `${field(i)}depends_on_steps`, message: `these steps hold ${dependsOn.length} tasks: a task depends on at most ${MAX_DEPENDENCIES}` });
    }
    return { ...d, depends_on: dependsOn };
  });
}

async function dependencyStatuses(tx: Db, defs: TaskDefinition[], field: (i: number) => string, errors: FieldError[]) {
  const ids = [...new Set(defs.flatMap((d) => d.depends_on))];
  const statuses = new Map<number, TaskStatus>();
  // FOR SHARE: a dependency ending meanwhile either waits for this submit (and then sees the
  // new task among its dependents) or has ended before these statuses are read. The pauses
  // lock comes first, in the same statement (submitInTransaction).
  if (ids.length) {
    for (const row of await tx.any(sql.unsafe`
      ${WITH_PAUSES_LOCK}
      SELECT id, status FROM locked, tasks WHERE id = ANY(${sql.array(ids, 'int8')}) ORDER BY id FOR SHARE OF tasks`)) {
      statuses.set(row.id, row.status);
    }
  }
  errors.push(...missingDependencies(defs, 'depends_on', statuses, field));
  return statuses;
}

function initialStatus(def: TaskDefinition, deps: Map<number, TaskStatus>): TaskStatus {
  if (def.held) return 'held';
  return dependencyStatus(def.depends_on.map((id) => deps.get(id)!), def.accept_failure);
}

/** A memory curve is kept apart; the requirement is the first attempt's, what the claim matches workers against. */
function requirementsOf(def: TaskDefinition): Pick<TaskSubmittedData, 'requirements' | 'memory_curve'> {
  const { memory_mb: memory, ...rest } = def.requirements;
  if (!Array.isArray(memory)) return { requirements: def.requirements as TaskSubmittedData['requirements'], memory_curve: null };
  return { requirements: { ...rest, memory_mb: memory[0] }, memory_curve: memory.length > 1 ? memory : null };
}

/** Identical errors once: the tasks of a sweep share one template, and so its mistakes. */
const distinct = (errors: FieldError[]) => [...new Map(errors.map((e) => [`${e.field}\u0000${e.message}`, e])).values()];

/** Creates the tasks (or finds them by key) in the caller's transaction. */
export async function submitInTransaction(tx: Db, submitted: NewTask[], field: (i: number) => string, meta: EventMeta): Promise<Submitted[]> {
  const errors: FieldError[] = [];
  const defs = await withStepDependencies(tx, submitted, field, errors);
  const workflowOf = await resolveWorkflows(tx, defs, field, errors);
  // The pauses lock comes before the first task lock. No statement of its own: the one that
  // locks the dependencies takes it first, and the one that draws the new tasks' ids (a
  // shared lock taken twice is simply held), so a submit without dependencies has it too.
  const deps = await dependencyStatuses(tx, defs, field, errors);
  errors.push(...(await unknownSecrets(tx, defs.map((d) => d.env), field)));
  errors.push(...imagelessOptionErrors(defs, field), ...(await containerPolicyErrors(tx, defs.map((d) => d.container_options), field)));
  if (errors.length) throw invalid(distinct(errors));

  const keyed = defs.flatMap((d, i) => (d.key ? [{ w: workflowOf[i] ?? 0, k: d.key }] : []));
  const existing = new Map<string, { id: number; status: TaskStatus }>();
  if (keyed.length) {
    const rows = await tx.any(sql.unsafe`
      SELECT t.id, t.status, t.workflow_id, t.key FROM tasks t
      JOIN jsonb_to_recordset(${jsonb(keyed)}) AS q(w bigint, k text)
        ON coalesce(t.workflow_id, 0) = q.w AND t.key = q.k`);
    for (const row of rows) existing.set(scopeKey(row.workflow_id, row.key), { id: row.id, status: row.status });
  }

  const fresh = defs.filter((d, i) => !(d.key && existing.has(scopeKey(workflowOf[i]!, d.key))));
  const ids = fresh.length
    ? ((await tx.anyFirst(sql.unsafe`
      ${WITH_PAUSES_LOCK}
      SELECT nextval('task_ids') FROM locked, generate_series(1, ${fresh.length})`)) as number[]).map(Number)
    : [];
  let next = 0;
  const events = [];
  const result: Submitted[] = [];
  for (const [i, def] of defs.entries()) {
    const workflowId = workflowOf[i] ?? null;
    const known = def.key ? existing.get(scopeKey(workflowId, def.key)) : undefined;
    if (known) {
      result.push({ id: known.id, key: def.key ?? null, status: known.status, created: false });
      continue;
    }
    const id = ids[next++]!;
    const status = initialStatus(def, deps);
    const data: TaskSubmittedData = {
      name: def.name ?? null,
      command: def.command,
      shell: def.shell,
      container: def.container ?? null,
      container_options: def.container_options,
      inputs: def.inputs,
      resources: def.resources,
      output: def.output ?? null,
      workflow_id: workflowId,
      step_id: def.step_id ?? null,
      tag: def.tag,
      priority: def.priority,
      depends_on: def.depends_on,
      max_retries: def.max_retries,
      retry_on: def.retry_on,
      backoff: def.backoff,
      timeouts: def.timeouts,
      env: def.env,
      ...requirementsOf(def),
      key: def.key ?? null,
      status,
      ...(def.accept_failure ? { accept_failure: true } : {}),
      ...(def.depends_on_steps.length ? { depends_on_steps: def.depends_on_steps } : {}),
      ...(def.parameters && { parameters: def.parameters }),
    };
    events.push({ type: 'task.submitted' as const, streamId: id, version: 1, data });
    result.push({ id, key: def.key ?? null, status, created: true });
    // A key repeated inside one request names the task created for its first use.
    if (def.key) existing.set(scopeKey(workflowId, def.key), { id, status });
  }
  await recordEvents(tx, events, meta);
  return result;
}

/** Runs a submit again, once, when a concurrent one took one of its keys first: the second run finds that task. */
export async function retryOnKeyRace<T>(submit: () => Promise<T>): Promise<T> {
  try {
    return await submit();
  } catch (error) {
    if (error instanceof UniqueIntegrityConstraintViolationError && error.constraint === 'tasks_workflow_key') return submit();
    throw error;
  }
}

export async function submitTasks(pool: Pool, defs: TaskDefinition[], field: (i: number) => string, meta: EventMeta): Promise<Submitted[]> {
  return retryOnKeyRace(() => pool.transaction((tx) => submitInTransaction(tx, defs, field, meta)));
}
