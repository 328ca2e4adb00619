// Command: hold tasks (one, or all a filter matches) so that no worker takes them until
// they are released. A task not yet started is held as it is; one assigned but not yet
// started loses that attempt (cancelExecutions) and is held. A task already running goes
// on (suspend or kill it instead); a task that ended has nothing to hold.
import type { EventMeta } from '../../shared/events.js';
import type { BulkResult } from '../../shared/schemas/steering.js';
import { isFinalTask, type TaskFilter } from '../../shared/schemas/task.js';
import type { Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { cancelExecutions } from './cancelExecutions.js';
import { NOT_STARTED } from '../../shared/schemas/execution.js';
import { openBulk } from './matchTasks.js';

const HOLDABLE = ['pending', 'waiting', 'blocked', ...NOT_STARTED] as const;

export async function holdTasks(pool: Pool, filter: TaskFilter, reason: string | undefined, meta: EventMeta): Promise<BulkResult> {
  return pool.transaction(async (tx) => {
    const { tasks, outcome } = await openBulk(tx, filter);
    const held = tasks.filter((t) => {
      if ((HOLDABLE as readonly string[]).includes(t.status)) return true;
      outcome.skip(t.id, t.status === 'held' ? 'already held' : isFinalTask(t.status) ? `${t.status}: it has ended` : `${t.status}: it has started (suspend or cancel it instead)`);
      return false;
    });
    const assigned = held.filter((t) => (NOT_STARTED as readonly string[]).includes(t.status));
    await cancelExecutions(tx, assigned.map((t) => t.execution_id!), 'its task was held before it started', 'pending', meta);
    await recordEvents(tx, held.map((t) => {
      outcome.changed(t.id);
      return { type: 'task.held' as const, streamId: t.id, version: t.version + 1, data: { reason: reason ?? 'held by a user' } };
    }), meta);
    return outcome.result();
  });
}
