// Command: enable or disable a schedule. Disabled, the clock does not fire it (a queued run
// is dropped); enabled again, it is next due at its first due time from now: the due times
// it had while disabled are not caught up. Already so, nothing is written.
import type { EventMeta } from '../../shared/events.js';
import type { Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { nextDue } from '../schedules/cron.js';
import { lockExisting } from '../schedules/rows.js';

export async function setScheduleEnabled(pool: Pool, id: number, enabled: boolean, meta: EventMeta): Promise<void> {
  await pool.transaction(async (tx) => {
    const row = await lockExisting(tx, id);
    if (row.enabled === enabled) return;
    const version = row.version + 1;
    if (!enabled) return void (await recordEvents(tx, [{ type: 'schedule.disabled', streamId: id, version, data: {} }], meta));
    const next = nextDue(row.cron, row.timezone, new Date())?.toISOString() ?? null;
    await recordEvents(tx, [{ type: 'schedule.enabled', streamId: id, version, data: { next_due_at: next } }], meta);
  });
}
