// The auditing views answer, in plain SQL over the event log: per execution what ran,
// where, on whose behalf, the phase times and how it ended; per event who did it.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startTestServer, type TestServer } from './support/server.js';
import { startTestWorker, until } from './support/worker.js';
import { pollWorker, registerWorker } from './support/workerApi.js';

let ts: TestServer;
let db: pg.Client;
let stopWorker: () => Promise<void>;

before(async () => {
  ts = await startTestServer();
  db = new pg.Client({ connectionString: ts.databaseUrl });
  await db.connect();
  const worker = await startTestWorker(ts, { name: 'auditor-node', tags: ['audit'] });
  stopWorker = () => worker.stop();
});
after(async () => {
  await stopWorker();
  await db.end();
  await ts.close();
});

test('audit_executions: task, command, worker, who submitted and launched, phase times, exit code', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'labq-audit-'));
  await mkdir(join(dir, 'in'));
  await writeFile(join(dir, 'in', 'x.txt'), 'x');
  const { tasks: [ok, bad] } = await ts.client.submitTasks({
    tasks: [
      { command: 'cp "$INPUT/x.txt" "$OUTPUT/y.txt"', inputs: [`file://${dir}/in/x.txt`], output: `file://${dir}/out/`, tag: 'audit' },
      { command: 'exit 4', tag: 'audit' },
    ],
  });
  for (const t of [ok!, bad!]) {
    await until(`task ${t.id} to end`, async () => ['succeeded', 'failed'].includes((await ts.client.getTask(t.id)).status));
  }
  const { rows } = await db.query('SELECT * FROM audit_executions WHERE task_id = ANY($1) ORDER BY task_id', [[ok!.id, bad!.id]]);
  assert.equal(rows.length, 2);
  const [good, failed] = rows;
  const actor = (await db.query("SELECT meta->>'actor' AS actor FROM events WHERE type = 'task.submitted' AND stream_id = $1", [ok!.id])).rows[0].actor;
  assert.equal(good.command, 'cp "$INPUT/x.txt" "$OUTPUT/y.txt"');
  assert.equal(good.image, null);
  assert.equal(good.worker_name, 'auditor-node');
  assert.equal(good.submitted_by, actor);
  assert.equal(good.launched_by, actor);
  assert.equal(good.attempt, 1);
  assert.ok(good.assigned_at <= good.downloading_at && good.downloading_at <= good.running_at
    && good.running_at <= good.uploading_at && good.uploading_at <= good.finished_at, 'phase times in order');
  assert.equal(good.final_status, 'succeeded');
  assert.equal(good.exit_code, 0);
  assert.equal(failed.final_status, 'failed');
  assert.equal(failed.exit_code, 4);
  assert.equal(failed.downloading_at, null, 'no download phase without inputs');
  assert.equal(good.submitted_by_kind, 'token');
  // How each ended, as the API tells it from its projection.
  for (const row of rows) {
    const x = await ts.client.getExecution(row.execution_id);
    assert.deepEqual([row.failure_class, row.error, row.cpu_seconds], [x.failure_class, x.error, x.cpu_seconds], `execution ${row.execution_id}`);
  }
  assert.equal(failed.failure_class, 'exit');
  assert.ok(failed.cpu_seconds >= 0);
});

test('audit_executions: a lost attempt is of class lost, with why', async () => {
  const worker = await registerWorker(ts, { tags: ['audit-lost'] });
  const { tasks: [task] } = await ts.client.submitTasks({ command: 'true', tag: 'audit-lost' });
  const { assignments: [assigned] } = await pollWorker(ts, worker, { seq: 1, want: 1 });
  assert.equal(assigned!.task.id, task!.id);
  await ts.client.sendReports(assigned!.execution_id, { reports: [{ kind: 'phase', phase: 'running' }] });
  // The next exchange no longer holds the attempt it started: the worker dropped it.
  await pollWorker(ts, worker, { seq: 2 });
  const x = await ts.client.getExecution(assigned!.execution_id);
  assert.equal(x.status, 'lost');
  const { rows: [row] } = await db.query('SELECT * FROM audit_executions WHERE execution_id = $1', [assigned!.execution_id]);
  assert.deepEqual([row.final_status, row.failure_class, row.error], ['lost', 'lost', x.error]);
  assert.ok(row.error, 'why it was lost');
});

test('audit_executions: an attempt cancelled before it started (its task edited) ended cancelled, at that time', async () => {
  const worker = await registerWorker(ts, { tags: ['audit-edit'] });
  const { tasks: [task] } = await ts.client.submitTasks({ command: 'echo old', tag: 'audit-edit' });
  const { assignments: [assigned] } = await pollWorker(ts, worker, { want: 1 });
  assert.equal(assigned!.task.id, task!.id);
  await ts.client.call('editTask', { params: { id: task!.id }, body: { set: { command: 'echo new' } } });
  const { rows: [row] } = await db.query('SELECT * FROM audit_executions WHERE execution_id = $1', [assigned!.execution_id]);
  const cancelled = (await db.query("SELECT created_at FROM events WHERE stream_type = 'execution' AND stream_id = $1 AND type = 'execution.cancelled'", [assigned!.execution_id])).rows[0];
  assert.equal(row.final_status, 'cancelled');
  assert.deepEqual(row.finished_at, cancelled.created_at);
  assert.equal(row.command, 'echo old', 'what the attempt was given');
  assert.equal(row.running_at, null);
});

test('audit_log: the query of docs/auditing.md finds who cancelled a task, started or not', async () => {
  const { tasks: [running, waiting] } = await ts.client.submitTasks({
    tasks: [{ command: 'sleep 600', tag: 'audit' }, { command: 'true', tag: 'audit', held: true }],
  });
  await until('the task to run', async () => (await ts.client.getTask(running!.id)).status === 'running');
  // The running one twice: a long grace, then none (two kill orders, one cancel).
  await ts.client.call('cancelTasks', { body: { filter: { ids: [running!.id] }, grace_seconds: 3600 } });
  for (const t of [running!, waiting!]) await ts.client.call('cancelTasks', { body: { filter: { ids: [t.id] }, grace_seconds: 0 } });
  await until('the running task to end', async () => (await ts.client.getTask(running!.id)).status === 'cancelled');
  const { rows } = await db.query(`SELECT * FROM (
      SELECT stream_id AS task_id, actor, actor_kind, created_at FROM audit_log WHERE type = 'task.cancelled'
      UNION ALL
      (SELECT DISTINCT ON (f.stream_id) (f.data->>'task_id')::bigint, k.actor, k.actor_kind, k.created_at
       FROM audit_log f JOIN audit_log k
         ON k.stream_type = 'execution' AND k.stream_id = f.stream_id
        AND k.type = 'execution.kill_requested' AND k.position < f.position
       WHERE f.stream_type = 'execution' AND f.type IN ('execution.finished', 'execution.lost')
         AND f.data->>'task_status' = 'cancelled'
       ORDER BY f.stream_id, k.position DESC)
  ) c WHERE task_id = ANY($1) ORDER BY created_at`, [[running!.id, waiting!.id]]);
  const admin = (await db.query("SELECT meta->>'actor' AS actor FROM events WHERE type = 'task.submitted' AND stream_id = $1", [running!.id])).rows[0].actor;
  assert.deepEqual(rows.map((r) => [Number(r.task_id), r.actor, r.actor_kind]).sort(), [[running!.id, admin, 'token'], [waiting!.id, admin, 'token']].sort());
});

test('audit_log: who did what, with the request id and source address', async () => {
  const response = await fetch(`${ts.url}/api/v1/workflows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ts.token}`, 'content-type': 'application/json', 'x-request-id': 'audit-req-1' },
    body: JSON.stringify({ name: 'audited' }),
  });
  const workflow = (await response.json()) as { id: number };
  const { rows } = await db.query("SELECT * FROM audit_log WHERE stream_type = 'workflow' AND stream_id = $1", [workflow.id]);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].type, 'workflow.created');
  assert.equal(rows[0].request_id, 'audit-req-1');
  assert.match(rows[0].source, /127\.0\.0\.1/);
  assert.equal(rows[0].actor, (await db.query("SELECT name FROM api_tokens ORDER BY id DESC LIMIT 1")).rows[0].name);
  assert.equal(rows[0].data.name, 'audited');
  assert.equal(rows[0].actor_kind, 'token', 'a user and a token may share a name: the kind tells which acted');
});
