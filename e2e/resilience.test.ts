// Resilience of the worker daemon against the failures it is built for:
// - a worker killed with -9: its execution is lost at the end of its lease, the task goes back
//   to pending and another worker finishes it, once; the dead worker shows offline, then lost;
// - a server restart mid-run: the worker keeps running, spools output and results on disk,
//   reconnects and delivers every line once; nothing is lost;
// - (a worker restarted while its container runs: reattach.test.ts);
// - a worker cut off (connections reset) for longer than a lease: the server's decision
//   stands, the worker is told to abandon, its late reports are refused and dropped;
// - a network freeze (connections go dark without an error) shorter than the lease: the worker
//   gives up on the dead connections in time and keeps its task.
//
// Short leases (4 s, offline after 2 s) keep the waits short; every wait is an `until` with
// a generous timeout, only there to turn a hang into a failure.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { processGroup } from '../worker/procStat.js';
import { duplicates, executionOf, executionStatus, history, outputOf, spooledPastServer, successes, taskStatus } from './support/executions.js';
import { LONG_LEASES, processWorker, scenarioServer, tempDir } from './support/scenario.js';
import { freePort } from './support/server.js';
import { TcpProxy } from './support/tcpProxy.js';
import { startTestWorker, taskEnded, until } from './support/worker.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The process group of the task that wrote its pid (`$$`) to `file`: the task's script runs
 * under a wrapper shell that leads the group (worker/runners/shell.ts), so the group is the
 * one the pid belongs to, read from /proc.
 */
async function readPid(file: string): Promise<number> {
  const pid = Number(await until(`a pid in ${file}`, async () => (await readFile(file, 'utf8').catch(() => '')).trim() || undefined));
  const group = await processGroup(pid);
  if (group === null) throw new Error(`process ${pid} (from ${file}) is gone`);
  return group;
}

/** Whether any process of the group led by `pgid` is left. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

test('kill -9 of a worker mid-task: its execution is lost after the lease, another worker finishes the task once', async (t) => {
  const ts = await scenarioServer(t);
  const dir = await tempDir(t, 'resilience-kill9');
  const marker = join(dir, 'marker');
  const pidFile = join(dir, 'pid');
  const { tasks: [submitted] } = await ts.client.submitTasks({
    command: `if [ -e ${marker} ]; then echo second attempt; exit 0; fi; touch ${marker}; echo $$ > ${pidFile}; echo first attempt; sleep 30`,
    tag: 'kill9',
  });
  const taskId = submitted!.id;

  const a = processWorker(t, ts, ['--name', 'kill9-a', '--state-dir', join(dir, 'a'), '--docker', 'off', '-c', '1', '--tags', 'kill9']);
  const first = await executionOf(ts, taskId);
  await executionStatus(ts, first, 'running');
  const pid = await readPid(pidFile);
  const { worker_id: workerA, worker_name: nameA } = await ts.client.getExecution(first);
  assert.equal((await ts.client.getWorker(workerA)).name, 'kill9-a');
  assert.equal(nameA, 'kill9-a', 'an execution names its worker');

  a.child.kill('SIGKILL');
  await a.exited;
  // A bare task runs in a process group of its own (so a kill reaches its children); nothing
  // ties it to its worker's life, so it outlives a worker killed with -9.
  const survived = groupAlive(pid);
  t.diagnostic(`bare task process group ${pid} ${survived ? 'SURVIVED' : 'died with'} its worker's SIGKILL`);
  killGroup(pid);
  await until('the orphaned task to be gone', async () => !groupAlive(pid));

  // Nobody renews the lease any more: the reaper loses the execution and requeues the task.
  await executionStatus(ts, first, 'lost');
  await taskStatus(ts, taskId, 'pending');
  const lostEvents = (await history(ts, taskId)).filter((e) => e.type === 'execution.lost');
  assert.equal(lostEvents.length, 1);
  assert.equal(lostEvents[0]!.stream_id, first);
  assert.match(String(lostEvents[0]!.data.reason), /lease expired/);
  assert.equal(lostEvents[0]!.data.task_status, 'pending');

  // The dead worker shows offline, then lost.
  await until('worker A to be lost', async () => (await ts.client.getWorker(workerA)).status === 'lost');
  // The events page reads below the oldest open transaction: the last event may show a moment later.
  const statuses = await until('both status events to be readable', async () => {
    const page = await ts.client.listEvents({ stream_type: 'worker', stream_id: workerA, type: 'worker.status_changed', limit: 1000 });
    return page.items.length >= 2 && page.items.map((e) => e.data.status);
  });
  assert.deepEqual(statuses, ['offline', 'lost']);

  processWorker(t, ts, ['--name', 'kill9-b', '--state-dir', join(dir, 'b'), '--docker', 'off', '-c', '1', '--tags', 'kill9']);
  const done = await taskEnded(ts, taskId);
  assert.equal(done.status, 'succeeded');
  const task = await ts.client.getTask(taskId);
  assert.deepEqual(task.executions.map((x) => [x.attempt, x.status]), [[1, 'lost'], [2, 'succeeded']]);
  assert.equal(task.executions[0]!.id, first);
  assert.notEqual(task.executions[1]!.worker_id, workerA);
  assert.equal((await ts.client.getWorker(task.executions[1]!.worker_id)).name, 'kill9-b');
  assert.equal(await outputOf(ts, task.executions[1]!.id), 'second attempt\n');

  const events = await history(ts, taskId);
  assert.equal(successes(events).length, 1, 'exactly one success');
  assert.equal(successes(events)[0]!.stream_id, task.executions[1]!.id);
  assert.equal(events.filter((e) => e.type === 'execution.finished' && e.stream_type === 'execution' && e.stream_id === first).length, 0,
    'the lost execution never finishes');
  assert.equal((await ts.client.getWorker(workerA)).status, 'lost', 'the dead worker stays lost');
});

test('a server restart mid-run loses no output line and no result, and loses no execution', async (t) => {
  const port = await freePort();
  // Nothing here waits for a lease to end; the worker must come back before its executions' do.
  let ts = await scenarioServer(t, { port, settings: LONG_LEASES });
  const dir = await tempDir(t, 'resilience-restart');
  const stateDir = join(dir, 'worker');
  const LINES = 80;
  const worker = await startTestWorker(ts, { tags: ['restart'], concurrency: 2, stateDir });
  t.after(() => worker.stop());
  const gate = join(dir, 'gate');
  const { tasks: [long, short] } = await ts.client.submitTasks({
    tasks: [
      { command: `i=1; while [ $i -le ${LINES} ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done`, tag: 'restart' },
      // Ends while the server is down: its last output and its result wait in the spool.
      { command: `echo short begins; while [ ! -e ${gate} ]; do sleep 0.05; done; echo short ends`, tag: 'restart' },
    ],
  });
  const longX = await executionOf(ts, long!.id);
  const shortX = await executionOf(ts, short!.id);
  await executionStatus(ts, shortX, 'running');
  await until('some output of the long task', async () => (await outputOf(ts, longX)).includes('line 5\n'));

  await ts.close();
  await writeFile(gate, '');
  const spooledFinish = await until('the short task\'s result in the spool', async () => {
    const text = await readFile(join(stateDir, 'spool', `${shortX}.jsonl`), 'utf8').catch(() => '');
    return text.split('\n').some((line) => line.includes('"kind":"finish"') && line.includes('"succeeded"')) && text;
  });
  assert.ok(spooledFinish);
  await spooledPastServer(ts, stateDir, longX);

  ts = await scenarioServer(t, { databaseUrl: ts.databaseUrl, port, settings: LONG_LEASES });
  const longDone = await taskEnded(ts, long!.id);
  const shortDone = await taskEnded(ts, short!.id);
  assert.equal(longDone.status, 'succeeded');
  assert.equal(shortDone.status, 'succeeded');

  const expected = Array.from({ length: LINES }, (_, i) => `line ${i + 1}\n`).join('');
  const output = await outputOf(ts, longX);
  if (output !== expected) t.diagnostic(`duplicated lines: ${JSON.stringify(duplicates(output))}`);
  assert.equal(output, expected, 'every line once, in order');
  assert.equal(await outputOf(ts, shortX), 'short begins\nshort ends\n');

  for (const [task, x] of [[long!.id, longX], [short!.id, shortX]] as const) {
    const detail = await ts.client.getTask(task);
    assert.deepEqual(detail.executions.map((e) => [e.id, e.attempt, e.status]), [[x, 1, 'succeeded']], 'one execution, never lost');
    const events = await history(ts, task);
    assert.equal(events.filter((e) => e.type === 'execution.lost').length, 0);
    assert.equal(successes(events).length, 1);
  }
  await until('the spool to be empty', async () => (await readdir(join(stateDir, 'spool'))).length === 0);
});

test('a worker cut off past its lease is told to abandon; its late reports are refused, nothing counts twice', async (t) => {
  const ts = await scenarioServer(t);
  const dir = await tempDir(t, 'resilience-cut');
  const proxy = new TcpProxy(Number(new URL(ts.url).port));
  await proxy.restore();
  t.after(() => proxy.cut());
  const stateDir = join(dir, 'w1');
  const w1 = await startTestWorker({ url: proxy.url, token: ts.token }, { name: 'cut-off', tags: ['cut'], concurrency: 2, stateDir });
  t.after(() => w1.stop());

  const mark = (name: string) => join(dir, name);
  const { tasks: [quiet, chatty] } = await ts.client.submitTasks({
    tasks: [
      // Silent during the cut, still running when the worker is back: only a poll can tell it to stop.
      { command: `if [ -e ${mark('quiet')} ]; then echo second attempt; exit 0; fi; touch ${mark('quiet')}; echo $$ > ${mark('quiet.pid')}; echo started; sleep 600`, tag: 'cut' },
      // Talks during the cut and succeeds before the worker is back: a late success to refuse.
      { command: `if [ -e ${mark('chatty')} ]; then echo second attempt; exit 0; fi; touch ${mark('chatty')}; echo $$ > ${mark('chatty.pid')}; while [ ! -e ${mark('gate')} ]; do echo tick; sleep 0.2; done; echo first attempt done`, tag: 'cut' },
    ],
  });
  const quietX = await executionOf(ts, quiet!.id);
  const chattyX = await executionOf(ts, chatty!.id);
  await executionStatus(ts, quietX, 'running');
  await executionStatus(ts, chattyX, 'running');
  const quietPid = await readPid(mark('quiet.pid'));
  const chattyPid = await readPid(mark('chatty.pid'));
  // Only while they may still run: a pid seen gone may be reused by then.
  const running = new Set([quietPid, chattyPid]);
  t.after(() => running.forEach(killGroup));
  await until('quiet\'s first line at the server', async () => (await outputOf(ts, quietX)) === 'started\n');
  await until('some ticks at the server', async () => (await outputOf(ts, chattyX)).includes('tick\n'));

  await proxy.cut();
  await executionStatus(ts, quietX, 'lost');
  await executionStatus(ts, chattyX, 'lost');
  for (const x of [quietX, chattyX]) {
    assert.match(String((await ts.client.getExecution(x)).error), /lease expired/);
  }
  await until('the cut-off worker to be lost', async () => (await ts.client.getWorker(w1.id)).status === 'lost');
  // Both tasks went back to pending and another worker finishes them.
  const w2 = await startTestWorker(ts, { tags: ['cut'], concurrency: 2 });
  t.after(() => w2.stop());
  for (const task of [quiet!, chatty!]) assert.equal((await taskEnded(ts, task.id)).status, 'succeeded');

  // Meanwhile the cut-off worker still runs both; let chatty succeed there too, into the spool.
  assert.ok(groupAlive(quietPid) && groupAlive(chattyPid), 'a cut-off worker keeps running its tasks');
  await writeFile(mark('gate'), '');
  await until('chatty to end on the cut-off worker', async () => !groupAlive(chattyPid));
  running.delete(chattyPid);
  await until('chatty\'s late success in the spool', async () =>
    (await readFile(join(stateDir, 'spool', `${chattyX}.jsonl`), 'utf8').catch(() => '')).includes('"status":"succeeded"'));
  const chattyOutputAtServer = await outputOf(ts, chattyX);

  const answeredBefore = proxy.answers.length;
  await proxy.restore();
  await until('quiet to be abandoned and stopped', async () => !groupAlive(quietPid));
  running.delete(quietPid);
  // Nothing is left in the spool: the refused reports are dropped, and so are the files of the abandoned execution.
  await until('the spool to be empty', async () => (await readdir(join(stateDir, 'spool'))).length === 0);
  const answers = proxy.answers.slice(answeredBefore);
  assert.match(answers, new RegExp(`"abandon":\\[[^\\]]*\\b${quietX}\\b`), 'a poll answer tells the worker to abandon quiet');
  assert.match(answers, new RegExp(`"execution_id":${chattyX},"recorded":false,"detail":"execution ${chattyX} is lost`), 'the late reports are refused');
  assert.ok(w1.logs.some((line) => line.includes(`execution ${chattyX}: execution ${chattyX} is lost`) && line.includes('drop its reports')), w1.logs.join('\n'));
  await until('the cut-off worker to be online again', async () => (await ts.client.getWorker(w1.id)).status === 'online');

  for (const [task, x] of [[quiet!.id, quietX], [chatty!.id, chattyX]] as const) {
    const detail = await ts.client.getTask(task);
    assert.equal(detail.status, 'succeeded');
    assert.deepEqual(detail.executions.map((e) => [e.attempt, e.status]), [[1, 'lost'], [2, 'succeeded']]);
    assert.equal(detail.executions[0]!.id, x);
    assert.equal(detail.executions[1]!.worker_id, w2.id);
    const events = await history(ts, task);
    assert.equal(successes(events).length, 1, 'exactly one success');
    const ofLost = events.filter((e) => e.stream_type === 'execution' && e.stream_id === x).map((e) => e.type);
    assert.equal(ofLost.at(-1), 'execution.lost', `nothing is recorded for the lost execution after it was lost: ${ofLost.join(', ')}`);
    assert.equal(await outputOf(ts, detail.executions[1]!.id), 'second attempt\n');
  }
  assert.equal(await outputOf(ts, chattyX), chattyOutputAtServer, 'output of the lost execution is frozen');
  assert.ok(!chattyOutputAtServer.includes('first attempt done'));
  assert.deepEqual(proxy.answers.includes('HTTP/1.1 5'), false, 'no server error on the way');
});

test('a network freeze shorter than the lease costs nothing: the worker reconnects and keeps its task', async (t) => {
  // A longer lease here: a poll on a dark connection is given up after half a lease, sent up
  // to a third of a lease after the last renewal, so the retry lands a sixth of a lease before
  // the lease runs out; 3 s of margin for a loaded machine.
  const lease = 18;
  const ts = await scenarioServer(t, { settings: { leaseSeconds: lease, offlineAfterSeconds: lease / 2 } });
  const dir = await tempDir(t, 'resilience-freeze');
  const proxy = new TcpProxy(Number(new URL(ts.url).port));
  await proxy.restore();
  t.after(() => proxy.cut());
  const LINES = 100;
  const started = Date.now();
  const logs: string[] = [];
  const log = (line: string) => logs.push(`${((Date.now() - started) / 1000).toFixed(2)} ${line}`);
  const w = await startTestWorker({ url: proxy.url, token: ts.token }, { name: 'frozen', tags: ['freeze'], stateDir: join(dir, 'w'), log });
  t.after(() => w.stop());
  const { tasks: [submitted] } = await ts.client.submitTasks({
    command: `i=1; while [ $i -le ${LINES} ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done`,
    tag: 'freeze',
  });
  const x = await executionOf(ts, submitted!.id);
  await until('some output at the server', async () => (await outputOf(ts, x)).includes('line 5\n'));
  log('test: freeze');
  await proxy.freeze();
  // The scenario itself: a freeze of a quarter of the lease, shorter than the lease.
  await sleep((lease * 1000) / 4);
  log('test: restore');
  await proxy.restore();
  const done = await taskEnded(ts, submitted!.id);
  assert.equal(done.status, 'succeeded', logs.join('\n'));
  const task = await ts.client.getTask(submitted!.id);
  assert.deepEqual(task.executions.map((e) => [e.id, e.attempt, e.status]), [[x, 1, 'succeeded']], `one execution, never lost; worker log:\n${logs.join('\n')}`);
  assert.equal(await outputOf(ts, x), Array.from({ length: LINES }, (_, i) => `line ${i + 1}\n`).join(''));
});

test('a worker restarted after kill -9 kills the bare task its earlier run left behind', async (t) => {
  const ts = await scenarioServer(t);
  const dir = await tempDir(t, 'resilience-orphan');
  const marker = join(dir, 'marker');
  const pidFile = join(dir, 'pid');
  const { tasks: [submitted] } = await ts.client.submitTasks({
    command: `if [ -e ${marker} ]; then echo second attempt; exit 0; fi; touch ${marker}; echo $$ > ${pidFile}; echo started; sleep 300`,
    tag: 'orphan',
  });
  const spooled = (x: number) => ['jsonl', 'state.json'].map((ext) => join(dir, 'state', 'spool', `${x}.${ext}`));
  const args = ['--name', 'orphan-w', '--state-dir', join(dir, 'state'), '--docker', 'off', '-c', '1', '--tags', 'orphan'];
  const first = processWorker(t, ts, args);
  const x = await executionOf(ts, submitted!.id);
  await executionStatus(ts, x, 'running');
  const pid = await readPid(pidFile);
  // Its output went out from memory while it runs: nothing of it on disk, then or after.
  await until('its output to reach the server', async () => (await outputOf(ts, x)).includes('started'));
  await sleep(200);
  assert.deepEqual(spooled(x).filter((file) => existsSync(file)), [], 'output delivered from memory leaves no file');
  first.child.kill('SIGKILL');
  await first.exited;
  assert.ok(groupAlive(pid), 'a bare task outlives a worker killed with -9');

  const left = join(dir, 'state', 'work', String(x));
  assert.ok(existsSync(left), 'the dead worker left the execution\'s folders');
  processWorker(t, ts, args);
  await until('the orphaned task to be killed', async () => !groupAlive(pid));
  await until('the folders it left to be removed', async () => !existsSync(left));
  await executionStatus(ts, x, 'lost');
  await taskStatus(ts, submitted!.id, 'succeeded');
  const task = await ts.client.getTask(submitted!.id);
  assert.deepEqual(task.executions.map((e) => e.status), ['lost', 'succeeded']);
  assert.deepEqual(spooled(x).filter((file) => existsSync(file)), [], 'nothing of the lost execution stays in the spool');
});
