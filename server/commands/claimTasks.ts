// Claims up to `count` pending tasks for a worker in one transaction. Tasks are taken tag
// by tag in the worker's order (`*` last: any tag, and the only way to take a task tagged
// `*`), each tag by priority then age, through the partial indexes over pending tasks, so
// the cost does not grow with the number of finished tasks. FOR UPDATE SKIP LOCKED lets
// concurrent claims pass each other instead of queueing; the partial unique index
// executions_one_live is the database's own guarantee against two live executions. A task
// backing off after a failure (retry_at still ahead) waits: the reaper wakes the polls of
// its tag when the wait ends (commands/wakeRetries.ts).
import { sql, type FragmentSqlToken } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Task } from '../../shared/schemas/task.js';
import type { Db } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { TASK_COLUMNS } from '../queries/tasks.js';

export interface ClaimingWorker {
  id: number;
  name: string;
  tags: string[];
  cpus: number;
  memory_mb: number;
  gpus: number;
  docker: boolean;
  capabilities: string[];
}

export interface Claimed {
  execution_id: number;
  attempt: number;
  task: Task;
}

function fits(worker: ClaimingWorker): FragmentSqlToken {
  return sql.fragment`
    coalesce((requirements->>'cpus')::numeric, 0) <= ${worker.cpus}
    AND coalesce((requirements->>'memory_mb')::bigint, 0) <= ${worker.memory_mb}
    AND coalesce((requirements->>'gpus')::int, 0) <= ${worker.gpus}
    AND (container IS NULL OR ${worker.docker})
    AND coalesce(requirements->'capabilities', '[]'::jsonb) <@ ${sql.jsonb(worker.capabilities)}`;
}

export async function claimTasks(tx: Db, worker: ClaimingWorker, count: number, leaseSeconds: number, meta: EventMeta): Promise<Claimed[]> {
  if (count <= 0) return [];
  const picked: Array<Task & { next_execution_id: number }> = [];
  const explicit = worker.tags.filter((t) => t !== '*');
  const lanes: FragmentSqlToken[] = explicit.map((tag) => sql.fragment`tag = ${tag}`);
  if (worker.tags.includes('*')) lanes.push(sql.fragment`tag <> ALL(${sql.array(explicit, 'text')})`);
  for (const lane of lanes) {
    if (picked.length >= count) break;
    // The execution ids are drawn with the rows: one round trip less on the dispatch path.
    const rows = await tx.any(sql.unsafe`
      SELECT t.*, nextval('execution_ids') AS next_execution_id FROM (
        SELECT ${TASK_COLUMNS} FROM tasks
        WHERE status = 'pending' AND NOT paused AND ${lane} AND ${fits(worker)} AND (retry_at IS NULL OR retry_at <= now())
        ORDER BY priority DESC, id
        LIMIT ${count - picked.length}
        FOR UPDATE SKIP LOCKED) t
      ORDER BY t.priority DESC, t.id`);
    picked.push(...(rows as unknown as typeof picked));
  }
  if (picked.length === 0) return [];
  const ids = picked.map((row) => Number(row.next_execution_id));
  const claimed = picked.map(({ next_execution_id: _, ...task }, i) => ({ execution_id: ids[i]!, attempt: task.attempts + 1, task }));
  await recordEvents(tx, claimed.map((c) => ({
    type: 'execution.assigned' as const,
    streamId: c.execution_id,
    version: 1,
    data: {
      task_id: c.task.id, worker_id: worker.id, worker_name: worker.name, attempt: c.attempt, command: c.task.command,
      shell: c.task.shell, container: c.task.container, launched_by: c.task.submitted_by,
    },
  })), meta);
  await tx.query(sql.unsafe`
    INSERT INTO execution_leases (execution_id, worker_id, expires_at)
    SELECT x, ${worker.id}, clock_timestamp() + make_interval(secs => ${leaseSeconds})
    FROM unnest(${sql.array(ids, 'int8')}) AS x`);
  return claimed.map((c) => ({ ...c, task: { ...c.task, status: 'assigned', attempts: c.attempt, execution_id: c.execution_id } }));
}
