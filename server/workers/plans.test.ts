// The exchanges' batches plan each statement once, without its parameters' values
// (force_generic_plan, server/server.ts): a plan that needs a value to use the right index
// must find it in the statement's text. Checked through PostgreSQL's index statistics, on
// what the exchange really runs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { finished, running } from '../../e2e/support/reports.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { until } from '../../e2e/support/worker.js';
import { pollWorker, registerWorker } from '../../e2e/support/workerApi.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

interface IndexUse { byWorkerScans: number; byWorkerRead: number; liveScans: number }

const indexUse = async (): Promise<IndexUse> => {
  const rows = await ts.server.pool.any(sql.unsafe`
    SELECT indexrelname, idx_scan::bigint AS scans, idx_tup_read::bigint AS read FROM pg_stat_user_indexes
    WHERE indexrelname IN ('executions_by_worker', 'executions_worker_live')`);
  const of = (name: string) => rows.find((r) => r.indexrelname === name) ?? { scans: 0, read: 0 };
  return { byWorkerScans: Number(of('executions_by_worker').scans), byWorkerRead: Number(of('executions_by_worker').read), liveScans: Number(of('executions_worker_live').scans) };
};

test('an exchange reads its worker\'s live executions through their index, however many the worker has finished', { timeout: 180_000 }, async () => {
  const worker = await registerWorker(ts, { tags: ['history'], concurrency: 500 });
  const total = 2000;
  await ts.client.submitTasks({ tasks: Array.from({ length: total }, () => ({ command: 'true', tag: 'history' })) });
  let held: number[] = [];
  let seq = 1;
  for (;;) {
    const answer = await pollWorker(ts, worker, {
      seq: seq++, want: 500, holding: [], reports: held.map((id) => ({ execution_id: id, reports: [running, finished()] })),
    });
    assert.ok(answer.reports.every((r) => r.recorded));
    held = answer.assignments.map((a) => a.execution_id);
    if (held.length === 0) break;
  }
  // Counted through the tasks: a count of the worker's executions would read the index the test watches.
  const ended = Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM tasks WHERE tag = 'history' AND status = 'succeeded'`));
  assert.equal(ended, total);
  // A backend flushes its statistics when idle, at most once a second: wait until they stand still.
  const settled = await until('statistics to settle', async () => {
    const a = await indexUse();
    await new Promise((r) => setTimeout(r, 1500));
    const b = await indexUse();
    return JSON.stringify(a) === JSON.stringify(b) && b;
  });
  await pollWorker(ts, worker, { seq: seq++, want: 0, holding: [] });
  const now = await until('the exchange to show in the statistics', async () => {
    const s = await indexUse();
    return s.byWorkerScans + s.liveScans > settled.byWorkerScans + settled.liveScans && s;
  });
  assert.ok(now.liveScans > settled.liveScans, `the live executions' index was not used: ${JSON.stringify({ settled, now })}`);
  assert.ok(now.byWorkerRead - settled.byWorkerRead < 100, `the exchange read ${now.byWorkerRead - settled.byWorkerRead} entries of the worker's history`);
});
