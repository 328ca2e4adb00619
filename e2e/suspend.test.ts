// Suspend and continue with real worker daemons: a bare task (SIGSTOP/SIGCONT to its
// process group, through the CLI) and a Docker task (pause/unpause) stop producing output
// while suspended and go on to succeed once continued; a task suspended before it starts is
// suspended as soon as it does; a suspended task can still be killed; a daemon restarted
// while its container is paused keeps it paused, or lets it go on if it was continued
// meanwhile: what the server lists is what it converges to. Each task counts
// every 100 ms to its output and to a file: the file is written synchronously, so once the
// process is seen stopped (or the container paused) it is exact, while the output reaches
// the server a little later; the task writes the file first, so its output never has
// more lines than the file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import { ensureTestImage } from './support/images.js';
import { startTestServer, type TestServer } from './support/server.js';
import { sql } from 'slonik';
import { processWorker } from './support/scenario.js';
import { CLI, startTestWorker, taskEnded, until } from './support/worker.js';
import { bareTaskGroups } from '../worker/orphans.js';
import { processStat } from '../worker/procStat.js';

const run = promisify(execFile);
/** How long a suspended task is watched for output that should not come: long enough for ten lines of a running one. */
const QUIET_WINDOW_MS = 1000;

let ts: TestServer;
let dir: string;
let image: string;
const docker = new Dockerode();
const workers: { stop(): Promise<void> }[] = [];

before(async () => {
  // Without an engine this fails, saying how to get one.
  image = await ensureTestImage(docker);
  ts = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'labq-suspend-'));
  // The counting tasks mount a folder of it: the Docker policy allows binds below it only.
  await ts.client.putDockerPolicy({ allowed_mount_prefixes: [dir] });
});
after(async () => {
  // A test that failed half-way may leave a counting task behind: let it end.
  await Promise.all(gates.map((gate) => writeFile(gate, '').catch(() => undefined)));
  for (const w of workers) await w.stop();
  await ts?.close();
});

async function worker(options: Parameters<typeof startTestWorker>[1]) {
  const stateDir = await mkdtemp(join(tmpdir(), 'labq-worker-'));
  const w = await startTestWorker(ts, { stateDir, ...options });
  workers.push(w);
  return Object.assign(w, { stateDir });
}

/** The gates of the counting tasks on the host, as seen by the test. */
const gates: string[] = [];

/**
 * A task that counts to `counts` (a file it appends to first) and to its output until `gate`
 * exists; `hostGate` is where the test sees the gate (for a container, through its mount).
 */
function counter(counts: string, gate: string, hostGate = gate): string {
  gates.push(hostGate);
  return `i=0; while [ ! -e ${gate} ]; do echo $i >> ${counts}; echo $i; i=$((i+1)); sleep 0.1; done`;
}

const lines = (text: string) => text.split('\n').filter(Boolean);
const counted = async (file: string) => lines(await readFile(file, 'utf8').catch(() => ''));
const output = async (taskId: number) => lines(await ts.client.executionOutput((await ts.client.getTask(taskId)).execution_id!));
const numbersTo = (n: number) => Array.from({ length: n }, (_, i) => String(i));

/** The process group of a bare task (its leader's pid), found as the worker finds its orphans. */
async function bareProcess(stateDir: string, executionId: number): Promise<number> {
  return until(`execution ${executionId}'s process`, async () => (await bareTaskGroups(resolve(stateDir, 'work'), executionId))[0]);
}

/**
 * Whether a process group is stopped: some of its processes are stopped by a signal (state
 * T) and none runs. A shell caught in a vfork (dash starts commands so) waits, in state D,
 * for its child, stopped before its exec: the group is still frozen.
 */
async function groupStopped(pgid: number): Promise<boolean> {
  const states: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const [state, , group] = (await processStat(entry)) ?? [];
    if (Number(group) === pgid) states.push(state!);
  }
  return states.includes('T') && states.every((state) => state === 'T' || state === 'D');
}

async function container(executionId: number): Promise<Dockerode.Container> {
  const id = await until(`execution ${executionId}'s container`, async () =>
    (await docker.listContainers({ all: true, filters: { label: [`labq.execution=${executionId}`] } }))[0]?.Id);
  return docker.getContainer(id);
}

/** A counting task in a container, for workers of `tag`, once it counts: its count and gate are in a folder of the host it mounts. */
async function countingContainer(tag: string) {
  const shared = join(dir, tag);
  await mkdir(shared);
  const { tasks: [t] } = await ts.client.submitTasks({
    command: counter('/shared/counts', '/shared/gate', join(shared, 'gate')), container: image, container_options: [`--volume=${shared}:/shared`], tag,
  });
  const counts = join(shared, 'counts');
  await until('it to count', async () => (await counted(counts)).length >= 3);
  const x = (await ts.client.getTask(t!.id)).execution_id!;
  return { t, x, c: await container(x), counts, gate: join(shared, 'gate') };
}

/**
 * Once the task is seen suspended: its count does not move over a window, and its output
 * at the server never gets ahead of it.
 */
async function staysQuiet(counts: string, taskId: number): Promise<number> {
  const before = await counted(counts);
  await sleep(QUIET_WINDOW_MS);
  assert.deepEqual(await counted(counts), before, 'a suspended task counts no further');
  const seen = await output(taskId);
  assert.ok(seen.length <= before.length, `its output (${seen.length} lines) is no further than its count (${before.length})`);
  assert.deepEqual(seen, numbersTo(seen.length));
  return before.length;
}

/** Continued, it counts on; then the gate opens, it succeeds, and its output is every number once. */
async function goesOnAndSucceeds(counts: string, gate: string, taskId: number, quietAt: number): Promise<void> {
  await until('it to count on', async () => (await counted(counts)).length > quietAt + 2);
  await writeFile(gate, '');
  const ended = await taskEnded(ts, taskId);
  assert.equal(ended.status, 'succeeded');
  const all = await counted(counts);
  assert.deepEqual(await output(taskId), all);
  assert.deepEqual(all, numbersTo(all.length), 'nothing lost, nothing repeated');
}

test('a bare task suspended with `labq task suspend` stops, and goes on to succeed after `labq task continue`', async () => {
  const w = await worker({ tags: ['bare'] });
  const counts = join(dir, 'bare.counts');
  const gate = join(dir, 'bare.gate');
  const { tasks: [t] } = await ts.client.submitTasks({ command: counter(counts, gate), tag: 'bare' });
  const x = await until('it to run', async () => (await ts.client.getTask(t!.id)).status === 'running' && (await ts.client.getTask(t!.id)).execution_id!);
  const pid = await bareProcess(w.stateDir, x);
  await until('it to count', async () => (await counted(counts)).length >= 3);

  const labq = (...args: string[]) => run(process.execPath, [CLI, '--server', ts.url, '--token', ts.token, 'task', ...args]);
  assert.equal((await labq('suspend', String(t!.id))).stdout, `task ${t!.id}: suspend requested (execution ${x})\n`);
  await until('its process group to be stopped', () => groupStopped(pid));
  assert.equal((await ts.client.getTask(t!.id)).status, 'running', 'suspended is not a status of the task');
  const quietAt = await staysQuiet(counts, t!.id);

  assert.equal((await labq('continue', String(t!.id))).stdout, `task ${t!.id}: continue requested (execution ${x})\n`);
  await goesOnAndSucceeds(counts, gate, t!.id, quietAt);
  const requested = (await ts.client.taskEvents(t!.id)).items.map((e) => e.type).filter((type) => type.endsWith('_requested'));
  assert.deepEqual(requested, ['execution.suspend_requested', 'execution.continue_requested']);
  assert.ok(w.logs.some((line) => line === `execution ${x}: suspended`) && w.logs.some((line) => line === `execution ${x}: continued`));

  const refused = await labq('suspend', String(t!.id), '999999').catch((error) => error);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`^labq: task ${t!.id} is succeeded: it has no live execution; task 999999 does not exist\n$`));
  assert.equal(refused.stdout, '', 'nothing done: nothing on stdout');
});

test('a Docker task is paused while suspended, and goes on to succeed once continued', async () => {
  await worker({ tags: ['docker'], docker: 'on' });
  const { t, x, c, counts, gate } = await countingContainer('docker');

  assert.deepEqual(await ts.client.suspendTask(t!.id), { result: 'suspend_requested', execution_id: x });
  await until('its container to be paused', async () => (await c.inspect()).State.Paused);
  const quietAt = await staysQuiet(counts, t!.id);

  assert.deepEqual(await ts.client.continueTask(t!.id), { result: 'continue_requested', execution_id: x });
  await goesOnAndSucceeds(counts, gate, t!.id, quietAt);
});

test('a task suspended before it starts is suspended as soon as it starts', async () => {
  // One run slot and one task ahead: the second is handed out and waits for the slot.
  const w = await worker({ tags: ['early'], concurrency: 1, prefetch: 1 });
  const ahead = join(dir, 'early.ahead');
  const { tasks: [first] } = await ts.client.submitTasks({ command: `while [ ! -e ${ahead} ]; do sleep 0.05; done`, tag: 'early' });
  await until('the first to run', async () => (await ts.client.getTask(first!.id)).status === 'running');
  const counts = join(dir, 'early.counts');
  const gate = join(dir, 'early.gate');
  const { tasks: [t] } = await ts.client.submitTasks({ command: counter(counts, gate), tag: 'early' });
  const x = await until('the second to be handed out', async () => (await ts.client.getTask(t!.id)).execution_id ?? undefined);
  assert.equal((await ts.client.suspendTask(t!.id)).result, 'suspend_requested');
  const executions = (w as unknown as { executions: Map<number, { suspended: boolean }> }).executions;
  await until('its worker to hold it suspended', async () => executions.get(x)?.suspended);
  assert.ok(['assigned', 'downloading', 'ready'].includes((await ts.client.getTask(t!.id)).status), 'it has not started');

  await writeFile(ahead, '');
  const pid = await bareProcess(w.stateDir, x);
  await until('its process group to be stopped', () => groupStopped(pid));
  const quietAt = await staysQuiet(counts, t!.id);
  await ts.client.continueTask(t!.id);
  await goesOnAndSucceeds(counts, gate, t!.id, quietAt);
});

test('a suspended task can be killed: bare and Docker tasks end killed', async () => {
  const bare = await worker({ tags: ['kill-bare'] });
  await worker({ tags: ['kill-docker'], docker: 'on' });
  const { tasks: [b, d] } = await ts.client.submitTasks({
    tasks: [
      { command: counter(join(dir, 'kill.counts'), join(dir, 'kill.never')), tag: 'kill-bare' },
      { command: 'trap "exit 143" TERM; while true; do sleep 0.1; done', container: image, tag: 'kill-docker' },
    ],
  });
  const running = (id: number) => until(`task ${id} to run`, async () => {
    const task = await ts.client.getTask(id);
    return task.status === 'running' && task.execution_id!;
  });
  const [bx, dx] = [await running(b!.id), await running(d!.id)];
  const pid = await bareProcess(bare.stateDir, bx);
  const c = await container(dx);
  await ts.client.suspendTask(b!.id);
  await ts.client.suspendTask(d!.id);
  await until('the bare task\'s process group to be stopped', () => groupStopped(pid));
  await until('the container to be paused', async () => (await c.inspect()).State.Paused);

  // A long grace: each must end by the TERM, which reaches it only once it goes on.
  assert.deepEqual(await ts.client.killTask(b!.id, 300), { result: 'kill_requested' });
  assert.deepEqual(await ts.client.killTask(d!.id, 300), { result: 'kill_requested' });
  for (const id of [b!.id, d!.id]) {
    assert.equal((await taskEnded(ts, id)).status, 'cancelled');
    const x = (await ts.client.getTask(id)).executions[0]!;
    assert.deepEqual([x.status, x.suspended], ['killed', false], 'killed while suspended: an attempt that ended is not suspended');
  }
  assert.throws(() => process.kill(-pid, 0), 'the process group is gone');
  await assert.rejects(c.inspect(), 'the container was removed');
  await assert.rejects(ts.client.suspendTask(b!.id), /409/);
});

test('a daemon restarted while its container is paused keeps it paused, and lets it go on if it was continued meanwhile', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'labq-worker-'));
  const args = ['--name', 'suspend-restarts', '--state-dir', stateDir, '--docker', 'on', '--tags', 'restarts'];
  let daemon = processWorker(t, ts, args);
  const { t: t1, x, c, counts, gate } = await countingContainer('restarts');
  const workerId = (await ts.client.getExecution(x)).worker_id;
  await ts.client.suspendTask(t1!.id);
  await until('its container to be paused', async () => (await c.inspect()).State.Paused);

  /** Kills the daemon (-9: nothing of it is left to act), runs `meanwhile`, starts it again and waits for its second answered poll. */
  const restart = async (meanwhile: () => Promise<unknown>) => {
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    await meanwhile();
    const registered = (await ts.client.getWorker(workerId)).version;
    daemon = processWorker(t, ts, args);
    await until('the daemon to register again and exchange twice', async () =>
      (await ts.client.getWorker(workerId)).version > registered &&
      Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT poll_seq FROM worker_liveness WHERE worker_id = ${workerId}`)) >= 2);
    assert.match(daemon.output(), new RegExp(`re-attaching to the container of execution ${x}`));
  };

  const quietAt = await staysQuiet(counts, t1!.id);
  await restart(async () => undefined);
  assert.equal((await c.inspect()).State.Paused, true, 'still suspended: the server still lists it');
  assert.equal((await counted(counts)).length, quietAt, 'not let go on, even for a moment, before the server had its say');

  await restart(() => ts.client.continueTask(t1!.id));
  await goesOnAndSucceeds(counts, gate, t1!.id, quietAt);
  assert.deepEqual((await ts.client.getTask(t1!.id)).executions.map((e) => e.status), ['succeeded'], 'never lost');
});

test('a step paused with signal suspend stops its running task; resumed, the task goes on and succeeds', async () => {
  const w = await worker({ tags: ['pause-suspend'] });
  const step = await ts.client.createStep({ workflow_id: (await ts.client.createWorkflow({ name: 'pause-suspend' })).id, name: 'count' });
  const counts = join(dir, 'pause.counts');
  const gate = join(dir, 'pause.gate');
  const { tasks: [t] } = await ts.client.submitTasks({ command: counter(counts, gate), tag: 'pause-suspend', step_id: step.id });
  const x = await until('it to run', async () => (await ts.client.getTask(t!.id)).status === 'running' && (await ts.client.getTask(t!.id)).execution_id!);
  const pid = await bareProcess(w.stateDir, x);
  await until('it to count', async () => (await counted(counts)).length >= 3);

  const paused = await ts.client.call('pauseStep', { params: { id: step.id }, body: { signal: 'suspend' } });
  assert.deepEqual(paused, { paused: true, changed: true, tasks: 1, signalled: 1 });
  await until('its process group to be stopped', () => groupStopped(pid));
  const quietAt = await staysQuiet(counts, t!.id);

  const resumed = await ts.client.call('resumeStep', { params: { id: step.id } });
  assert.deepEqual(resumed, { paused: false, changed: true, tasks: 1, signalled: 1 });
  await goesOnAndSucceeds(counts, gate, t!.id, quietAt);
  const types = (await ts.client.taskEvents(t!.id)).items.map((e) => e.type);
  assert.ok(types.includes('execution.suspend_requested') && types.includes('execution.continue_requested'), `${types}`);
});
