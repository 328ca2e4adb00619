// Twenty real worker daemons (in-process, bare shell, two slots each) race over one
// thousand tasks submitted in one request. When all have succeeded, the event log — not
// the projections — must show that no task ever had two live executions at once, and
// that every task succeeded exactly once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { LIVE_STATUSES } from '../shared/schemas/execution.js';
import { startTestServer, type TestServer } from './support/server.js';
import { startTestWorker, until } from './support/worker.js';
import type { WorkerDaemon } from '../worker/daemon.js';

const WORKERS = 20;
const TASKS = 1000;

let ts: TestServer;
const workers: WorkerDaemon[] = [];

before(async () => {
  ts = await startTestServer();
});

after(async () => {
  await Promise.allSettled(workers.map((w) => w.stop()));
  await ts?.close();
});

test('20 workers run 1,000 tasks: each task succeeds once, and never has two live executions', async (t) => {
  const workflow = await ts.client.createWorkflow({ name: 'many-workers' });
  const submitted = await ts.client.submitTasks({
    tasks: Array.from({ length: TASKS }, (_, i) => ({ command: 'true', workflow_id: workflow.id, key: `t${i}` })),
  });
  assert.equal(submitted.tasks.length, TASKS);
  assert.ok(submitted.tasks.every((t) => t.created && t.status === 'pending'));

  workers.push(...(await Promise.all(Array.from({ length: WORKERS }, () => startTestWorker(ts, { concurrency: 2, docker: 'off' })))));
  assert.equal(new Set(workers.map((w) => w.id)).size, WORKERS);

  // Generous, only to turn a hang into a failure.
  await until('every task to succeed', async () => {
    const counts = (await ts.client.getWorkflow(workflow.id)).counts;
    assert.ok(!counts.failed && !counts.cancelled && !counts.blocked, `no task may fail: ${JSON.stringify(counts)}`);
    return counts.succeeded === TASKS;
  }, 300_000);

  // Every execution event of every task in log order: an assignment must come after the
  // end (finished or lost) of the task's previous execution, and each end must end the
  // execution assigned just before it.
  const overlaps = await ts.server.pool.any(sql.unsafe`
    WITH x AS (
      SELECT (data->>'task_id')::bigint AS task_id, stream_id AS execution_id, type, position,
             lag(type) OVER w AS previous_type, lag(stream_id) OVER w AS previous_execution
      FROM events
      WHERE stream_type = 'execution' AND type IN ('execution.assigned', 'execution.finished', 'execution.lost')
        AND (data->>'task_id')::bigint = ANY(${sql.array(submitted.tasks.map((t) => t.id), 'int8')})
      WINDOW w AS (PARTITION BY (data->>'task_id')::bigint ORDER BY position)
    )
    SELECT task_id, execution_id, type, previous_type, previous_execution FROM x
    WHERE (type = 'execution.assigned' AND previous_type = 'execution.assigned')
       OR (type <> 'execution.assigned' AND (previous_type IS DISTINCT FROM 'execution.assigned' OR previous_execution <> execution_id))
    ORDER BY task_id, position`);
  assert.deepEqual(overlaps, [], 'no task had a second execution assigned before the first ended');

  const perTask = await ts.server.pool.any(sql.unsafe`
    SELECT t.id,
           count(*) FILTER (WHERE e.type = 'execution.assigned') AS assigned,
           count(*) FILTER (WHERE e.type = 'execution.finished') AS finished,
           count(*) FILTER (WHERE e.type = 'execution.finished' AND e.data->>'status' = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE e.type = 'execution.lost') AS lost,
           (array_agg(e.type ORDER BY e.position DESC) FILTER (WHERE e.type IN ('execution.assigned', 'execution.finished', 'execution.lost')))[1] AS last
    FROM unnest(${sql.array(submitted.tasks.map((t) => t.id), 'int8')}) AS t(id)
    LEFT JOIN events e ON e.stream_type = 'execution' AND (e.data->>'task_id')::bigint = t.id
    GROUP BY t.id`);
  assert.equal(perTask.length, TASKS);
  const wrong = perTask.filter((r) => r.finished !== 1 || r.succeeded !== 1 || r.last !== 'execution.finished' || r.assigned !== r.finished + r.lost);
  assert.deepEqual(wrong, [], 'each task: exactly one execution.finished, succeeded, and it is the last word');

  const byWorker = await ts.server.pool.any(sql.unsafe`
    SELECT count(DISTINCT data->>'worker_id') AS n FROM events WHERE type = 'execution.assigned'`);
  assert.ok(byWorker[0]!.n > 1, 'the work was shared between workers');
  const lost = perTask.reduce((sum, r) => sum + r.lost, 0);
  t.diagnostic(`${perTask.reduce((sum, r) => sum + r.assigned, 0)} executions over ${byWorker[0]!.n} workers, ${lost} lost`);

  const index = await ts.server.pool.maybeOne(sql.unsafe`
    SELECT i.indisunique AS is_unique, pg_get_indexdef(i.indexrelid) AS def, pg_get_expr(i.indpred, i.indrelid) AS predicate
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE c.relname = 'executions_one_live' AND i.indrelid = 'executions'::regclass`);
  assert.ok(index, 'the partial unique index executions_one_live exists');
  assert.equal(index.is_unique, true);
  assert.match(String(index.def), /\(task_id\)/);
  for (const status of LIVE_STATUSES) assert.match(String(index.predicate), new RegExp(`'${status}'`));
});
