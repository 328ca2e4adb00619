// Sweeps run by a real worker daemon: each task sees its parameters in its environment and
// in its command, fetches the input its placeholders name and uploads to its own output;
// `labq sweep submit` makes the tasks, and submitted again it adds none; `labq task list`
// shows their parameters.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from './support/server.js';
import { CLI, startTestWorker, taskEnded } from './support/worker.js';

const run = promisify(execFile);
let ts: TestServer;
let dir: string;
let worker: { stop(): Promise<void> };

before(async () => {
  ts = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'labq-sweeps-'));
  worker = await startTestWorker(ts, { tags: ['sweep'], concurrency: 4 });
});
after(async () => {
  await worker?.stop();
  await ts?.close();
});

const labq = (...args: string[]) => run(process.execPath, [CLI, '--server', ts.url, '--token', ts.token, ...args]);

async function outputOf(taskId: number): Promise<string> {
  const task = await taskEnded(ts, taskId);
  assert.equal(task.status, 'succeeded', `task ${taskId} ${task.status}`);
  return ts.client.executionOutput(task.execution_id!);
}

test('`labq sweep submit` runs every combination, each task with its parameters in env and command; again, it adds nothing', async () => {
  const args = [
    'sweep', 'submit', '-t', 'sweep', '-k', 'greet', '-P', 'sample=S1,S2', '-P', 'k=21,31',
    '--', 'echo "command={sample}/{k} env=$sample/$k ${sample}"',
  ];
  const first = await labq(...args);
  const [head, idLine] = first.stdout.trim().split('\n');
  assert.equal(head, 'sweep: 4 tasks, 4 created, 0 existing');
  const ids = (await ts.client.listTasks({ tag: 'sweep', limit: 10 })).items.map((t) => t.id);
  assert.equal(idLine, `ids: ${ids[0]}-${ids[3]}`);

  const outputs = await Promise.all(ids.map(outputOf));
  assert.deepEqual(outputs, [
    'command=S1/21 env=S1/21 S1\n', 'command=S1/31 env=S1/31 S1\n', 'command=S2/21 env=S2/21 S2\n', 'command=S2/31 env=S2/31 S2\n',
  ]);

  const again = await labq('--json', ...args);
  const result = JSON.parse(again.stdout);
  assert.deepEqual(result, { total: 4, created: 0, existing: 4, ids });
  assert.equal((await ts.client.listTasks({ tag: 'sweep', limit: 10 })).items.length, 4, 'no task added');

  const list = await labq('task', 'list', '-t', 'sweep');
  const lines = list.stdout.trim().split('\n');
  assert.match(lines[0]!, /^ID\s+STATUS\s+ATTEMPTS\s+EXIT\s+ELAPSED\s+WORKER\s+TAG\s+NAME\s+PARAMETERS\s+COMMAND$/);
  assert.match(lines[4]!, new RegExp(`^${ids[3]}\\s+succeeded\\s+1\\s+0\\s+\\d\\d:\\d\\d:\\d\\d\\s+\\S+\\s+sweep\\s+k=31 sample=S2\\s+echo "command=S2/31`));
});

test('zipped parameters name each task its input and output; a grown list adds only its new task', async () => {
  await mkdir(join(dir, 'in'));
  for (const sample of ['S1', 'S2', 'S3']) await writeFile(join(dir, 'in', `${sample}.txt`), `reads of ${sample}\n`);
  const sweep = (samples: string[]) => ({
    template: {
      command: 'wc -c < "$INPUT/{sample}.txt" > "$OUTPUT/count"; echo "{label}: $(cat "$INPUT/{sample}.txt")"',
      inputs: [`file://${dir}/in/{sample}.txt`], output: `file://${dir}/out/{sample}/`, tag: 'sweep', key: 'count',
    },
    parameters: { sample: samples, label: samples.map((s) => s.toLowerCase()) },
    mode: 'zip' as const,
  });
  const first = await ts.client.submitSweep(sweep(['S1', 'S2']));
  assert.deepEqual([first.created, first.existing], [2, 0]);
  const grown = await ts.client.submitSweep(sweep(['S1', 'S2', 'S3']));
  assert.deepEqual([grown.created, grown.existing], [1, 2]);
  assert.deepEqual(grown.ids.slice(0, 2), first.ids);

  const outputs = await Promise.all(grown.ids.map(outputOf));
  assert.deepEqual(outputs, ['s1: reads of S1\n', 's2: reads of S2\n', 's3: reads of S3\n']);
  for (const sample of ['S1', 'S2', 'S3']) {
    assert.equal((await readFile(join(dir, 'out', sample, 'count'), 'utf8')).trim(), String(`reads of ${sample}\n`.length));
  }
  const task = await ts.client.getTask(grown.ids[2]!);
  assert.deepEqual(task.parameters, { sample: 'S3', label: 's3' });
  assert.deepEqual(task.inputs, [`file://${dir}/in/S3.txt`]);
});

test('`labq sweep submit` takes values from files, --command and --zip, and names the field of a bad template', async () => {
  await writeFile(join(dir, 'samples.txt'), 'A1\nA2\n\nA3\n');
  await writeFile(join(dir, 'sizes.txt'), '10\n20\n30\n');
  const made = await labq('--json', 'sweep', 'submit', '-t', 'files', '--zip', '--param-file', `n=${join(dir, 'samples.txt')}`,
    '--param-file', `size=${join(dir, 'sizes.txt')}`, '-c', 'echo {n} {size}');
  const result = JSON.parse(made.stdout);
  assert.equal(result.created, 3);
  const tasks = await Promise.all(result.ids.map((id: number) => ts.client.getTask(id)));
  assert.deepEqual(tasks.map((t) => t.command), ['echo A1 10', 'echo A2 20', 'echo A3 30']);

  const refused = await labq('sweep', 'submit', '-P', 'n=1,2', '--', 'echo {m}').then(
    () => assert.fail('accepted'),
    (error: { code: number; stderr: string }) => error,
  );
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^labq: 400 Invalid request\n {2}template\.command: unknown placeholder \{m\}: the parameters are n/);
});
