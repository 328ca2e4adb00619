// The scheduler loop of one server process. Every server runs one: its timer is set to the
// earliest next due time of the enabled schedules, and set again when a schedule changes
// (the LISTEN hub wakes it on events of the `schedule` stream, and on a reconnect). Which
// server fires a due run is settled in the database (commands/fireSchedule.ts), so several
// loops over one database fire each run once, and any of them firing is enough: a server
// that dies leaves the others to fire on time. A queued run (overlap `queue`) waits for
// its previous run's tasks to end: while one is queued the loop looks every second.
import { sql } from 'slonik';
import type { Pool } from './db/pool.js';
import { fireDue, fireQueued } from './commands/fireSchedule.js';
import { EVENTS_CHANNEL, type ListenHub } from './listen/hub.js';

/** The longest the loop sleeps: clocks jump, and a missed notification costs at most this. */
const MAX_SLEEP_MS = 60_000;
const QUEUED_CHECK_MS = 1000;
const RETRY_MS = 1000;
/** Due runs fired per round: a server back after a long stop catches up every schedule, a batch at a time. */
const BATCH = 100;

export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly pool: Pool, private readonly hub: ListenHub, private readonly log: (line: string) => void) {}

  start(): void {
    this.unsubscribe = this.hub.subscribe((channel, changed) => {
      if (channel === null || (channel === EVENTS_CHANNEL && changed?.has('schedule'))) this.wake();
    });
    this.wake();
  }

  /** Runs a round now, or right after the one under way. */
  private wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.round()
      .catch((error: Error) => {
        this.log(`scheduler: ${error.message}`);
        return QUEUED_CHECK_MS;
      })
      .then((sleep) => {
        this.running = null;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          return this.wake();
        }
        this.timer = setTimeout(() => this.wake(), sleep);
      });
  }

  /** Fires what is due; returns how long to sleep before the next due time. */
  private async round(): Promise<number> {
    // A schedule that cannot be fired (the database refusing, say) is tried again a second later, not in a tight loop.
    let failed = false;
    const attempt = (id: number, fire: Promise<boolean>) =>
      fire.catch((error: Error) => {
        failed = true;
        this.log(`scheduler: schedule ${id}: ${error.message}`);
      });
    // Queued runs first: each was due before anything due now.
    const queued = await this.pool.any(sql.unsafe`SELECT id, queued_due_at FROM schedules WHERE enabled AND queued_due_at IS NOT NULL`);
    for (const row of queued) {
      await attempt(row.id, fireQueued(this.pool, row.id, row.queued_due_at));
    }
    for (;;) {
      const due = await this.pool.any(sql.unsafe`
        SELECT id, next_due_at FROM schedules WHERE enabled AND next_due_at <= now() ORDER BY next_due_at LIMIT ${BATCH}`);
      for (const row of due) {
        if (this.stopped) return MAX_SLEEP_MS;
        await attempt(row.id, fireDue(this.pool, row.id, row.next_due_at));
      }
      if (due.length < BATCH || failed) break;
    }
    const next = await this.pool.maybeOneFirst(sql.unsafe`
      SELECT extract(epoch FROM min(next_due_at) - now()) * 1000 FROM schedules WHERE enabled`);
    const untilNext = next === null ? MAX_SLEEP_MS : Math.max(0, Math.ceil(Number(next)));
    const stillQueued = await this.pool.exists(sql.unsafe`SELECT 1 FROM schedules WHERE enabled AND queued_due_at IS NOT NULL`);
    return Math.min(failed ? Math.max(untilNext, RETRY_MS) : untilNext, MAX_SLEEP_MS, stillQueued ? QUEUED_CHECK_MS : MAX_SLEEP_MS);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
