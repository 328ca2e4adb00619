// Whether a worker can run a task: its tags and its resources against the task's tag,
// requirements and container. The claim asks it in SQL over many tasks at once (fitsSql);
// "why is it waiting" asks it in code to say which requirement a worker misses (unmet);
// a step or workflow is stuck when none of its pending tasks passes it with any worker
// (takesSql, many tasks against many workers in one statement).
// All are written here, side by side, so that they cannot drift apart.
import { sql, type FragmentSqlToken } from 'slonik';
import type { Requirements } from '../shared/schemas/task.js';

/**
 * A task a claim may take now, whatever its tag and shape: pending, not paused, not backing
 * off. The claim, the look of a short wake-up round and "why" read the same rule. No
 * parameter, so the claim's prepared text is the same at every call.
 */
export const CLAIMABLE = sql.fragment`status = 'pending' AND NOT paused AND (retry_at IS NULL OR retry_at <= now())`;

export interface WorkerResources {
  tags: string[];
  cpus: number;
  memory_mb: number;
  gpus: number;
  docker: boolean;
  capabilities: string[];
}

/**
 * Whether a worker is given new tasks at all: not while paused, nor while draining (its
 * daemon leaves once what it runs has ended). The claim's capacity and the "why" of tasks
 * and workers all ask this.
 */
export const acceptsWork = (worker: { paused: boolean; draining: boolean }) => !worker.paused && !worker.draining;

/** A worker takes the tags it lists; `*` takes every tag, and is the only way to take a task tagged `*`. */
export const takesTag = (worker: Pick<WorkerResources, 'tags'>, tag: string) => worker.tags.includes(tag) || worker.tags.includes('*');

/** A worker's resources as SQL: its values (one worker, the claim) or a row's columns (many workers at once). */
interface WorkerSql {
  cpus: FragmentSqlToken;
  memory_mb: FragmentSqlToken;
  gpus: FragmentSqlToken;
  docker: FragmentSqlToken;
  capabilities: FragmentSqlToken;
}

/** The condition on a task's `requirements` and `container` (of the row `task`, or unqualified) that the worker satisfies. */
function fits(worker: WorkerSql, task?: string): FragmentSqlToken {
  const column = (name: string) => sql.identifier(task ? [task, name] : [name]);
  const requirements = column('requirements');
  return sql.fragment`
    coalesce((${requirements}->>'cpus')::numeric, 0) <= ${worker.cpus}
    AND coalesce((${requirements}->>'memory_mb')::bigint, 0) <= ${worker.memory_mb}
    AND coalesce((${requirements}->>'gpus')::int, 0) <= ${worker.gpus}
    AND (${column('container')} IS NULL OR ${worker.docker})
    AND coalesce(${requirements}->'capabilities', '[]'::jsonb) <@ ${worker.capabilities}`;
}

/** The condition on tasks (their `requirements` and `container` columns) that this worker satisfies. */
export function fitsSql(worker: WorkerResources): FragmentSqlToken {
  // Literals, not parameters: the planner estimates each condition from the statistics of
  // its expression (sql/0027_claim_any_order.sql), which a parameter of a generic plan would
  // not let it do, and the claim's plan hangs on how many tasks it expects to pass.
  const number = (n: number) => sql.literalValue(String(n));
  return fits({
    cpus: number(worker.cpus), memory_mb: number(worker.memory_mb), gpus: number(worker.gpus),
    docker: worker.docker ? sql.fragment`TRUE` : sql.fragment`FALSE`,
    capabilities: sql.fragment`${sql.literalValue(JSON.stringify(worker.capabilities))}::jsonb`,
  });
}

/**
 * That the worker of the row `worker` (a row of `workers`) takes the task of the row `task`
 * (its `tag`, `requirements` and `container`): takesTag and fitsSql together, for checks
 * of many tasks against many workers in one statement.
 */
export function takesSql(worker: string, task: string): FragmentSqlToken {
  const w = (name: string) => sql.fragment`${sql.identifier([worker, name])}`;
  return sql.fragment`(${sql.identifier([task, 'tag'])} = ANY(${w('tags')}) OR '*' = ANY(${w('tags')}))
    AND ${fits({ cpus: w('cpus'), memory_mb: w('memory_mb'), gpus: w('gpus'), docker: w('docker'), capabilities: w('capabilities') }, task)}`;
}

/** What the worker lacks to run the task, in words; empty when it can. */
export function unmet(worker: WorkerResources, task: { requirements: Requirements; container: string | null }): string[] {
  const r = task.requirements;
  const missing: string[] = [];
  if ((r.cpus ?? 0) > worker.cpus) missing.push(`cpus ${r.cpus} > ${worker.cpus}`);
  if ((r.memory_mb ?? 0) > worker.memory_mb) missing.push(`memory_mb ${r.memory_mb} > ${worker.memory_mb}`);
  if ((r.gpus ?? 0) > worker.gpus) missing.push(`gpus ${r.gpus} > ${worker.gpus}`);
  if (task.container !== null && !worker.docker) missing.push('docker (the task runs in a container; the worker runs bare tasks only)');
  const lacking = (r.capabilities ?? []).filter((c) => !worker.capabilities.includes(c));
  if (lacking.length) missing.push(`capabilities ${lacking.join(', ')}`);
  return missing;
}
