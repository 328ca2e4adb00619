// Steering while it runs, with real worker daemons (bare tasks): an edit that reaches a task
// assigned but not started, a relaunch of a step's failed tasks in one request, a
// dependency chain that fails, is relaunched and recovers, a paused step while another
// keeps running, hold and release, a pause that sends TERM and requeues, cancel of a step.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from './support/server.js';
import { CLI, startTestWorker, taskEnded, until } from './support/worker.js';

const run = promisify(execFile);

let ts: TestServer;
let dir: string;
const workers: { stop(): Promise<void> }[] = [];

before(async () => {
  ts = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'labq-steering-'));
});
after(async () => {
  for (const w of workers) await w.stop();
  await ts.close();
});

async function worker(options: Parameters<typeof startTestWorker>[1]) {
  const w = await startTestWorker(ts, options);
  workers.push(w);
  return w;
}

const status = async (id: number) => (await ts.client.getTask(id)).status;
const statusIs = (id: number, wanted: string) =>
  until(`task ${id} to be ${wanted}`, async () => (await status(id)) === wanted).catch(async (error) => {
    const events = (await ts.client.taskEvents(id)).items.map((e) => e.type);
    throw new Error(`${(error as Error).message}: it is ${await status(id)}, its events ${events.join(', ')}`);
  });
const outputOf = async (id: number) => {
  const task = await ts.client.getTask(id);
  return ts.client.executionOutput(task.executions.at(-1)!.id);
};

async function step(name: string) {
  const workflow = await ts.client.createWorkflow({ name: `wf-${name}` });
  return { workflow: workflow.id, step: (await ts.client.createStep({ workflow_id: workflow.id, name })).id };
}

test('an edit reaches a task assigned but not started: its attempt is cancelled and the new command runs', async () => {
  // One slot and one prefetched task: the second task is assigned to the worker while the first runs.
  await worker({ tags: ['prefetch'], concurrency: 1, prefetch: 1 });
  const gate = join(dir, 'gate-prefetch');
  const { tasks: [first, second] } = await ts.client.submitTasks({
    tasks: [
      { command: `while [ ! -e ${gate} ]; do sleep 0.05; done`, tag: 'prefetch' },
      { command: 'echo old', tag: 'prefetch' },
    ],
  });
  await statusIs(first!.id, 'running');
  await statusIs(second!.id, 'assigned');
  const before = await ts.client.getTask(second!.id);

  const result = await ts.client.call('editTask', { params: { id: second!.id }, body: { replace: { find: 'old', with: 'new' } } });
  assert.equal(result.changed, 1);
  assert.deepEqual(result.sample, [{ id: second!.id, before: { command: 'echo old' }, after: { command: 'echo new' } }]);
  const edited = await ts.client.getTask(second!.id);
  assert.equal(edited.command, 'echo new');
  assert.equal(edited.executions[0]!.status, 'cancelled', 'the attempt assigned with the old definition is cancelled');

  await writeFile(gate, '');
  const done = await taskEnded(ts, second!.id);
  assert.equal(done.status, 'succeeded');
  assert.equal(await outputOf(second!.id), 'new\n', 'the new definition ran');
  const history = (await ts.client.getTask(second!.id)).executions;
  assert.deepEqual(history.map((x) => x.status), ['cancelled', 'succeeded']);
  assert.equal(history[0]!.id, before.execution_id);
  const types = (await ts.client.taskEvents(second!.id)).items.map((e) => e.type);
  assert.ok(types.indexOf('execution.cancelled') < types.indexOf('task.edited'), `${types}`);
  const edit = (await ts.client.taskEvents(second!.id)).items.find((e) => e.type === 'task.edited')!;
  assert.deepEqual(edit.data.before, { command: 'echo old' });
  assert.deepEqual(edit.data.after, { command: 'echo new' });
  assert.match(String(edit.meta.actor), /^admin/, 'the event names who edited');
});

test("a relaunch of every failed task of a step in one request: new attempts, history kept, retry count restarted", async () => {
  await worker({ tags: ['relaunch'], concurrency: 4 });
  const { step: s } = await step('relaunch');
  const fixed = join(dir, 'fixed-relaunch');
  const { tasks } = await ts.client.submitTasks({
    tasks: [
      ...Array.from({ length: 3 }, (_, i) => ({ command: `test -e ${fixed} || exit ${10 + i}`, tag: 'relaunch', step_id: s })),
      { command: 'true', tag: 'relaunch', step_id: s },
    ],
  });
  const ended = await Promise.all(tasks.map((t) => taskEnded(ts, t.id)));
  assert.deepEqual(ended.map((t) => t.status), ['failed', 'failed', 'failed', 'succeeded']);

  await writeFile(fixed, '');
  const result = await ts.client.call('relaunchTasks', { body: { filter: { step_id: s, status: ['failed'] } } });
  assert.equal(result.matched, 3);
  assert.deepEqual(result.task_ids, tasks.slice(0, 3).map((t) => t.id));
  for (const t of tasks.slice(0, 3)) {
    const done = await taskEnded(ts, t.id);
    assert.equal(done.status, 'succeeded');
    const detail = await ts.client.getTask(t.id);
    assert.deepEqual(detail.executions.map((x) => x.status), ['failed', 'succeeded']);
    assert.equal(detail.attempts, 2);
  }
  assert.equal((await ts.client.getTask(tasks[3]!.id)).attempts, 1, 'the succeeded task was not matched');
  const relaunched = (await ts.client.taskEvents(tasks[0]!.id)).items.find((e) => e.type === 'task.relaunched')!;
  assert.deepEqual(relaunched.data, { reason: 'relaunched by a user', status: 'pending', retry_base: 1, paused: false });

  // The retry count starts again: max_retries 1 gives one more retry after a relaunch.
  const flaky = join(dir, 'flaky');
  const { tasks: [retried] } = await ts.client.submitTasks({ command: `echo x >> ${flaky}; [ $(wc -l < ${flaky}) -ge 4 ]`, tag: 'relaunch', max_retries: 1 });
  assert.equal((await taskEnded(ts, retried!.id)).status, 'failed');
  await ts.client.call('relaunchTask', { params: { id: retried!.id }, body: {} });
  const again = await taskEnded(ts, retried!.id);
  assert.equal(again.status, 'succeeded', 'a failure after the relaunch was retried once more');
  assert.deepEqual((await ts.client.getTask(retried!.id)).executions.map((x) => x.status), ['failed', 'failed', 'failed', 'succeeded']);
});

test('a dependency chain fails, is relaunched and recovers; a task that accepts failures runs anyway', async () => {
  await worker({ tags: ['chain'], concurrency: 2 });
  const fixed = join(dir, 'fixed-chain');
  const { tasks: [a] } = await ts.client.submitTasks({ command: `test -e ${fixed}`, tag: 'chain' });
  const { tasks: [b] } = await ts.client.submitTasks({ command: 'echo b', tag: 'chain', depends_on: [a!.id] });
  const { tasks: [c] } = await ts.client.submitTasks({ command: 'echo c', tag: 'chain', depends_on: [b!.id] });
  const { tasks: [cleanup] } = await ts.client.submitTasks({ command: 'echo cleanup', tag: 'chain', depends_on: [a!.id], accept_failure: true });
  assert.equal((await taskEnded(ts, a!.id)).status, 'failed');
  await statusIs(b!.id, 'blocked');
  await statusIs(c!.id, 'blocked');
  assert.equal((await taskEnded(ts, cleanup!.id)).status, 'succeeded', 'accept_failure: it ran after its dependency failed');

  await writeFile(fixed, '');
  await ts.client.call('relaunchTask', { params: { id: a!.id }, body: {} });
  for (const t of [a, b, c]) assert.equal((await taskEnded(ts, t!.id)).status, 'succeeded');
  // By position: the history's order is the log's commit-safe one, by transaction id, and a
  // dependency's failure may block this task from a transaction older than its submission.
  const history = (await ts.client.taskEvents(c!.id)).items.sort((x, y) => x.position - y.position);
  // Blocked when its dependency failed, or from the start if that had happened already.
  const types = history.map((e) => (e.type === 'task.submitted' && e.data.status === 'blocked' ? 'task.blocked' : e.type)).filter((t) => t !== 'task.submitted');
  assert.deepEqual(types.slice(0, 3), ['task.blocked', 'task.unblocked', 'task.released']);
  assert.equal(await outputOf(c!.id), 'c\n');
});

test('relaunching a dependency makes its released dependents that have not started wait for it again', async () => {
  await worker({ tags: ['unrel'], concurrency: 2 });
  const { tasks: [a] } = await ts.client.submitTasks({ command: 'true', tag: 'unrel' });
  // No worker takes their tag: released, they stay pending.
  const { tasks: [b] } = await ts.client.submitTasks({ command: 'echo b', tag: 'unrel-idle', depends_on: [a!.id] });
  const { tasks: [d] } = await ts.client.submitTasks({ command: 'echo d', tag: 'unrel-idle', depends_on: [a!.id], accept_failure: true });
  assert.equal((await taskEnded(ts, a!.id)).status, 'succeeded');
  await statusIs(b!.id, 'pending');
  await statusIs(d!.id, 'pending');

  await ts.client.call('editTask', { params: { id: a!.id }, body: { set: { command: 'exit 3' } } });
  await ts.client.call('relaunchTask', { params: { id: a!.id }, body: {} });
  // In the relaunch's own transaction: no worker may take them in between.
  assert.deepEqual([await status(b!.id), await status(d!.id)], ['waiting', 'waiting']);
  const unreleased = (await ts.client.taskEvents(b!.id)).items.find((e) => e.type === 'task.unreleased');
  assert.deepEqual(unreleased?.data, { dependency: a!.id });
  assert.equal((await taskEnded(ts, a!.id)).status, 'failed');
  await statusIs(b!.id, 'blocked');
  await statusIs(d!.id, 'pending');
  assert.equal((await ts.client.getTask(b!.id)).executions.length, 0, 'it never ran on a dependency that failed');
});

test('a kill asked for again with a shorter grace brings the KILL forward; the same order again changes nothing', async () => {
  await worker({ tags: ['escalate'], concurrency: 2 });
  // Ignores TERM, as a hung program may (it says it got one): only the KILL ends it.
  const stubborn = (tag: string) => ({ command: `trap 'echo got-term' TERM; echo started; while :; do sleep 0.1; done`, tag });
  const { tasks: [a, b] } = await ts.client.submitTasks({ tasks: [stubborn('escalate'), stubborn('escalate')] });
  for (const t of [a!, b!]) await statusIs(t.id, 'running');
  const orders = async (id: number) => (await ts.client.taskEvents(id)).items.filter((e) => e.type === 'execution.kill_requested').map((e) => e.data.grace_seconds);

  const cancelled = await ts.client.call('cancelTasks', { body: { filter: { ids: [a!.id] }, grace_seconds: 3600 } });
  assert.equal(cancelled.changed, 1);
  const same = await ts.client.call('cancelTasks', { body: { filter: { ids: [a!.id] }, grace_seconds: 3600 } });
  assert.deepEqual(same.skipped.map((g) => g.reason), ['already being killed'], 'the same order again');
  await ts.client.call('killTask', { params: { id: a!.id }, body: { grace_seconds: 3600 } });
  assert.deepEqual(await orders(a!.id), [3600], 'a kill no sooner than the order under way writes nothing');
  const sooner = await ts.client.call('cancelTasks', { body: { filter: { ids: [a!.id] }, grace_seconds: 0 } });
  assert.equal(sooner.changed, 1);
  assert.deepEqual(await orders(a!.id), [3600, 0]);
  assert.equal((await taskEnded(ts, a!.id)).status, 'cancelled');

  await ts.client.call('killTask', { params: { id: b!.id }, body: { grace_seconds: 3600 } });
  await until('the worker to carry out the first order', async () => (await outputOf(b!.id)).includes('got-term'));
  await ts.client.call('killTask', { params: { id: b!.id }, body: { grace_seconds: 1 } });
  assert.deepEqual(await orders(b!.id), [3600, 1]);
  const ended = await taskEnded(ts, b!.id);
  assert.equal(ended.executions.at(-1)!.status, 'killed');
});

test('a paused step is not claimed while another step keeps running; resumed, it runs', async () => {
  await worker({ tags: ['steps'], concurrency: 2 });
  const paused = await step('paused');
  const other = await step('other');
  const pause = await ts.client.call('pauseStep', { params: { id: paused.step }, body: {} });
  assert.deepEqual(pause, { paused: true, changed: true, tasks: 0, signalled: 0 });
  assert.equal((await ts.client.getStep(paused.step)).paused, true);
  const { tasks: held } = await ts.client.submitTasks({ tasks: [1, 2, 3].map((i) => ({ command: `echo ${i}`, tag: 'steps', step_id: paused.step })) });
  const { tasks: free } = await ts.client.submitTasks({ tasks: [1, 2, 3].map((i) => ({ command: `echo ${i}`, tag: 'steps', step_id: other.step })) });
  for (const t of free) assert.equal((await taskEnded(ts, t.id)).status, 'succeeded');
  for (const t of held) {
    const task = await ts.client.getTask(t.id);
    assert.equal(task.status, 'pending');
    assert.equal(task.paused, true);
    assert.equal(task.executions.length, 0);
  }
  assert.deepEqual((await ts.client.call('listPauses')).items.map((p) => [p.scope, p.step_id]), [['step', paused.step]]);

  const resume = await ts.client.call('resumeStep', { params: { id: paused.step } });
  assert.deepEqual(resume, { paused: false, changed: true, tasks: 3, signalled: 0 });
  for (const t of held) assert.equal((await taskEnded(ts, t.id)).status, 'succeeded');
});

test('a pause of a tag with TERM stops what runs and queues it again; the resume runs it anew', async () => {
  await worker({ tags: ['term'], concurrency: 1 });
  const marker = join(dir, 'term-once');
  const { tasks: [long] } = await ts.client.submitTasks({
    command: `if [ -e ${marker} ]; then echo second; exit 0; fi; touch ${marker}; echo first; sleep 600`, tag: 'term',
  });
  await statusIs(long!.id, 'running');
  await until('the first run to print', async () => (await outputOf(long!.id)) === 'first\n');
  const pause = await ts.client.call('pauseQueue', { body: { tag: 'term', signal: 'term', grace_seconds: 5 } });
  assert.deepEqual(pause, { paused: true, changed: true, tasks: 1, signalled: 1 });
  await until('the task to be queued again, paused', async () => {
    const task = await ts.client.getTask(long!.id);
    return task.status === 'pending' && task.paused && task.executions[0]!.status === 'killed';
  });
  await ts.client.call('resumeQueue', { body: { tag: 'term' } });
  assert.equal((await taskEnded(ts, long!.id)).status, 'succeeded');
  assert.equal(await outputOf(long!.id), 'second\n');
});

test('a pause with KILL hurries a pause with TERM whose task outlives the TERM; a TERM pause with a longer grace changes nothing', async () => {
  await worker({ tags: ['hurry'], concurrency: 1 });
  const { tasks: [stubborn] } = await ts.client.submitTasks({
    command: `trap 'echo got TERM' TERM; echo started; while :; do sleep 1 & wait; done`, tag: 'hurry',
  });
  await statusIs(stubborn!.id, 'running');
  await until('the task to print', async () => (await outputOf(stubborn!.id)) === 'started\n');
  const term = await ts.client.call('pauseQueue', { body: { tag: 'hurry', signal: 'term', grace_seconds: 600 } });
  assert.deepEqual(term, { paused: true, changed: true, tasks: 1, signalled: 1 });
  await until('the task to outlive its TERM', async () => (await outputOf(stubborn!.id)).includes('got TERM'));
  const later = await ts.client.call('pauseQueue', { body: { tag: 'hurry', signal: 'term', grace_seconds: 900 } });
  assert.equal(later.signalled, 0, 'an order whose KILL would come later is no news');
  assert.equal(await status(stubborn!.id), 'running');
  const kill = await ts.client.call('pauseQueue', { body: { tag: 'hurry', signal: 'kill' } });
  assert.deepEqual(kill, { paused: true, changed: false, tasks: 0, signalled: 1 });
  await until('the task to be queued again, paused', async () => {
    const task = await ts.client.getTask(stubborn!.id);
    return task.status === 'pending' && task.paused && task.executions[0]!.status === 'killed';
  });
  const orders = (await ts.client.taskEvents(stubborn!.id)).items.filter((e) => e.type === 'execution.kill_requested');
  assert.deepEqual(orders.map((e) => [e.data.grace_seconds, e.data.requeue]), [[600, true], [0, true]]);
  await ts.client.call('cancelTask', { params: { id: stubborn!.id }, body: {} });
});

test('hold and release: a held task waits while others run; released, it runs', async () => {
  await worker({ tags: ['hold'], concurrency: 1 });
  const gate = join(dir, 'gate-hold');
  const { tasks: [blocker, kept, other] } = await ts.client.submitTasks({
    tasks: [{ command: `while [ ! -e ${gate} ]; do sleep 0.05; done`, tag: 'hold' }, { command: 'echo kept', tag: 'hold' }, { command: 'echo other', tag: 'hold' }],
  });
  await statusIs(blocker!.id, 'running');
  const held = await ts.client.call('holdTasks', { body: { filter: { ids: [kept!.id, blocker!.id] }, reason: 'checking inputs' } });
  assert.equal(held.changed, 1);
  assert.deepEqual(held.skipped, [{ reason: 'running: it has started (suspend or cancel it instead)', count: 1, task_ids: [blocker!.id] }]);
  await writeFile(gate, '');
  assert.equal((await taskEnded(ts, other!.id)).status, 'succeeded');
  assert.equal(await status(kept!.id), 'held');
  await assert.rejects(ts.client.call('holdTask', { params: { id: kept!.id }, body: {} }), /already held/);
  await ts.client.call('releaseTask', { params: { id: kept!.id }, body: {} });
  assert.equal((await taskEnded(ts, kept!.id)).status, 'succeeded');
  const types = (await ts.client.taskEvents(kept!.id)).items.map((e) => e.type);
  assert.deepEqual(types.slice(0, 3), ['task.submitted', 'task.held', 'task.released']);
});

test('cancel a step: pending work is cancelled, running work is killed, its dependents blocked', async () => {
  await worker({ tags: ['cancel'], concurrency: 1 });
  const s = await step('cancel');
  const { tasks: [running, pending] } = await ts.client.submitTasks({
    tasks: [{ command: 'sleep 600', tag: 'cancel', step_id: s.step }, { command: 'true', tag: 'cancel', step_id: s.step }],
  });
  const { tasks: [dependent] } = await ts.client.submitTasks({ command: 'true', tag: 'cancel', depends_on: [pending!.id] });
  await statusIs(running!.id, 'running');
  const result = await ts.client.call('cancelStep', { params: { id: s.step }, body: { grace_seconds: 1 } });
  assert.equal(result.changed, 2);
  assert.equal((await taskEnded(ts, running!.id)).status, 'cancelled');
  assert.equal((await ts.client.getTask(running!.id)).executions[0]!.status, 'killed');
  assert.equal(await status(pending!.id), 'cancelled');
  assert.equal(await status(dependent!.id), 'blocked');
  const again = await ts.client.call('cancelStep', { params: { id: s.step }, body: {} });
  assert.deepEqual([again.matched, again.changed, again.skipped], [0, 0, []], 'ended tasks are not what a step\'s cancel matches');
  await assert.rejects(ts.client.call('cancelStep', { params: { id: 999_999 }, body: {} }), (e: any) => e.status === 404);
  await assert.rejects(ts.client.call('cancelWorkflow', { params: { id: 999_999 }, body: {} }), (e: any) => e.status === 404);
});

test('a task that depends on a whole step waits for every task the step holds', async () => {
  await worker({ tags: ['merge'], concurrency: 2 });
  const s = await step('align');
  const gate = join(dir, 'gate-merge');
  const { tasks: aligned } = await ts.client.submitTasks({
    tasks: [1, 2, 3].map((i) => ({ command: `while [ ! -e ${gate} ]; do sleep 0.05; done; echo S${i}`, tag: 'merge', step_id: s.step })),
  });
  const { tasks: [merge] } = await ts.client.submitTasks({ command: 'echo merged', tag: 'merge', depends_on_steps: [s.step] });
  const merged = await ts.client.getTask(merge!.id);
  assert.equal(merged.status, 'waiting');
  assert.deepEqual(merged.depends_on, aligned.map((t) => t.id), "the step's tasks joined its dependencies");
  assert.equal((await ts.client.call('whyTask', { params: { id: merge!.id } })).reasons[0]!.code, 'dependencies');
  await writeFile(gate, '');
  assert.equal((await taskEnded(ts, merge!.id)).status, 'succeeded');
  for (const t of aligned) assert.equal((await ts.client.getTask(t.id)).status, 'succeeded');

  await assert.rejects(ts.client.submitTasks({ command: 'true', depends_on_steps: [999_999] }), /depends_on_steps\[0\]|step 999999 does not exist/);
});

test('the CLI steers by ids and filters, and fails when a task named by id is left as it was', async () => {
  const labq = (...args: string[]) =>
    run(process.execPath, [CLI, '--server', ts.url, '--token', ts.token, ...args]).then(
      ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    );
  const s = await step('cli');
  const { tasks } = await ts.client.submitTasks({ tasks: [1, 2].map((i) => ({ command: `echo v1 ${i}`, tag: 'cli-nobody', step_id: s.step })) });
  const [a, b] = tasks.map((t) => String(t.id));

  const held = await labq('task', 'hold', a!, '--reason', 'checking');
  assert.equal(held.code, 0, held.stderr);
  assert.match(held.stdout, new RegExp(`^held 1 of 1 matched task\\(s\\): ${a}`));
  const again = await labq('task', 'hold', a!);
  assert.equal(again.code, 1, 'nothing changed for a task named by id: status 1');
  assert.match(again.stderr, /already held/);
  // With --json, the answer all the same, for a script to read why; the status still says.
  const againJson = await labq('--json', 'task', 'hold', a!);
  assert.equal(againJson.code, 1, againJson.stdout);
  assert.deepEqual(JSON.parse(againJson.stdout).skipped.map((s: { task_ids: number[] }) => s.task_ids), [[Number(a)]]);
  // An id no task has is named, not passed over: alone it is a failure, beside others a line of its own.
  const typo = await labq('task', 'hold', '999999');
  assert.equal(typo.code, 1, typo.stdout);
  assert.match(typo.stderr, /left 1: no such task \(999999\)/);
  const mixed = await labq('task', 'release', a!, '999999');
  assert.equal(mixed.code, 0, mixed.stderr);
  assert.match(mixed.stdout, new RegExp(`^released 1 of 1 matched task\\(s\\): ${a}\n  left 1: no such task \\(999999\\)`));
  await labq('task', 'hold', a!);
  const missing = await ts.client.call('holdTasks', { body: { filter: { ids: [Number(b), 999_998, 999_999] } } });
  assert.deepEqual([missing.matched, missing.changed, missing.skipped], [1, 1, [{ reason: 'no such task', count: 2, task_ids: [999_998, 999_999] }]]);
  await labq('task', 'release', b!);

  const dry = await labq('task', 'edit', '--step', String(s.step), '--find', 'v1', '--replace', 'v2', '--dry-run');
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would change 2 of 2/);
  assert.equal((await ts.client.getTask(Number(b))).command, 'echo v1 2', 'a dry run changes nothing');
  const noReplace = await labq('task', 'edit', b!, '--find', 'v1');
  assert.equal(noReplace.code, 1);
  assert.match(noReplace.stderr, /--find and --replace go together/);
  assert.equal((await labq('task', 'edit', '--step', String(s.step), '--find', 'v1', '--replace', 'v2')).code, 0);
  assert.equal((await ts.client.getTask(Number(b))).command, 'echo v2 2');
  // --set takes JSON where the field does, the text as typed where only text fits.
  const set = await labq('task', 'edit', b!, '--set', 'name=123', '--set', 'priority=5', '--set', 'env={"T":"8"}');
  assert.equal(set.code, 0, set.stderr);
  const edited = await ts.client.getTask(Number(b));
  assert.deepEqual([edited.name, edited.priority, edited.env], ['123', 5, { T: '8' }]);
  const badSet = await labq('task', 'edit', b!, '--set', 'priority=high');
  assert.equal(badSet.code, 1);
  assert.match(badSet.stderr, /--set priority: /, "named by the flag typed");

  assert.match((await labq('step', 'pause', String(s.step))).stdout, new RegExp(`^step ${s.step} paused`));
  assert.match((await labq('task', 'why', b!)).stdout, /paused: its step \d+ is paused/);
  assert.match((await labq('step', 'why', String(s.step))).stdout, /1 held/);
  // The tasks a step's why counts under a reason are those --why names, to list or to steer.
  const waitingFor = async (reason: string) =>
    JSON.parse((await labq('task', 'list', '--step', String(s.step), '--why', reason, '--json')).stdout).items.map((t: { id: number }) => String(t.id));
  assert.deepEqual([await waitingFor('held'), await waitingFor('paused'), await waitingFor('queued')], [[a], [b], []]);
  const holdPaused = await labq('task', 'hold', '--step', String(s.step), '--why', 'paused', '--reason', 'paused anyway');
  assert.equal(holdPaused.code, 0, holdPaused.stderr);
  assert.match(holdPaused.stdout, new RegExp(`^held 1 of 1 matched task\\(s\\): ${b}\n`));
  assert.deepEqual(await waitingFor('held'), [a, b]);
  for (const command of [['task', 'list'], ['task', 'release', '--step', String(s.step)]]) {
    const bad = await labq(...command, '--why', 'busy');
    assert.equal(bad.code, 1, bad.stdout);
    assert.match(bad.stderr, /^labq: 400 Invalid request\n {2}--why: /, 'named by the flag typed');
  }
  assert.deepEqual(await waitingFor('held'), [a, b], 'a refused release changes nothing');
  assert.match((await labq('step', 'resume', String(s.step))).stdout, new RegExp(`^step ${s.step}`));
  assert.equal((await labq('task', 'cancel', '--step', String(s.step))).code, 0);
  const waited = await labq('task', 'wait', a!, b!);
  assert.equal(waited.code, 1, 'cancelled tasks did not succeed');
  assert.match(waited.stderr, /did not succeed/);
  const unknownWait = await labq('task', 'wait', a!, '999999');
  assert.equal(unknownWait.code, 1);
  assert.match(unknownWait.stderr, /no such task: 999999/);
  const byStatus = await labq('task', 'wait', '--status', 'succeeded', '--step', String(s.step));
  assert.equal(byStatus.code, 1, 'refused, where it waited for ever');
  assert.match(byStatus.stderr, /--status, --failure-class and --why do not go with wait/);
  const byWhy = await labq('task', 'wait', '--why', 'held', '--step', String(s.step));
  assert.equal(byWhy.code, 1, 'refused: the reason changes as the tasks wait');
  assert.match(byWhy.stderr, /--why do not go with wait/);
});
