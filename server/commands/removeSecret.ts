// Command: remove a secret. Allowed while unfinished tasks or schedules refer to it (an admin
// removing a leaked key must not have to find them first): the tasks' next assignment lacks
// the value and the worker refuses the execution, naming the secret; the schedules' runs are
// recorded as failed. The answer counts the tasks and names the schedules, so the admin
// knows. The log records secret.removed with the name only.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import { UNFINISHED_TASK_STATUSES } from '../../shared/schemas/task.js';
import type { Pool } from '../db/pool.js';
import { notFound } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';
import { jsonb } from '../db/jsonb.js';

export async function removeSecret(pool: Pool, name: string, meta: EventMeta): Promise<{ unfinished_tasks: number; schedules: string[] }> {
  return pool.transaction(async (tx) => {
    const row = await tx.maybeOne(sql.unsafe`DELETE FROM secrets WHERE name = ${name} RETURNING id, version`);
    if (!row) throw notFound(`secret ${JSON.stringify(name)}`);
    await recordEvents(tx, [{ type: 'secret.removed', streamId: Number(row.id), version: row.version + 1, data: { name } }], meta);
    const users = await tx.oneFirst(sql.unsafe`
      SELECT count(*) FROM tasks
      WHERE status = ANY(${sql.array([...UNFINISHED_TASK_STATUSES], 'text')})
        AND jsonb_path_exists(env, '$.* ? (@.secret == $name)', ${jsonb({ name })})`);
    const schedules = await tx.anyFirst(sql.unsafe`
      SELECT name FROM schedules
      WHERE jsonb_path_exists(submit, '$.tasks[*].env.* ? (@.secret == $name)', ${jsonb({ name })})
        OR jsonb_path_exists(submit, '$.sweep.template.env.* ? (@.secret == $name)', ${jsonb({ name })})
      ORDER BY name`);
    return { unfinished_tasks: Number(users), schedules: schedules as string[] };
  });
}
