// Command: create a schedule. Checks the cron, the time zone, the workflow and step and
// that a run with the default context would compile (400 naming the field), then records
// schedule.created with the first due time. A name is unique: taken, 409.
import { sql, UniqueIntegrityConstraintViolationError } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { ScheduleBody } from '../../shared/schemas/schedule.js';
import type { Pool } from '../db/pool.js';
import { conflict } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';
import { nextDue } from '../schedules/cron.js';
import { storedSubmit } from '../schedules/plan.js';
import { checkDefinition } from '../schedules/rows.js';

export async function createSchedule(pool: Pool, body: ScheduleBody, meta: EventMeta): Promise<number> {
  const definition = { ...body, workflow_id: body.workflow_id ?? null, step_id: body.step_id ?? null };
  try {
    return await pool.transaction(async (tx) => {
      await checkDefinition(tx, definition);
      if (await tx.exists(sql.unsafe`SELECT 1 FROM schedules WHERE name = ${body.name}`)) throw conflict(`a schedule named "${body.name}" exists`);
      const id = Number(await tx.oneFirst(sql.unsafe`SELECT nextval('schedule_ids')`));
      const next = body.enabled ? nextDue(body.cron, body.timezone, new Date()) : null;
      const { enabled, ...fields } = definition;
      await recordEvents(tx, [{
        type: 'schedule.created', streamId: id, version: 1,
        data: { ...fields, submit: storedSubmit(fields.submit), enabled, next_due_at: next?.toISOString() ?? null },
      }], meta);
      return id;
    });
  } catch (error) {
    if (error instanceof UniqueIntegrityConstraintViolationError) throw conflict(`a schedule named "${body.name}" exists`);
    throw error;
  }
}
