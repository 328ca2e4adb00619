// recordEvents writes the events and applies their first run in one statement (the
// projections' statements as data-modifying CTEs of the insert), and the rows it writes that
// way carry the events' own times, as a rebuild from the log would write them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql, type DatabasePoolConnection } from 'slonik';
import { recording } from '../../e2e/support/recording.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { StreamVersionConflict } from './appendEvents.js';
import { recordEvents } from './recordEvents.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());
const meta = { actor: 'test', request_id: null, source: null };

test('the first run of events is applied in the statement that appends them, with the events\' own time', async () => {
  const [workflowId, stepId] = [900_001, 900_002];
  const sent: string[] = [];
  await ts.server.pool.transaction(async (tx) => {
    // Some time into the transaction, so that the statement's clock and the transaction's differ.
    await tx.query(sql.unsafe`SELECT pg_sleep(0.05)`);
    await recordEvents(recording(tx as DatabasePoolConnection, sent), [
      { type: 'workflow.created', streamId: workflowId, version: 1, data: { name: 'joined', description: null } },
      { type: 'step.created', streamId: stepId, version: 1, data: { workflow_id: workflowId, name: 'second run', description: null } },
    ], meta);
  });
  assert.equal(sent.length, 2, `the insert with the workflow, then the step: ${sent.join('\n---\n')}`);
  assert.match(sent[0]!, /INSERT INTO events[\s\S]*INSERT INTO workflows/);
  assert.doesNotMatch(sent[0]!, /INSERT INTO steps/);
  assert.match(sent[1]!, /INSERT INTO steps/);
  const rows = await ts.server.pool.any(sql.unsafe`
    SELECT e.stream_type, e.created_at = coalesce(w.created_at, s.created_at) AS same_time, coalesce(w.created_by, s.created_by) AS created_by
    FROM events e LEFT JOIN workflows w ON e.stream_type = 'workflow' AND w.id = e.stream_id LEFT JOIN steps s ON e.stream_type = 'step' AND s.id = e.stream_id
    WHERE (e.stream_type, e.stream_id) IN (('workflow', ${workflowId}), ('step', ${stepId})) ORDER BY e.position`);
  assert.deepEqual(rows.map((r) => [r.stream_type, r.same_time, r.created_by]), [['workflow', true, 'test'], ['step', true, 'test']]);
});

test('a second writer of a stream\'s version fails as a conflict to retry, with the first run\'s statements in the insert', async () => {
  const streamId = 900_003;
  const created = [{ type: 'workflow.created' as const, streamId, version: 1, data: { name: 'first writer', description: null } }];
  await ts.server.pool.transaction(async (tx) => recordEvents(tx, created, meta));
  const events = Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM events`));
  await assert.rejects(
    ts.server.pool.transaction(async (tx) => recordEvents(tx, [{ ...created[0]!, data: { name: 'second writer', description: null } }], meta)),
    (error: unknown) => error instanceof StreamVersionConflict && error.code === '40001',
  );
  assert.equal(Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM events`)), events);
  assert.equal(await ts.server.pool.oneFirst(sql.unsafe`SELECT name FROM workflows WHERE id = ${streamId}`), 'first writer');
});
