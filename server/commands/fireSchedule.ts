// Command: fire a schedule — by the clock at a due time, or now at a user's request with
// some of its context changed. A due run is claimed in the database: the server locks the
// schedule's row and fires only if next_due_at is still the due time it read, moving it on
// in the same transaction as the run's tasks and events; a second server racing on that
// due time finds it moved and writes nothing, so a run fires exactly once however many
// servers run. A due time more than CATCH_UP_AFTER_MS old means no server was up to fire
// it: the schedule's catch_up policy skips such times or runs the latest once. When the
// previous run still has unfinished tasks, the overlap policy runs anyway, skips, or queues
// one run that fires when they have ended (fireQueued). A run whose submission is refused
// (a secret removed since, say) is recorded as failed and the clock moves on. Lock order:
// the schedule's row, then what submitting tasks locks (commands/submitTasks.ts).
import { sql } from 'slonik';
import { z } from 'zod';
import type { EventMeta } from '../../shared/events.js';
import { FINAL_TASK_STATUSES } from '../../shared/schemas/task.js';
import type { Db, Pool } from '../db/pool.js';
import { invalid, ProblemError } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';
import { duesBetween, nextDue } from '../schedules/cron.js';
import { planRun, runKey } from '../schedules/plan.js';
import { lockExisting, lockSchedule, type ScheduleRow } from '../schedules/rows.js';
import { submitSweepInTransaction } from './submitSweep.js';
import { retryOnKeyRace } from './submitTasks.js';

/** A due time fired later than this was missed (no server was up), and follows catch_up. */
export const CATCH_UP_AFTER_MS = 5000;
const CLOCK: EventMeta = { actor: 'clock', request_id: null, source: null };

export interface FiredRun {
  run: number;
  due_at: string;
  fired_at: string;
  task_ids: number[];
  context: Record<string, string>;
}

async function previousRunLive(tx: Db, id: number): Promise<boolean> {
  return tx.exists(sql.unsafe`
    SELECT 1 FROM tasks WHERE id = ANY(coalesce(
      (SELECT task_ids FROM schedule_runs WHERE schedule_id = ${id} AND status = 'fired' ORDER BY run DESC LIMIT 1), '{}'))
    AND status <> ALL(${sql.array([...FINAL_TASK_STATUSES], 'text')})`);
}

/** Submits the run's tasks and records schedule.fired; the caller has locked the row. */
async function fire(
  tx: Db, row: ScheduleRow, version: number, due: Date, context: Record<string, string>, by: string, next: string | null, meta: EventMeta,
  queued = false,
): Promise<Omit<FiredRun, 'run'>> {
  const plan = planRun(row.submit, row, context, runKey(row.id, due));
  if (Array.isArray(plan)) throw invalid(plan);
  const ids: number[] = [];
  for (const { sweep, field } of plan.sweeps) ids.push(...(await submitSweepInTransaction(tx, sweep, meta, field)).ids);
  const firedAt = new Date().toISOString();
  const data = { due_at: due.toISOString(), fired_at: firedAt, by, context, task_ids: ids, next_due_at: next, ...(queued ? { queued } : {}) };
  await recordEvents(tx, [{ type: 'schedule.fired', streamId: row.id, version, data }], meta);
  return { due_at: data.due_at, fired_at: firedAt, task_ids: ids, context };
}

/** Runs a firing in a savepoint: refused, it is recorded as a failed run instead, and the clock moves on. */
async function fireOrRecordFailure(tx: Db, row: ScheduleRow, version: number, due: Date, next: string | null, queued: boolean): Promise<void> {
  try {
    await tx.transaction((inner) => fire(inner, row, version, due, row.context, 'clock', next, CLOCK, queued));
  } catch (error) {
    if (!(error instanceof ProblemError)) throw error;
    await recordEvents(tx, [{
      type: 'schedule.skipped', streamId: row.id, version,
      data: { due_at: due.toISOString(), reason: 'failed', detail: error.message, next_due_at: next },
    }], CLOCK);
  }
}

/**
 * Fires the schedule's due time `due` if it is still due (another server has not), per its
 * catch_up and overlap policies. Returns whether this call claimed it.
 */
export async function fireDue(pool: Pool, id: number, due: string): Promise<boolean> {
  return retryOnKeyRace(() => pool.transaction(async (tx) => {
    const row = await lockSchedule(tx, id);
    if (!row || !row.enabled || row.next_due_at !== due) return false;
    const now = new Date();
    let at = new Date(due);
    let version = row.version + 1;
    let next: string | null;
    if (now.getTime() - at.getTime() > CATCH_UP_AFTER_MS) {
      const missed = duesBetween(row.cron, row.timezone, at, now, 100_000);
      next = nextDue(row.cron, row.timezone, now)?.toISOString() ?? null;
      // The latest due time fires with run_once, and with skip too when it is not late enough to
      // count as missed: a server back a second after 02:00 fires the 02:00 run, whatever it missed before.
      const fireLatest = row.catch_up === 'run_once' || now.getTime() - missed.last.getTime() <= CATCH_UP_AFTER_MS;
      const skipped = fireLatest ? missed.count - 1 : missed.count;
      if (skipped > 0) {
        const last = fireLatest ? duesBetween(row.cron, row.timezone, at, new Date(missed.last.getTime() - 1), 100_000).last : missed.last;
        await recordEvents(tx, [{
          type: 'schedule.skipped', streamId: id, version: version++,
          data: { due_at: due, reason: 'catch_up', missed: skipped, last_due_at: last.toISOString(), next_due_at: next },
        }], CLOCK);
      }
      if (!fireLatest) return true;
      at = missed.last;
    } else {
      // From the due time, not from now: a run fired a little late keeps every later due time.
      next = nextDue(row.cron, row.timezone, at)?.toISOString() ?? null;
    }
    let queued = row.queued_due_at;
    // A queued run whose wait is over fires before the due time that found it: it was due first.
    if (queued !== null && !(await previousRunLive(tx, id))) {
      await fireOrRecordFailure(tx, row, version++, new Date(queued), next, true);
      queued = null;
    }
    if (row.overlap !== 'allow' && (await previousRunLive(tx, id))) {
      const data = { due_at: at.toISOString(), next_due_at: next };
      if (row.overlap === 'queue' && queued === null) {
        await recordEvents(tx, [{ type: 'schedule.queued', streamId: id, version, data }], CLOCK);
      } else {
        await recordEvents(tx, [{ type: 'schedule.skipped', streamId: id, version, data: { ...data, reason: 'overlap' } }], CLOCK);
      }
      return true;
    }
    await fireOrRecordFailure(tx, row, version, at, next, false);
    return true;
  }));
}

/** Fires the queued run of a schedule once its previous run has ended; false while it waits (or another server fired it). */
export async function fireQueued(pool: Pool, id: number, queuedAt: string): Promise<boolean> {
  return retryOnKeyRace(() => pool.transaction(async (tx) => {
    const row = await lockSchedule(tx, id);
    if (!row || !row.enabled || row.queued_due_at !== queuedAt || (await previousRunLive(tx, id))) return false;
    await fireOrRecordFailure(tx, row, row.version + 1, new Date(queuedAt), row.next_due_at, true);
    return true;
  }));
}

/**
 * Runs the schedule now for a user, with `overrides` replacing some of its context for this
 * run only. A parameter the schedule does not have is refused (400 naming it). The user
 * asked for this run, so the overlap policy does not hold it back, and the clock's next due
 * time stays.
 */
export async function runScheduleNow(pool: Pool, id: number, overrides: Record<string, string>, meta: EventMeta): Promise<FiredRun> {
  return retryOnKeyRace(() => pool.transaction(async (tx) => {
    const row = await lockExisting(tx, id);
    const names = Object.keys(row.context);
    const unknown = Object.keys(overrides).filter((name) => !(name in row.context));
    if (unknown.length) {
      throw invalid(unknown.map((name) => ({
        field: `context.${name}`,
        message: `is not a parameter of schedule ${row.name} (${names.length ? `its parameters: ${names.join(', ')}` : 'it has none'})`,
      })));
    }
    const context = { ...row.context, ...overrides };
    const fired = await fire(tx, row, row.version + 1, new Date(), context, meta.actor ?? 'unknown', row.next_due_at, meta);
    // Its number, as the projection just gave it: its place among the runs, not its event's version.
    const run = await tx.oneFirst(sql.type(z.object({ run: z.number() }))`SELECT max(run) AS run FROM schedule_runs WHERE schedule_id = ${row.id}`);
    return { run, ...fired };
  }));
}
