// A run of an execution's events changes its execution's row and its task's row in one
// statement (applyEvents.ts, ONE_STATEMENT), where it took one per projection. Checked on a
// real database: the statements applyEvents sends for the results of a real exchange, read
// back from the log and applied again over rows set back to `running`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { finished, running } from '../../e2e/support/reports.js';
import { recording } from '../../e2e/support/recording.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { pollWorker, registerWorker } from '../../e2e/support/workerApi.js';
import { STORED_EVENT_COLUMNS } from '../events/appendEvents.js';
import type { StoredEvent } from '../events/types.js';
import { applyEvents } from './applyEvents.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

test('the results of an exchange change their executions and their tasks in one statement', async () => {
  const worker = await registerWorker(ts, { tags: ['one-statement'] });
  const { tasks } = await ts.client.submitTasks({ tasks: [{ command: 'true', tag: 'one-statement' }, { command: 'true', tag: 'one-statement' }] });
  const { assignments } = await pollWorker(ts, worker, { seq: 1, want: 2, holding: [] });
  assert.equal(assignments.length, 2);
  const ids = assignments.map((a) => a.execution_id);
  const answer = await pollWorker(ts, worker, { seq: 2, want: 0, holding: [], reports: ids.map((id) => ({ execution_id: id, reports: [running, finished()] })) });
  assert.ok(answer.reports.every((r) => r.recorded));
  const ends = [...await ts.server.pool.any(sql.unsafe`
    SELECT ${STORED_EVENT_COLUMNS} FROM events WHERE type = 'execution.finished' AND stream_id = ANY(${sql.array(ids, 'int8')}) ORDER BY position`)] as unknown as StoredEvent[];
  assert.equal(ends.length, 2);

  await ts.server.pool.connect(async (connection) => {
    await connection.query(sql.unsafe`BEGIN`);
    try {
      await connection.query(sql.unsafe`UPDATE executions SET status = 'running', finished_at = NULL WHERE id = ANY(${sql.array(ids, 'int8')})`);
      await connection.query(sql.unsafe`UPDATE tasks SET status = 'running' WHERE id = ANY(${sql.array(tasks.map((t) => t.id), 'int8')})`);
      const sent: string[] = [];
      await applyEvents(recording(connection, sent), ends);
      assert.equal(sent.length, 1, `one statement, not ${sent.length}: ${sent.join('\n---\n')}`);
      assert.match(sent[0]!, /UPDATE executions/);
      assert.match(sent[0]!, /UPDATE tasks/);
      const executions = await connection.any(sql.unsafe`SELECT status, finished_at FROM executions WHERE id = ANY(${sql.array(ids, 'int8')})`);
      assert.deepEqual(executions.map((x) => x.status), ['succeeded', 'succeeded']);
      assert.ok(executions.every((x) => x.finished_at !== null));
      const rows = await connection.any(sql.unsafe`SELECT status FROM tasks WHERE id = ANY(${sql.array(tasks.map((t) => t.id), 'int8')})`);
      assert.deepEqual(rows.map((t) => t.status), ['succeeded', 'succeeded']);
    } finally {
      await connection.query(sql.unsafe`ROLLBACK`);
    }
  });
});
