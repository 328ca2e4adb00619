// A worker restarted (after kill -9) while its container runs re-attaches to it: the
// execution is never lost, and every line of the task's output reaches the server once, in
// order, whatever the dead worker had delivered, spooled or lost:
// - killed with nothing of the execution in its spool (deleted here: as if it died before it
//   wrote anything), so the restarted worker numbers after the server's count;
// - killed during a server outage, with output spooled on disk that the server never had:
//   the restarted worker delivers it first, then follows the container's log from there.
//
// Long leases (LONG_LEASES): nothing here waits for one to run out, and a worker process started again
// on a loaded machine (node, the Docker and Python checks, registering) must come back before
// its execution's lease ends. Every wait is an `until` with a generous timeout, only there to
// turn a hang into a failure.
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Dockerode from 'dockerode';
import { EXECUTION_LABEL } from '../worker/runners/docker.js';
import { executionOf, executionStatus, history, outputOf, spooledPastServer, successes } from './support/executions.js';
import { ensureTestImage } from './support/images.js';
import { LONG_LEASES, processWorker, scenarioServer, tempDir } from './support/scenario.js';
import { freePort, type TestServer } from './support/server.js';
import { taskEnded, until } from './support/worker.js';

/** The containers of an execution, removed when the test ends. */
function containersOf(t: TestContext, docker: Dockerode, x: number) {
  const list = () => docker.listContainers({ all: true, filters: { label: [`${EXECUTION_LABEL}=${x}`] } });
  t.after(async () => {
    for (const c of await list()) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  });
  return list;
}

/** Submits a container task whose output is `line 1`, `line 2`…, and waits for its third line at the server. */
async function startLines(t: TestContext, ts: TestServer, tag: string, command: string) {
  const docker = new Dockerode();
  const image = await ensureTestImage(docker);
  const { tasks: [submitted] } = await ts.client.submitTasks({ command, container: image, tag });
  const taskId = submitted!.id;
  const x = await executionOf(ts, taskId);
  const containers = containersOf(t, docker, x);
  await executionStatus(ts, x, 'running');
  await until('the task\'s third line at the server', async () => (await outputOf(ts, x)).includes('line 3\n'));
  return { docker, taskId, x, containers };
}

/** The task ended once, with one execution never lost, and its output is `lines`, each once, in order. */
async function endedOnce(ts: TestServer, taskId: number, x: number, lines: string[], log: () => string): Promise<void> {
  const done = await taskEnded(ts, taskId);
  assert.equal(done.status, 'succeeded', log());
  assert.match(log(), new RegExp(`re-attaching to the container of execution ${x}`));
  const task = await ts.client.getTask(taskId);
  assert.deepEqual(task.executions.map((e) => [e.id, e.attempt, e.status]), [[x, 1, 'succeeded']]);
  assert.equal(task.executions[0]!.exit_code, 0);
  const events = await history(ts, taskId);
  assert.equal(events.filter((e) => e.type === 'execution.lost').length, 0, 'never lost');
  assert.equal(successes(events).length, 1);
  const output = await outputOf(ts, x);
  // Exactly once: the re-attached worker skips what the server already stored.
  assert.deepEqual(output.split('\n').filter(Boolean), lines, `every line once, in order:\n${output}`);
}

test('a worker restarted while its container runs re-attaches to it', async (t) => {
  const ts = await scenarioServer(t, { settings: LONG_LEASES });
  const dir = await tempDir(t, 'reattach');
  const LINES = 12;
  const args = ['--name', 'reattacher', '--state-dir', join(dir, 'state'), '--docker', 'on', '-c', '1', '--tags', 'reattach'];
  const first = processWorker(t, ts, args);
  // Three lines at once, then one every half second: the worker is killed just after the
  // first three, the moment where what it spooled and what the server stored may differ.
  const { docker, taskId, x, containers } = await startLines(t, ts, 'reattach',
    `echo "line 1"; echo "line 2"; echo "line 3"; i=4; while [ $i -le ${LINES} ]; do sleep 0.5; echo "line $i"; i=$((i+1)); done`);

  first.child.kill('SIGKILL');
  await first.exited;
  // Its output went out from memory, so its spool holds nothing of this execution; should
  // the kill have caught lines on their way to disk, they go too: the container's log still
  // has every line, and the server knows which chunk numbers it has seen.
  await Promise.all(['jsonl', 'state.json'].map((ext) => rm(join(dir, 'state', 'spool', `${x}.${ext}`), { force: true })));
  const [container] = await containers();
  assert.ok(container, 'the container outlives its worker');
  assert.equal((await docker.getContainer(container.Id).inspect()).State.Running, true, 'the container still runs');

  const second = processWorker(t, ts, args);
  await endedOnce(ts, taskId, x, Array.from({ length: LINES }, (_, i) => `line ${i + 1}`), second.output);
  await until('the container to be removed', async () => (await containers()).length === 0);
});

test('a worker killed during a server outage, its container running, delivers what it spooled, then re-attaches', async (t) => {
  const port = await freePort();
  let ts = await scenarioServer(t, { port, settings: LONG_LEASES });
  const dir = await tempDir(t, 'reattach-spooled');
  const stateDir = join(dir, 'state');
  const LINES = 40;
  const args = ['--name', 'spooler', '--state-dir', stateDir, '--docker', 'on', '-c', '1', '--tags', 'spooled'];
  const first = processWorker(t, ts, args);
  const { docker, taskId, x, containers } = await startLines(t, ts, 'spooled',
    `i=1; while [ $i -le ${LINES} ]; do echo "line $i"; i=$((i+1)); sleep 0.2; done`);

  await ts.close();
  await spooledPastServer(ts, stateDir, x);
  first.child.kill('SIGKILL');
  await first.exited;
  const [container] = await containers();
  assert.equal((await docker.getContainer(container!.Id).inspect()).State.Running, true, 'the container still runs');

  ts = await scenarioServer(t, { databaseUrl: ts.databaseUrl, port, settings: LONG_LEASES });
  const second = processWorker(t, ts, args);
  await endedOnce(ts, taskId, x, Array.from({ length: LINES }, (_, i) => `line ${i + 1}`), second.output);
  await until('the spool to be empty', async () => (await readdir(join(stateDir, 'spool'))).length === 0);
  await until('the container to be removed', async () => (await containers()).length === 0);
});
