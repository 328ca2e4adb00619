// The resource cache through real tasks: a real server, a real worker daemon, and an HTTP
// server started here that counts downloads and whose file the test changes. Ten tasks using
// one resource download it once; after the remote file changes, the next task gets the new
// content while a task still running on the old entry keeps it until it ends, and the old
// entry goes then; a store that cannot be reached does not fail a task whose resource is cached;
// a worker restarted while a container mounts an entry keeps that entry until the container ends.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import type { WorkerDaemon } from '../worker/daemon.js';
import { ensureTestImage } from './support/images.js';
import { processWorker, tempDir } from './support/scenario.js';
import { startTestServer, type TestServer } from './support/server.js';
import { startTestWorker, taskEnded, until } from './support/worker.js';

let ts: TestServer;
let web: Server;
let worker: WorkerDaemon & { logs: string[] };
let local: string;
let stateDir: string;
let resource: string;
/** The file the HTTP server serves, and its ETag. */
let remote = { body: 'v1\n', etag: '"v1"' };
let downloads = 0;

before(async () => {
  ts = await startTestServer();
  local = await mkdtemp(join(tmpdir(), 'labq-resources-'));
  stateDir = await mkdtemp(join(tmpdir(), 'labq-resources-worker-'));
  web = createServer((req, res) => {
    if (req.url !== '/ref.txt') return void res.writeHead(404).end();
    if (req.method === 'GET') downloads++;
    res.writeHead(200, { 'content-length': Buffer.byteLength(remote.body), etag: remote.etag }).end(req.method === 'GET' ? remote.body : undefined);
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  resource = `http://127.0.0.1:${(web.address() as AddressInfo).port}/ref.txt`;
  // Every use looks at the remote, so that a change is seen at the next task.
  worker = await startTestWorker(ts, { tags: ['res'], concurrency: 4, stateDir, cacheCheckSeconds: 0 });
});

after(async () => {
  await worker.stop();
  web.closeAllConnections();
  await new Promise((resolve) => web.close(resolve));
  await ts.close();
  await rm(local, { recursive: true, force: true });
  await rm(stateDir, { recursive: true, force: true });
});

/** Submits tasks that use the resource, each with its own output folder under `local`. */
async function submit(tasks: { command: string; out: string }[]): Promise<number[]> {
  const { tasks: submitted } = await ts.client.submitTasks({
    tasks: tasks.map(({ command, out }) => ({ command, tag: 'res', resources: [resource], output: `file://${join(local, out)}/` })),
  } as never);
  return submitted.map((t) => t.id);
}

async function succeeded(id: number): Promise<void> {
  const ended = await taskEnded(ts, id);
  assert.equal(ended.status, 'succeeded', (await ts.client.getTask(id)).executions.at(-1)?.error ?? '');
}

/** The cache's entry directories (not their .json, not scratch). */
async function entries(state = stateDir): Promise<string[]> {
  return (await readdir(join(state, 'cache'))).filter((name) => !name.startsWith('.') && !name.endsWith('.json'));
}

test('ten tasks using one resource download it once', async () => {
  const ids = await submit(Array.from({ length: 10 }, (_, i) => ({ command: 'cp "$RESOURCE/ref.txt" "$OUTPUT/"', out: `ten-${i}` })));
  for (const id of ids) await succeeded(id);
  for (let i = 0; i < 10; i++) assert.equal(await readFile(join(local, `ten-${i}`, 'ref.txt'), 'utf8'), 'v1\n');
  assert.equal(downloads, 1);
  assert.equal((await entries()).length, 1);
});

test('after the remote changes, the next task gets the new content; a task running on the old entry keeps it until it ends', async () => {
  const started = join(local, 'started');
  const go = join(local, 'go');
  const [running] = await submit([{
    out: 'running',
    command: `cp "$RESOURCE/ref.txt" "$OUTPUT/before.txt" && touch ${started} && while [ ! -e ${go} ]; do sleep 0.1; done; cp "$RESOURCE/ref.txt" "$OUTPUT/after.txt"`,
  }]);
  await until('the first task to read its resource', () => stat(started).then(() => true, () => false));

  remote = { body: 'v2, longer\n', etag: '"v2"' };
  const [next] = await submit([{ command: 'cp "$RESOURCE/ref.txt" "$OUTPUT/"', out: 'next' }]);
  await succeeded(next!);
  assert.equal(await readFile(join(local, 'next', 'ref.txt'), 'utf8'), 'v2, longer\n');
  assert.equal(downloads, 2);
  assert.equal((await entries()).length, 2, 'the old entry is kept while a task uses it');

  await writeFile(go, '');
  await succeeded(running!);
  assert.equal(await readFile(join(local, 'running', 'before.txt'), 'utf8'), 'v1\n');
  assert.equal(await readFile(join(local, 'running', 'after.txt'), 'utf8'), 'v1\n', 'the running task saw the old content to its end');
  await until('the old entry to go', async () => (await entries()).length === 1);
});

test('a store that cannot be reached does not fail a task whose resource is cached', async () => {
  web.closeAllConnections();
  await new Promise((resolve) => web.close(resolve));
  const [id] = await submit([{ command: 'cp "$RESOURCE/ref.txt" "$OUTPUT/"', out: 'offline' }]);
  await succeeded(id!);
  assert.equal(await readFile(join(local, 'offline', 'ref.txt'), 'utf8'), 'v2, longer\n');
  assert.ok(worker.logs.some((line) => line.includes(`resource ${resource}: cannot check it for changes`) && line.includes('using the cached copy')), worker.logs.join('\n'));
});

test('a worker restarted while a container mounts an old entry keeps that entry until the container ends', async (t) => {
  const docker = new Dockerode();
  const image = await ensureTestImage(docker);
  const dir = await tempDir(t, 'resources-reattach');
  await mkdir(join(dir, 'ref'));
  await writeFile(join(dir, 'ref', 'ref.txt'), 'v1\n');
  const state = join(dir, 'state');
  const args = ['--name', 'cache-reattacher', '--state-dir', state, '--docker', 'on', '-c', '2', '--tags', 'reattach-res', '--cache-check', '0'];
  const first = processWorker(t, ts, args);
  const spec = { tag: 'reattach-res', resources: [`file://${dir}/ref/`] };
  const { tasks: [mounting] } = await ts.client.submitTasks({
    ...spec, container: image, output: `file://${dir}/out-mounting/`,
    command: 'cat /resource/ref.txt; while [ ! -e /output/go ]; do sleep 0.2; done; cat /resource/ref.txt > /output/after.txt',
  } as never);
  const x = await until('the container to run', async () => (await ts.client.getTask(mounting!.id)).executions.at(-1)?.id);
  t.after(async () => {
    for (const c of await docker.listContainers({ all: true, filters: { label: [`labq.execution=${x}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
  });
  await until('the container to read its resource', async () => (await ts.client.executionOutput(x)).includes('v1\n'));
  first.child.kill('SIGKILL');
  await first.exited;

  await writeFile(join(dir, 'ref', 'ref.txt'), 'v2, longer\n');
  const second = processWorker(t, ts, args);
  const { tasks: [next] } = await ts.client.submitTasks({ ...spec, output: `file://${dir}/out-next/`, command: 'cp "$RESOURCE/ref.txt" "$OUTPUT/"' } as never);
  const ended = await taskEnded(ts, next!.id);
  assert.equal(ended.status, 'succeeded', second.output());
  assert.equal(await readFile(join(dir, 'out-next', 'ref.txt'), 'utf8'), 'v2, longer\n');
  assert.equal((await entries(state)).length, 2, 'the entry the re-attached container mounts is kept');

  await writeFile(join(state, 'work', String(x), 'output', 'go'), '');
  const done = await taskEnded(ts, mounting!.id);
  assert.equal(done.status, 'succeeded', second.output());
  assert.equal(await readFile(join(dir, 'out-mounting', 'after.txt'), 'utf8'), 'v1\n', 'the container saw its entry to its end');
  await until('the old entry to go', async () => (await entries(state)).length === 1);
});
