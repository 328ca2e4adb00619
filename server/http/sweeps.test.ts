// Sweeps through the API: 100,000 tasks in one request, a resubmit that adds nothing, a
// grown grid that adds only its new combinations, keys that keep two templates apart,
// concurrent identical sweeps, and refusals (400/413) that name the field and write nothing,
// even when the bad task comes after a slice already written.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { API_PREFIX } from '../../shared/api.js';
import type { SweepInput } from '../../shared/schemas/sweep.js';
import { SWEEP_SLICE } from '../commands/submitSweep.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const count = async (query: ReturnType<typeof sql.unsafe>) => Number(await ts.server.pool.oneFirst(query));
const eventCount = () => count(sql.unsafe`SELECT count(*) FROM events`);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

test('a sweep of 100,000 tasks is one request; submitted again it adds nothing', async () => {
  const step = await ts.client.createStep({ workflow_id: (await ts.client.createWorkflow({ name: 'big sweep' })).id, name: 'grid' });
  const sweep: SweepInput = {
    template: { command: 'simulate --seed {seed} --rate {rate}', step_id: step.id, output: 's3://results/{rate}/{seed}/' },
    parameters: { rate: range(100).map((r) => r / 100), seed: range(1000) },
  };
  const first = await http(ts, 'POST', `${API_PREFIX}/sweeps`, sweep);
  assert.equal(first.status, 201, first.text);
  const result = JSON.parse(first.text);
  assert.deepEqual([result.total, result.created, result.existing, result.ids.length], [100_000, 100_000, 0, 100_000]);
  assert.equal(new Set(result.ids).size, 100_000);
  assert.equal(await count(sql.unsafe`SELECT count(*) FROM tasks WHERE step_id = ${step.id}`), 100_000);
  assert.equal(await count(sql.unsafe`SELECT count(*) FROM tasks WHERE step_id = ${step.id} AND parameters IS NOT NULL`), 100_000);
  assert.equal(await count(sql.unsafe`SELECT count(DISTINCT key) FROM tasks WHERE step_id = ${step.id}`), 100_000);
  assert.deepEqual((await ts.client.getStep(step.id)).counts, { pending: 100_000 });

  const last = await ts.client.getTask(result.ids[99_999]);
  assert.equal(last.command, 'simulate --seed 999 --rate 0.99');
  assert.equal(last.output, 's3://results/0.99/999/');
  assert.deepEqual(last.parameters, { rate: '0.99', seed: '999' });
  assert.deepEqual(last.env, { rate: '0.99', seed: '999' });

  const events = await eventCount();
  const again = await http(ts, 'POST', `${API_PREFIX}/sweeps`, sweep);
  assert.equal(again.status, 200, again.text);
  const repeat = JSON.parse(again.text);
  assert.deepEqual([repeat.total, repeat.created, repeat.existing], [100_000, 0, 100_000]);
  assert.deepEqual(repeat.ids, result.ids, 'the same tasks, in the same order');
  assert.equal(await eventCount(), events, 'nothing written');
});

test('a grid grown by one value adds only the new combinations', async () => {
  const template = { command: 'align {sample} k={k}', key: 'align' };
  const first = await ts.client.submitSweep({ template, parameters: { sample: ['S1', 'S2'], k: [21, 31] } });
  assert.deepEqual([first.total, first.created, first.existing], [4, 4, 0]);
  const grown = await ts.client.submitSweep({ template, parameters: { sample: ['S1', 'S2', 'S3'], k: ['21', 31] } });
  assert.deepEqual([grown.total, grown.created, grown.existing], [6, 2, 4]);
  assert.deepEqual(grown.ids.slice(0, 4), first.ids, 'S1 and S2 are the tasks made before');
  const made = await Promise.all(grown.ids.slice(4).map((id) => ts.client.getTask(id)));
  assert.deepEqual(made.map((t) => t.command), ['align S3 k=21', 'align S3 k=31']);
  const zipped = await ts.client.submitSweep({ template, parameters: { k: [31, 41], sample: ['S1', 'S1'] }, mode: 'zip' });
  assert.deepEqual([zipped.created, zipped.existing], [1, 1], 'the key hashes the parameters, not the mode nor their order');
  assert.equal(zipped.ids[0], first.ids[1]);
});

test('two templates without a key are two sweeps, even over the same values', async () => {
  const workflow = await ts.client.createWorkflow({ name: 'two steps' });
  const parameters = { sample: ['S1', 'S2'] };
  const align = await ts.client.submitSweep({ template: { command: 'bwa {sample}', workflow_id: workflow.id }, parameters });
  const call = await ts.client.submitSweep({ template: { command: 'gatk {sample}', workflow_id: workflow.id }, parameters });
  assert.equal(align.created + call.created, 4);
  assert.equal((await ts.client.submitSweep({ template: { workflow_id: workflow.id, command: 'gatk {sample}', shell: 'sh' }, parameters })).created, 0);
});

test('concurrent identical sweeps make each task once', async () => {
  const sweep = { template: { command: 'echo {i}', tag: 'race' }, parameters: { i: range(2 * SWEEP_SLICE + 10) } };
  const results = await Promise.all(range(4).map(() => ts.client.submitSweep(sweep)));
  assert.equal(results.reduce((n, r) => n + r.created, 0), sweep.parameters.i.length);
  for (const r of results) assert.deepEqual(r.ids, results[0]!.ids);
  assert.equal(await count(sql.unsafe`SELECT count(*) FROM tasks WHERE tag = 'race'`), sweep.parameters.i.length);
});

test('bad sweeps are refused, naming the field, and write nothing', async () => {
  const cases: [unknown, number, string[]][] = [
    [{ template: { command: 'run {smaple}' }, parameters: { sample: [1] } }, 400, ['template.command']],
    [{ template: { command: 'x' }, parameters: { a: [1, 2], b: [1] }, mode: 'zip' }, 400, ['parameters.b']],
    [{ template: { command: 'x' }, parameters: { a: [1, 1] } }, 400, ['parameters.a[1]']],
    [{ template: { command: 'x' }, parameters: { '1a': [1], CPU: [2], b: [] } }, 400, ['parameters.1a', 'parameters.CPU', 'parameters.b']],
    [{ template: { command: 'x' }, parameters: {} }, 400, ['parameters']],
    [{ template: { command: 'x' }, parameters: { a: [1] }, mode: 'cross' }, 400, ['mode']],
    [{ template: { command: 'x', env: { a: 'v' } }, parameters: { a: [1] } }, 400, ['template.env.a']],
    [{ template: { command: 'x', priority: 5000 }, parameters: { a: [1] }, extra: 1 }, 400, ['template.priority', 'extra']],
    [{ template: { command: 'x', inputs: ['{u}'] }, parameters: { u: ['s3://b/k', 'gopher://h/k'] } }, 400, ['template.inputs[0]']],
    [{ template: { command: 'x', inputs: ['s3://runs/{s}.fq', 'https://example.org/S1.fq'] }, parameters: { s: ['S2', 'S1'] } }, 400, ['template.inputs[1]']],
    [{ template: { command: 'x {n}', step_id: 999_999 }, parameters: { n: range(3) } }, 400, ['template.step_id']],
    [{ template: { command: 'x' }, parameters: { a: range(400), b: range(400) } }, 413, ['parameters']],
    [{ template: { command: 'x' }, parameters: { a: range(100_001) }, mode: 'zip' }, 413, ['parameters']],
  ];
  for (const [body, status, fields] of cases) {
    const before = await eventCount();
    const res = await http(ts, 'POST', `${API_PREFIX}/sweeps`, body);
    assert.equal(res.status, status, res.text);
    assert.match(res.type, /^application\/problem\+json/);
    const problem = JSON.parse(res.text);
    assert.deepEqual(problem.errors.map((e: { field: string }) => e.field), fields, res.text);
    assert.equal(await eventCount(), before, `${JSON.stringify(body).slice(0, 80)} wrote events`);
  }
});

test('a task made invalid by its values after a slice was written fails the whole sweep', async () => {
  const urls = range(SWEEP_SLICE + 100).map((i) => `s3://bucket/${i}.fq`);
  urls.push('gopher://old/place.fq');
  const tasks = await count(sql.unsafe`SELECT count(*) FROM tasks`);
  const res = await http(ts, 'POST', `${API_PREFIX}/sweeps`, { template: { command: 'x', inputs: ['{url}'] }, parameters: { url: urls } });
  assert.equal(res.status, 400, res.text);
  const problem = JSON.parse(res.text);
  assert.deepEqual(problem.errors, [{
    field: 'template.inputs[0]',
    message: 'unsupported scheme "gopher": expected one of s3, ftp, ftps, http, https, file (with url=gopher://old/place.fq)',
  }]);
  assert.equal(await count(sql.unsafe`SELECT count(*) FROM tasks`), tasks, 'the first slice was rolled back');
});
