// A rebuild after a randomized workload of more than 5,000 events yields projection rows
// identical to the ones the commands maintained inline, and the counts agree with the
// tasks they count.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { rng } from '../../e2e/support/random.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { snapshotProjections } from '../../e2e/support/snapshot.js';
import { rebuildProjections } from './rebuild.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

async function eventCount(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const n = Number((await client.query('SELECT count(*) FROM events')).rows[0].count);
  await client.end();
  return n;
}

test('rebuild after a randomized workload of 5,000+ events yields identical projections', async () => {
  const seed = Number(process.env.LABQ_SEED ?? Date.now() % 1_000_000);
  const r = rng(seed);
  const workflows: number[] = [];
  const steps: { id: number; workflow: number }[] = [];
  const tasks: number[] = [];
  while ((await eventCount(ts.databaseUrl)) < 5200) {
    const roll = r.next();
    if (roll < 0.05 || workflows.length === 0) {
      workflows.push((await ts.client.createWorkflow({ name: `wf-${workflows.length}`, description: r.chance(0.5) ? 'd' : undefined })).id);
    } else if (roll < 0.15) {
      const workflow = r.pick(workflows);
      steps.push({ id: (await ts.client.createStep({ workflow_id: workflow, name: `s-${steps.length}` })).id, workflow });
    } else {
      const batch = Array.from({ length: r.int(1, 250) }, (_, i) => {
        const step = steps.length && r.chance(0.7) ? r.pick(steps) : null;
        return {
          command: `echo ${i} ${r.int(0, 1e6)}`,
          name: r.chance(0.5) ? `t${i}` : undefined,
          step_id: step?.id,
          workflow_id: !step && workflows.length && r.chance(0.3) ? r.pick(workflows) : undefined,
          priority: r.int(-5, 5),
          tag: r.pick(['default', 'highmem', 'gpu']),
          depends_on: tasks.length && r.chance(0.2) ? [r.pick(tasks)] : [],
          key: r.chance(0.3) ? `k${r.int(0, 400)}` : undefined,
          held: r.chance(0.05),
          env: (r.chance(0.2) ? { THREADS: String(r.int(1, 8)) } : {}) as Record<string, string>,
        };
      });
      const result = await ts.client.submitTasks({ tasks: batch });
      tasks.push(...result.tasks.filter((t) => t.created).map((t) => t.id));
    }
  }

  const before = await snapshotProjections(ts.databaseUrl);
  assert.ok((before.tasks?.length ?? 0) > 3000, `seed ${seed}: expected thousands of tasks`);
  const replayed = await rebuildProjections(ts.server.pool);
  assert.ok(replayed >= 5000, `seed ${seed}: replayed ${replayed}`);
  const afterRebuild = await snapshotProjections(ts.databaseUrl);
  for (const table of Object.keys(before)) {
    assert.deepEqual(afterRebuild[table], before[table], `seed ${seed}: table ${table} differs after rebuild`);
  }

  const client = new pg.Client({ connectionString: ts.databaseUrl });
  await client.connect();
  try {
    const mismatch = await client.query(`
      WITH real AS (
        SELECT 'all' AS scope, 0::bigint AS scope_id, status, count(*)::bigint AS n FROM tasks GROUP BY status
        UNION ALL SELECT 'workflow', workflow_id, status, count(*) FROM tasks WHERE workflow_id IS NOT NULL GROUP BY workflow_id, status
        UNION ALL SELECT 'step', step_id, status, count(*) FROM tasks WHERE step_id IS NOT NULL GROUP BY step_id, status)
      SELECT * FROM real FULL JOIN (SELECT * FROM task_counts_by_scope WHERE n <> 0) c USING (scope, scope_id, status)
      WHERE real.n IS DISTINCT FROM c.n`);
    assert.deepEqual(mismatch.rows, [], `seed ${seed}: task_counts disagree with tasks`);
  } finally {
    await client.end();
  }

  const more = await ts.client.submitTasks({ command: 'echo after rebuild' });
  assert.ok(more.tasks[0]!.id > Math.max(...tasks), 'ids keep growing after a rebuild');
});
