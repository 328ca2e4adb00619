// Command: delete a schedule and its runs' records (the tasks it made stay, and the log keeps
// every event of it). Its name is free again at once.
import type { EventMeta } from '../../shared/events.js';
import type { Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { lockExisting } from '../schedules/rows.js';

export async function deleteSchedule(pool: Pool, id: number, meta: EventMeta): Promise<void> {
  await pool.transaction(async (tx) => {
    const row = await lockExisting(tx, id);
    await recordEvents(tx, [{ type: 'schedule.deleted', streamId: id, version: row.version + 1, data: { name: row.name } }], meta);
  });
}
