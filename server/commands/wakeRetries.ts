// Command (run by the reaper leader every tick): wakes the parked polls that may now claim a
// task whose backoff ended. A task going back to pending wakes its tag at once (the tasks
// trigger), but one backing off cannot be claimed then, and nothing happens to its row when
// its retry_at passes; so the leader names, on labq_work, the tags of the pending tasks whose
// retry_at passed since its last round, each with how many, through the partial index tasks_backing_off.
//
// Nothing is missed between rounds: each round covers (previous bound, its own start]. A task
// whose retry_at falls in that range but whose transaction commits after the round's snapshot
// (taken after that start) became pending after its retry_at, so its own commit woke its tag.
// A new leader starts with no lower bound, covering the rounds no one ran.
import { sql } from 'slonik';
import { z } from 'zod';
import type { Pool } from '../db/pool.js';

export async function wakeRetries(pool: Pool, since: string | null): Promise<{ until: string; tags: number }> {
  return pool.one(sql.type(z.object({ until: z.string(), tags: z.number() }))`
    WITH due AS (
      SELECT tag, count(*) AS n FROM tasks
      WHERE status = 'pending' AND retry_at IS NOT NULL AND retry_at <= now()
        AND (${since}::timestamptz IS NULL OR retry_at > ${since}::timestamptz)
      GROUP BY tag
    ), woken AS (
      SELECT work_notify((SELECT string_agg('tag:' || tag || ':' || n, ',') FROM due))
    )
    SELECT now() AS until, (SELECT count(*) FROM due)::int AS tags FROM woken`);
}
