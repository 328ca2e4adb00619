// Command: edit a schedule. Records schedule.edited with the fields that changed, old and
// new values; a new cron or time zone moves the next due time (from now), and a queued run
// stays queued. The edited definition is checked as a new one is (400 naming the field).
// Nothing changed writes nothing.
import { sql, UniqueIntegrityConstraintViolationError } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { SchedulePatch } from '../../shared/schemas/schedule.js';
import type { Pool } from '../db/pool.js';
import { conflict } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';
import { nextDue } from '../schedules/cron.js';
import { storedSubmit } from '../schedules/plan.js';
import { checkDefinition, lockExisting } from '../schedules/rows.js';

export async function editSchedule(pool: Pool, id: number, patch: SchedulePatch, meta: EventMeta): Promise<void> {
  try {
    await pool.transaction(async (tx) => {
      const row = await lockExisting(tx, id);
      const old: Record<string, any> = {};
      const changed: Record<string, any> = {};
      for (const [field, given] of Object.entries(patch)) {
        if (given === undefined) continue;
        const value = field === 'submit' ? storedSubmit(given as NonNullable<SchedulePatch['submit']>) : given;
        const before = field === 'submit' ? storedSubmit(row.submit) : row[field as keyof typeof row];
        if (JSON.stringify(before) === JSON.stringify(value)) continue;
        old[field] = before;
        changed[field] = value;
      }
      if (Object.keys(changed).length === 0) return;
      const after = { ...row, ...changed, ...(patch.submit ? { submit: patch.submit } : {}) };
      await checkDefinition(tx, after);
      if (changed.name && (await tx.exists(sql.unsafe`SELECT 1 FROM schedules WHERE name = ${changed.name} AND id <> ${id}`))) {
        throw conflict(`a schedule named "${changed.name}" exists`);
      }
      const retimed = ('cron' in changed || 'timezone' in changed) && row.enabled;
      const next = retimed ? nextDue(after.cron, after.timezone, new Date())?.toISOString() ?? null : row.next_due_at;
      await recordEvents(tx, [{ type: 'schedule.edited', streamId: id, version: row.version + 1, data: { old, new: changed, next_due_at: next } }], meta);
    });
  } catch (error) {
    if (error instanceof UniqueIntegrityConstraintViolationError) throw conflict(`a schedule named "${patch.name}" exists`);
    throw error;
  }
}
