// The worker daemon with a real Docker engine: mounts, inputs and outputs through
// file:// URIs, container options, peak memory, and kill within the grace.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Dockerode from 'dockerode';
import { ensureTestImage } from './support/images.js';
import { startTestServer, type TestServer } from './support/server.js';
import { startTestWorker, taskEnded, until } from './support/worker.js';

let ts: TestServer;
let dir: string;
let image: string;
let stopWorker: () => Promise<void>;
const docker = new Dockerode();

before(async () => {
  await docker.ping().catch((error) => {
    throw new Error(`Docker engine unreachable (${error.message}); run scripts/ensure-docker.sh`);
  });
  image = await ensureTestImage(docker);
  ts = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'labq-docker-'));
  const w = await startTestWorker(ts, { docker: 'on', tags: ['docker'], concurrency: 2 });
  stopWorker = () => w.stop();
});
after(async () => {
  await stopWorker?.();
  await ts?.close();
});


test('a container task reads /input, writes /output (uploaded), sees /resource read-only and its env', async () => {
  await mkdir(join(dir, 'in'));
  await writeFile(join(dir, 'in', 'S1.fq'), 'ACGT\n');
  await mkdir(join(dir, 'ref'));
  await writeFile(join(dir, 'ref', 'ref.fa'), '>chr1\nNNNN\n');
  const { tasks: [t] } = await ts.client.submitTasks({
    command: 'cat /input/S1.fq /resource/ref/ref.fa > /output/result.txt; echo "$THREADS $INPUT"; touch /resource/x 2>/dev/null && echo writable || echo read-only',
    container: image,
    container_options: ['--memory=64m', '--cpus=1'],
    inputs: [`file://${dir}/in/S1.fq`],
    resources: [`file://${dir}/ref`],
    output: `file://${dir}/out/`,
    env: { THREADS: '4' },
    tag: 'docker',
  });
  const done = await taskEnded(ts, t!.id);
  assert.equal(done.status, 'succeeded', JSON.stringify(await ts.client.getTask(t!.id)));
  assert.equal(await readFile(join(dir, 'out', 'result.txt'), 'utf8'), 'ACGT\n>chr1\nNNNN\n');
  const detail = await ts.client.getTask(t!.id);
  const x = detail.executions[0]!;
  assert.equal(await ts.client.executionOutput(x.id), '4 /input\nread-only\n');
  assert.ok(x.downloading_at && x.running_at && x.uploading_at, 'every phase was reported');
  const phases = (await ts.client.taskEvents(t!.id)).items.filter((e) => e.type === 'execution.phase').map((e) => e.data.phase);
  assert.deepEqual(phases, ['downloading', 'running', 'uploading']);
  const left = await docker.listContainers({ all: true, filters: { label: [`labq.execution=${x.id}`] } });
  assert.deepEqual(left, [], 'the container was removed');
});

test('peak memory is reported, and a non-zero exit fails the task', async () => {
  const { tasks: [mem, bad] } = await ts.client.submitTasks({
    tasks: [
      { command: 'head -c 30000000 /dev/zero > /tmp/blob; sleep 3; cat /tmp/blob | wc -c', container: image, tag: 'docker' },
      { command: 'echo failing >&2; exit 7', container: image, tag: 'docker' },
    ],
  });
  const x = (await ts.client.getTask((await taskEnded(ts, mem!.id)).id)).executions[0]!;
  assert.equal(x.status, 'succeeded');
  assert.ok((x.peak_memory_bytes ?? 0) > 0, `peak memory reported: ${x.peak_memory_bytes}`);
  const y = (await ts.client.getTask((await taskEnded(ts, bad!.id)).id)).executions[0]!;
  assert.equal(y.status, 'failed');
  assert.equal(y.exit_code, 7);
  assert.equal(await ts.client.executionOutput(y.id, 'stderr'), 'failing\n');
});

test('killing a container task removes the container', async () => {
  const { tasks: [t] } = await ts.client.submitTasks({ command: 'trap "" TERM; sleep 300', container: image, tag: 'docker' });
  await until('running', async () => (await ts.client.getTask(t!.id)).status === 'running');
  const x = (await ts.client.getTask(t!.id)).execution_id!;
  await until('container', async () => (await docker.listContainers({ filters: { label: [`labq.execution=${x}`] } })).length === 1);
  await ts.client.killTask(t!.id, 1);
  assert.equal((await taskEnded(ts, t!.id)).status, 'cancelled');
  assert.equal((await ts.client.getExecution(x)).status, 'killed');
  assert.deepEqual(await docker.listContainers({ all: true, filters: { label: [`labq.execution=${x}`] } }), []);
});

test('a container option the Docker policy refuses now is refused by the worker, though it was allowed at submission', async () => {
  await ts.client.putDockerPolicy({ allow_privileged: true });
  const { tasks: [t] } = await ts.client.submitTasks({ command: 'true', container: image, container_options: ['--privileged'], tag: 'docker', held: true });
  await ts.client.putDockerPolicy({});
  await ts.client.call('releaseTask', { params: { id: t!.id }, body: {} });
  const done = await taskEnded(ts, t!.id);
  assert.equal(done.status, 'failed');
  const x = (await ts.client.getTask(t!.id)).executions[0]!;
  assert.equal(x.status, 'refused');
  assert.match(x.error ?? '', /container_options\[0\]: --privileged .*allow_privileged is false/);
  assert.deepEqual(await docker.listContainers({ all: true, filters: { label: [`labq.execution=${x.id}`] } }), [], 'no container was made');
});
