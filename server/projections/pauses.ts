// The pauses projection: which workflows, steps and tags are paused, or everything, and
// the `paused` flag of the unfinished tasks they cover. The flag is what takes paused work
// out of the claim's partial index (sql/0014_steering.sql), so a pause costs one UPDATE of
// the tasks it covers and the claim never reads them. A task that ends loses its flag (the
// tasks projection), and gets it again from task_paused() when it is relaunched or edited.
import { sql, type FragmentSqlToken } from 'slonik';
import { UNFINISHED_TASK_STATUSES } from '../../shared/schemas/task.js';
import type { ProjectedEvent } from '../events/types.js';
import { eventRecords } from './batch.js';
import type { Projection } from './projection.js';

// As `= ANY` of the unfinished statuses, so the tasks_status index can serve a pause of everything.
const unfinished = sql.fragment`status = ANY(${sql.array(UNFINISHED_TASK_STATUSES, 'text')})`;

/** The pauses row an event names, and the tasks it covers. */
function scopeOf(event: ProjectedEvent): { scope: string; key: string; covers: FragmentSqlToken } {
  switch (event.stream_type) {
    case 'workflow':
      return { scope: 'workflow', key: String(event.stream_id), covers: sql.fragment`workflow_id = ${event.stream_id}` };
    case 'step':
      return { scope: 'step', key: String(event.stream_id), covers: sql.fragment`step_id = ${event.stream_id}` };
    default: {
      const tag = event.data.tag as string | null;
      return tag === null
        ? { scope: 'all', key: '', covers: sql.fragment`TRUE` }
        : { scope: 'tag', key: tag, covers: sql.fragment`tag = ${tag}` };
    }
  }
}

export const pausesProjection: Projection = {
  name: 'pauses',
  tables: ['pauses'],
  statements(type: string, events: ProjectedEvent[]): FragmentSqlToken[] {
    const paused = type === 'workflow.paused' || type === 'step.paused' || type === 'queue.paused';
    const resumed = type === 'workflow.resumed' || type === 'step.resumed' || type === 'queue.resumed';
    if (!paused && !resumed) return [];
    // Pauses are rare and each covers a different scope: one event at a time keeps each
    // UPDATE on its own index (workflow, step, tag). The second statement of each reads what
    // the first wrote (task_paused() reads the pauses), so they stay apart.
    return events.flatMap((event) => {
      const { scope, key, covers } = scopeOf(event);
      return paused
        ? [
          sql.fragment`
            INSERT INTO pauses (scope, scope_key, paused_at, paused_by)
            SELECT ${scope}, ${key}, e.created_at, e.actor FROM ${eventRecords([event])}
            ON CONFLICT (scope, scope_key) DO NOTHING`,
          sql.fragment`UPDATE tasks SET paused = true WHERE ${covers} AND ${unfinished} AND NOT paused`,
        ]
        : [
          sql.fragment`DELETE FROM pauses WHERE scope = ${scope} AND scope_key = ${key}`,
          sql.fragment`
            UPDATE tasks SET paused = false
            WHERE ${covers} AND ${unfinished} AND paused AND NOT task_paused(workflow_id, step_id, tag)`,
        ];
    });
  },
};
