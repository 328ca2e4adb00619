// "Why is it waiting": every reason a task, a step and a worker give, each produced by a
// real situation — real worker daemons (bare), a worker registered that has not exchanged
// yet, pauses, a failure backing off, dependencies that run, fail or are held.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TaskWhy } from '../shared/schemas/why.js';
import { finished, running } from './support/reports.js';
import { startTestServer, type TestServer } from './support/server.js';
import { startTestWorker, taskEnded, until } from './support/worker.js';
import { pollWorker, registerWorker } from './support/workerApi.js';

let ts: TestServer;
let dir: string;
const daemons: { stop(): Promise<void> }[] = [];

before(async () => {
  ts = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'labq-why-'));
});
after(async () => {
  // A daemon stops once what it runs has ended: open the gate of a test that failed early.
  await writeFile(join(dir, 'gate'), '');
  for (const d of daemons) await d.stop();
  await ts.close();
});

async function daemon(options: Parameters<typeof startTestWorker>[1]) {
  const d = await startTestWorker(ts, options);
  daemons.push(d);
  return d;
}

/**
 * A reason's message does not say its code again as a label: the CLI and the worker's and
 * step's views in the UI show both, side by side (the task's view shows the message alone, so
 * a task's message may start with the word: "held by admin"). A step's, always shown after
 * its code, does not start with it at all.
 */
function plain<T extends { reasons: ({ code: string; message: string } | { code: string; messages: string[] })[] }>(answer: T, step = false): T {
  for (const r of answer.reasons) {
    const code = r.code.replace(/_/g, ' ');
    for (const message of 'messages' in r ? r.messages : [r.message]) {
      assert.ok(!message.toLowerCase().startsWith(step ? code : `${code}:`), `${r.code}: ${message}`);
    }
  }
  return answer;
}
const why = async (id: number) => plain(await ts.client.call('whyTask', { params: { id } }));
const codes = (w: TaskWhy) => w.reasons.map((r) => r.code);
const submit = async (task: Parameters<typeof ts.client.submitTasks>[0]) => (await ts.client.submitTasks(task)).tasks[0]!.id;

test('a task says why it waits, for each reason, and a step sums them up', async () => {
  const gate = join(dir, 'gate');
  const worker = await daemon({ tags: ['why'], concurrency: 1 });
  const step = await ts.client.createStep({ workflow_id: (await ts.client.createWorkflow({ name: 'why' })).id, name: 'reasons' });

  const running = await submit({ command: `while [ ! -e ${gate} ]; do sleep 0.05; done`, tag: 'why', step_id: step.id });
  await until('the gate task to run', async () => (await ts.client.getTask(running)).status === 'running');
  assert.deepEqual(codes(await why(running)), ['running']);
  assert.match((await why(running)).reasons[0]!.message, new RegExp(`on worker ${worker.name}`));

  const busy = await submit({ command: 'true', tag: 'why', step_id: step.id });
  const waiting = await submit({ command: 'true', tag: 'why', step_id: step.id, depends_on: [running] });
  const held = await submit({ command: 'true', tag: 'why', step_id: step.id, held: true });
  // On a worker of its own: it fails while the gate task still runs.
  await daemon({ tags: ['why-fail'], concurrency: 1 });
  const failing = await submit({ command: 'exit 4', tag: 'why-fail' });
  const blocked = await submit({ command: 'true', tag: 'why', depends_on: [failing] });
  const blockedAfter = await submit({ command: 'true', tag: 'why', depends_on: [blocked] });
  const accepting = await submit({ command: 'true', tag: 'why', depends_on: [failing, running], accept_failure: true });
  const noTag = await submit({ command: 'true', tag: 'nobody-takes-this', step_id: step.id });
  const tooBig = await submit({ command: 'true', tag: 'why', requirements: { memory_mb: 64 * 1024 * 1024 } });
  const container = await submit({ command: 'true', tag: 'why', container: 'busybox:latest' });

  assert.deepEqual(codes(await why(busy)), ['workers_busy']);
  assert.match((await why(busy)).reasons[0]!.message, /busy \(1 of 1 slots\)/);
  assert.deepEqual(codes(await why(waiting)), ['dependencies']);
  assert.match((await why(waiting)).reasons[0]!.message, new RegExp(`${running} \\(running\\)`));
  assert.deepEqual(codes(await why(held)), ['held']);
  assert.deepEqual(codes(await why(noTag)), ['no_worker_for_tag']);
  assert.deepEqual(codes(await why(tooBig)), ['requirements']);
  assert.match((await why(tooBig)).reasons[0]!.message, /memory_mb 67108864 > \d+/);
  assert.match((await why(container)).reasons[0]!.message, /docker/);

  const stepWhy = plain(await ts.client.call('whyStep', { params: { id: step.id } }), true);
  assert.deepEqual(Object.fromEntries(stepWhy.reasons.map((r) => [r.code, r.count])), {
    workers_busy: 1, dependencies: 1, held: 1, no_worker_for_tag: 1,
  });
  assert.equal(stepWhy.waiting, 4);

  assert.match((await why(held)).reasons[0]!.message, /^submitted held/);
  await ts.client.call('releaseTask', { params: { id: held }, body: {} });
  await ts.client.call('holdTask', { params: { id: held }, body: { reason: 'inputs not uploaded yet' } });
  assert.match((await why(held)).reasons[0]!.message, /^held by admin.*: inputs not uploaded yet/);

  await ts.client.call('suspendTask', { params: { id: running } });
  await until('the suspension to show', async () => /suspended: it stays where it is until continued/.test((await why(running)).reasons[0]!.message));
  await ts.client.call('continueTask', { params: { id: running } });

  assert.equal((await taskEnded(ts, failing)).status, 'failed');
  assert.deepEqual(codes(await why(blocked)), ['blocked']);
  assert.match((await why(blocked)).reasons[0]!.message, new RegExp(`${failing} \\(failed\\) \\(relaunch it, or cancel this task\\)`));
  // Blocked behind a blocked task: what to relaunch is up the chain (the blocked one has not ended).
  await until('the chain to be blocked', async () => (await ts.client.getTask(blockedAfter)).status === 'blocked');
  assert.match((await why(blockedAfter)).reasons[0]!.message,
    new RegExp(`will not succeed: ${blocked} \\(blocked\\) \\(relaunch ${failing} \\(failed\\), on which it depends, or cancel this task\\)`));
  // One that accepts failures waits only for what has not ended.
  assert.match((await why(accepting)).reasons[0]!.message, new RegExp(`^waiting for 1 dependency to end: ${running} \\(running\\)$`));
  await writeFile(gate, '');
  assert.deepEqual(codes(await why(failing)), ['ended']);
});

test('paused, backing off, workers paused, and queued behind others', async () => {
  const worker = await daemon({ tags: ['why2'], concurrency: 1 });
  const step = await ts.client.createStep({ workflow_id: (await ts.client.createWorkflow({ name: 'why2' })).id, name: 'paused' });
  await ts.client.call('pauseStep', { params: { id: step.id }, body: {} });
  const paused = await submit({ command: 'true', tag: 'why2', step_id: step.id });
  const pausedWhy = await why(paused);
  assert.equal(pausedWhy.reasons[0]!.code, 'paused');
  assert.match(pausedWhy.reasons[0]!.message, new RegExp(`^its step ${step.id} is paused`));
  assert.equal(plain(await ts.client.call('whyStep', { params: { id: step.id } }), true).reasons[0]!.code, 'paused');

  const retrying = await submit({ command: 'exit 1', tag: 'why2', max_retries: 3, backoff: { base_seconds: 600, cap_seconds: 600 } });
  await until('the failure to back off', async () => (await ts.client.getTask(retrying)).retry_at !== null);
  assert.equal((await why(retrying)).reasons[0]!.code, 'backoff');
  // A worker could take it, but not before the backoff is over: said so, not as if it ran now.
  assert.match((await why(retrying)).reasons.at(-1)!.message, /^once its backoff is over: /);
  // Held and released, it runs at once: its backoff of ten minutes is over.
  await ts.client.call('holdTask', { params: { id: retrying }, body: {} });
  await ts.client.call('releaseTask', { params: { id: retrying }, body: {} });
  await until('a second attempt', async () => (await ts.client.getTask(retrying)).executions.length === 2);

  await ts.client.updateWorker(worker.id, { paused: true });
  const idle = await submit({ command: 'true', tag: 'why2' });
  assert.deepEqual(codes(await why(idle)), ['workers_paused']);

  // A worker registered but not yet exchanging: it has free slots, the task waits its turn.
  await ts.client.updateWorker(worker.id, { tags: ['elsewhere'] });
  await registerWorker(ts, { tags: ['why3'], concurrency: 2 });
  const first = await submit({ command: 'true', tag: 'why3', priority: 5 });
  const second = await submit({ command: 'true', tag: 'why3' });
  assert.deepEqual(codes(await why(first)), ['queued']);
  assert.match((await why(second)).reasons[0]!.message, /behind 1 task of tag "why3"/);
});

test('requirements no worker meets: how many workers take the tag, the first three named, and how many more', async () => {
  const workers = [];
  for (let i = 0; i < 5; i++) workers.push(await registerWorker(ts, { tags: ['why-req'], memory_mb: 1024 + i }));
  const task = await submit({ command: 'true', tag: 'why-req', requirements: { memory_mb: 64 * 1024 } });
  const [reason] = (await why(task)).reasons;
  assert.equal(reason!.code, 'requirements');
  const named = workers.slice(0, 3).map((w) => `${w.name} \\(memory_mb 65536 > ${w.memory_mb}\\)`).join(', ');
  assert.match(reason!.message, new RegExp(`^none of the 5 online workers that take tag "why-req" satisfy its requirements: ${named} and 2 more$`));
  for (const w of workers.slice(3)) assert.ok(!reason!.message.includes(w.name), `${w.name} is counted, not named`);
});

test('a worker says why it takes nothing', async () => {
  const idle = await daemon({ tags: ['idle'], concurrency: 1 });
  const whyWorker = async (id: number) => plain(await ts.client.call('whyWorker', { params: { id } })).reasons.map((r) => r.code);
  assert.deepEqual(await whyWorker(idle.id), ['other_tags']);

  await ts.client.submitTasks({ command: 'true', tag: 'idle', requirements: { gpus: 8 } });
  assert.deepEqual(await whyWorker(idle.id), ['requirements']);
  await ts.client.call('pauseQueue', { body: { tag: 'idle' } });
  await ts.client.submitTasks({ command: 'true', tag: 'idle' });
  assert.deepEqual(await whyWorker(idle.id), ['paused_tasks'], 'a tag pause covers the task that needs GPUs too');
  await ts.client.updateWorker(idle.id, { paused: true });
  assert.deepEqual(await whyWorker(idle.id), ['paused']);

  const registered = await registerWorker(ts, { tags: ['idle'], concurrency: 1 });
  await ts.client.call('resumeQueue', { body: { tag: 'idle' } });
  assert.deepEqual(await whyWorker(registered.id), ['can_take']);
  await ts.client.updateWorker(registered.id, { concurrency: 0 });
  assert.deepEqual(await whyWorker(registered.id), ['full']);
  assert.equal((await ts.client.call('whyWorker', { params: { id: registered.id } })).reasons[0]!.message.includes('concurrency 0'), true);
});

test('a worker with nothing pending anywhere, one whose tasks back off, and one gone quiet say so', async () => {
  const quiet = await startTestServer({ settings: { leaseSeconds: 9, offlineAfterSeconds: 3 } });
  try {
    const whyWorker = async (id: number) => plain(await quiet.client.call('whyWorker', { params: { id } })).reasons.map((r) => r.code);
    const worker = await registerWorker(quiet, { tags: ['solo'], concurrency: 1 });
    assert.deepEqual(await whyWorker(worker.id), ['no_tasks']);

    await quiet.client.submitTasks({ command: 'exit 1', tag: 'solo', max_retries: 2, backoff: { base_seconds: 600, cap_seconds: 600 } });
    const [assignment] = (await pollWorker(quiet, worker, { want: 1 })).assignments;
    await pollWorker(quiet, worker, {
      reports: [{
        execution_id: assignment!.execution_id,
        reports: [running, finished('failed')],
      }],
    });
    assert.deepEqual(await whyWorker(worker.id), ['backoff']);

    await until('the worker to be shown offline', async () => (await quiet.client.getWorker(worker.id)).status !== 'online');
    assert.deepEqual(await whyWorker(worker.id), ['offline']);
  } finally {
    await quiet.close();
  }
});
