// Whether a worker can run a task: its tags and its resources against the task's tag,
// requirements and container. The claim asks it in SQL over many tasks at once (fitsSql);
// "why is it waiting" asks it in code to say which requirement a worker misses (unmet).
// Both are written here, side by side, so that they cannot drift apart.
import { sql, type FragmentSqlToken } from 'slonik';
import type { Requirements } from '../shared/schemas/task.js';

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

/** The condition on tasks (their `requirements` and `container` columns) that this worker satisfies. */
export function fitsSql(worker: WorkerResources): FragmentSqlToken {
  return sql.fragment`
    coalesce((requirements->>'cpus')::numeric, 0) <= ${worker.cpus}
    AND coalesce((requirements->>'memory_mb')::bigint, 0) <= ${worker.memory_mb}
    AND coalesce((requirements->>'gpus')::int, 0) <= ${worker.gpus}
    AND (container IS NULL OR ${worker.docker})
    AND coalesce(requirements->'capabilities', '[]'::jsonb) <@ ${sql.jsonb(worker.capabilities)}`;
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
