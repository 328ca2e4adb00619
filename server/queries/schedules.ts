// Reads of schedules and their runs. A run's tasks are counted by status from the tasks
// themselves, so `show` says how a run ended without a projection of its own to keep. The
// list carries each schedule's latest run, read in one more query: a client that shows how
// each schedule last went makes one request, not one per schedule.
import { sql } from 'slonik';
import type { Schedule, ScheduleDetail, ScheduleListItem, ScheduleRun } from '../../shared/schemas/schedule.js';
import type { Db } from '../db/pool.js';
import { notFound } from '../errors.js';
import { nextDues } from '../schedules/cron.js';

const NEXT_RUNS = 5;
const RUNS_SHOWN = 20;

const columns = sql.fragment`id, name, cron, timezone, context, submit, workflow_id, step_id, catch_up, overlap, enabled,
  next_due_at, queued_due_at, created_at, created_by, updated_at, version`;

function withNextRuns(row: any): Schedule {
  const next = row.next_due_at ? [new Date(row.next_due_at), ...nextDues(row.cron, row.timezone, new Date(row.next_due_at), NEXT_RUNS - 1)] : [];
  return { ...row, next_runs: next.map((d) => d.toISOString()) };
}

/** A run of `schedule_runs r` as the API gives it, its tasks counted by status now. */
const runColumns = sql.fragment`r.run, r.due_at, r.fired_at, r.fired_by, r.context, r.task_ids, r.status, r.reason,
  coalesce((SELECT jsonb_object_agg(status, n) FROM (
     SELECT t.status, count(*)::int AS n FROM tasks t WHERE t.id = ANY(r.task_ids) GROUP BY t.status) c), '{}') AS tasks`;

export async function listSchedules(db: Db): Promise<ScheduleListItem[]> {
  const schedules = await db.any(sql.unsafe`SELECT ${columns} FROM schedules ORDER BY name`);
  const lastRuns = new Map((await db.any(sql.unsafe`
    SELECT s.id AS schedule_id, ${runColumns}
    FROM schedules s CROSS JOIN LATERAL (
      SELECT * FROM schedule_runs l WHERE l.schedule_id = s.id ORDER BY l.run DESC LIMIT 1) r`)).map(({ schedule_id, ...run }) => [schedule_id, run as unknown as ScheduleRun]));
  return schedules.map((row) => ({ ...withNextRuns(row), last_run: lastRuns.get(row.id) ?? null }));
}

export async function scheduleRuns(db: Db, id: number, limit = RUNS_SHOWN): Promise<ScheduleRun[]> {
  return (await db.any(sql.unsafe`
    SELECT ${runColumns} FROM schedule_runs r WHERE r.schedule_id = ${id} ORDER BY r.run DESC LIMIT ${limit}`)) as unknown as ScheduleRun[];
}

export async function getSchedule(db: Db, id: number): Promise<ScheduleDetail> {
  const row = await db.maybeOne(sql.unsafe`SELECT ${columns} FROM schedules WHERE id = ${id}`);
  if (!row) throw notFound(`schedule ${id}`);
  return { ...withNextRuns(row), runs: await scheduleRuns(db, id) };
}
