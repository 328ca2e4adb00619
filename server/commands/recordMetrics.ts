// Command: keeps the latest host figures a worker daemon sends in its exchange (load, CPU,
// memory, executions it runs), one row per worker in `worker_metrics`. Not an event: they
// change every few seconds and are not a change of state; only the latest count, for the
// workers view. The caller holds the worker's row lock (its polls serialise on it), so this
// row, which only that worker's exchanges write, never meets another writer.
import { sql } from 'slonik';
import type { HostMetrics } from '../../shared/schemas/worker.js';
import type { Db } from '../db/pool.js';

export async function recordMetrics(tx: Db, workerId: number, m: HostMetrics): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO worker_metrics (worker_id, load1, cpu_percent, memory_used_mb, memory_total_mb, running, updated_at)
    VALUES (${workerId}, ${m.load1}, ${m.cpu_percent}, ${m.memory_used_mb}, ${m.memory_total_mb}, ${m.running}, clock_timestamp())
    ON CONFLICT (worker_id) DO UPDATE SET load1 = excluded.load1, cpu_percent = excluded.cpu_percent,
      memory_used_mb = excluded.memory_used_mb, memory_total_mb = excluded.memory_total_mb, running = excluded.running,
      updated_at = excluded.updated_at`);
}
