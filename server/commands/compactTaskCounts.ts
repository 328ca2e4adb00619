// Command (run by the reaper leader every tick): folds the task counters' insert-only
// deltas into one row per scope and status (sql/0008_task_count_deltas.sql), so that
// reading a count sums a few rows, not one per status change since the start.
import { sql } from 'slonik';
import type { Pool } from '../db/pool.js';

export async function compactTaskCounts(pool: Pool): Promise<number> {
  return Number(await pool.oneFirst(sql.unsafe`SELECT task_counts_compact()`));
}
