// Many worker daemons at high concurrency over many small tasks in several steps: the
// claim, the reports, the lease renewals, the reaper and the task counters all meet. A
// sound lock order has no deadlock under any load: PostgreSQL's own count of deadlocks
// in this test's database (pg_stat_database, flushed when the server's connections end)
// stays at zero, and the counters agree with the tasks they count.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { sql } from 'slonik';
import { compactTaskCounts } from '../server/commands/compactTaskCounts.js';
import { startTestServer } from './support/server.js';
import { startTestWorker, until } from './support/worker.js';

const WORKERS = 4;
const SLOTS = 24;
const STEPS = 3;
const TASKS_PER_STEP = 500;

/**
 * The database's deadlock count. A backend reports its statistics when it ends, so the
 * final read must wait until no other backend of the database is left (`alone`): a read
 * while the server's connections are still closing could miss what they saw. Undefined
 * while some are left.
 */
async function deadlocks(databaseUrl: string, alone: boolean): Promise<number | undefined> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: [others] } = await client.query(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    if (alone && others.n > 0) return undefined;
    const { rows } = await client.query('SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()');
    return Number(rows[0].deadlocks);
  } finally {
    await client.end();
  }
}

test(`${WORKERS} workers × ${SLOTS} slots over ${STEPS * TASKS_PER_STEP} tasks: no deadlock, and counts that agree`, async (t) => {
  const ts = await startTestServer();
  let closed = false;
  t.after(async () => {
    if (!closed) await ts.close();
  });
  const before = (await deadlocks(ts.databaseUrl, false))!;
  const workflow = await ts.client.createWorkflow({ name: 'contention' });
  for (let s = 0; s < STEPS; s++) {
    const step = await ts.client.createStep({ workflow_id: workflow.id, name: `step-${s}` });
    await ts.client.submitTasks({ tasks: Array.from({ length: TASKS_PER_STEP }, (_, i) => ({ command: `echo ${s}-${i}`, step_id: step.id })) });
  }
  const workers = await Promise.all(Array.from({ length: WORKERS }, () => startTestWorker(ts, { concurrency: SLOTS, docker: 'off' })));
  t.after(() => Promise.allSettled(workers.map((w) => w.stop())));

  await until('every task to succeed', async () => {
    const counts = (await ts.client.getWorkflow(workflow.id)).counts;
    assert.ok(!counts.failed && !counts.cancelled, `no task may fail: ${JSON.stringify(counts)}`);
    return counts.succeeded === STEPS * TASKS_PER_STEP;
  }, 600_000);
  const [{ n }] = (await ts.server.pool.any(sql.unsafe`SELECT count(*)::int AS n FROM tasks WHERE status = 'succeeded'`)) as unknown as [{ n: number }];
  assert.equal(n, STEPS * TASKS_PER_STEP, 'the counters agree with the tasks');
  // Folding the deltas leaves one row per scope and status, and the same counts.
  await compactTaskCounts(ts.server.pool);
  const unfolded = await ts.server.pool.oneFirst(sql.unsafe`
    SELECT count(*)::int FROM (SELECT 1 FROM task_counts GROUP BY scope, scope_id, status HAVING count(*) > 1) x`);
  assert.equal(unfolded, 0, 'one row per scope and status after a fold');
  assert.equal((await ts.client.getWorkflow(workflow.id)).counts.succeeded, STEPS * TASKS_PER_STEP);

  await Promise.all(workers.map((w) => w.stop()));
  // A backend reports its deadlocks to the statistics when it ends: close every connection first.
  await ts.close();
  closed = true;
  const seen = await until('every connection of the server to end', async () => deadlocks(ts.databaseUrl, true).then((d) => d !== undefined && { d }), 30_000);
  assert.equal(seen.d - before, 0, 'deadlocks detected by PostgreSQL in this database');
});
