// Worker identity and delivery across restarts:
// - two daemons that would share a name (the hostname, no --name): the second is refused
//   with a message that names --name, and no task of the first is lost;
// - two daemons on one state directory: the second is refused;
// - a daemon that took over the name of a silent one: the silent one, back, is refused
//   and stops; the new one's executions are never declared lost by it;
// - results finished while the server was down, then the worker killed with -9: the
//   restarted worker delivers each once, and nothing runs twice;
// - a worker cut off past its lease never uploads its output over the retry's;
// - a daemon whose token is revoked stops with the reason, where it retried for ever.
//
// Short leases (4 s, offline after 2 s) keep the waits short; every wait is an `until`.
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LONG_LEASES, processWorker, scenarioServer, tempDir } from './support/scenario.js';
import { freePort, type TestServer } from './support/server.js';
import { TcpProxy } from './support/tcpProxy.js';
import { settles, startTestWorker, taskEnded, until } from './support/worker.js';

/** Why executions were lost, one line each: none is expected. */
async function lostEvents(ts: TestServer): Promise<string[]> {
  return (await ts.client.listEvents({ type: 'execution.lost', limit: 1000 })).items.map((e) => `${e.stream_id}: ${e.data.reason}`);
}

test('a second daemon under a name in use is refused, and the first loses nothing', async (t) => {
  // A lease long enough that a loaded machine never loses an execution by expiry: any loss here is the twins'.
  const ts = await scenarioServer(t, { settings: LONG_LEASES });
  const dir = await tempDir(t, 'identity-twins');
  const common = ['--docker', 'off', '-c', '8', '--tags', 'twins'];
  const { tasks } = await ts.client.submitTasks({
    tasks: Array.from({ length: 200 }, (_, i) => ({ command: `echo task ${i}`, tag: 'twins' })),
  });
  // No --name: both would register as the hostname.
  const first = processWorker(t, ts, ['--state-dir', join(dir, 'a'), ...common]);
  const worker = await until('the first daemon to run tasks', async () =>
    (await ts.client.listWorkers({ limit: 10 })).items.find((w) => w.name === hostname() && w.live_executions > 0));

  const second = processWorker(t, ts, ['--state-dir', join(dir, 'b'), ...common]);
  assert.notEqual(await second.exited, 0, 'the second daemon exits with an error');
  assert.match(second.output(), new RegExp(`worker name "${hostname()}" is in use by another running worker daemon`));
  assert.match(second.output(), /--name/);

  const sameDir = processWorker(t, ts, ['--name', 'other', '--state-dir', join(dir, 'a'), ...common]);
  assert.notEqual(await sameDir.exited, 0);
  assert.match(sameDir.output(), new RegExp(`another worker daemon \\(pid ${first.child.pid}\\) runs with the state directory`));

  for (const task of tasks) assert.equal((await taskEnded(ts, task.id)).status, 'succeeded');
  assert.deepEqual(await lostEvents(ts), [], `no execution lost; the first daemon said:\n${first.output()}`);
  const workers = (await ts.client.listWorkers({ limit: 10 })).items;
  assert.deepEqual(workers.map((w) => [w.id, w.name]), [[worker.id, hostname()]], 'one worker row');
  assert.equal(first.child.exitCode, null, 'the first daemon still runs');
});

test('a daemon back after another took its name over is refused and stops; it declares nothing lost', async (t) => {
  const ts = await scenarioServer(t);
  const dir = await tempDir(t, 'identity-takeover');
  const proxy = new TcpProxy(Number(new URL(ts.url).port));
  await proxy.restore();
  t.after(() => proxy.cut());
  const old = await startTestWorker({ url: proxy.url, token: ts.token }, { name: 'shared', tags: ['takeover'], stateDir: join(dir, 'old') });
  t.after(() => old.stop());

  await proxy.cut();
  await until('the old daemon to be lost', async () => (await ts.client.getWorker(old.id)).status === 'lost');
  const fresh = await startTestWorker(ts, { name: 'shared', tags: ['takeover'], stateDir: join(dir, 'new') });
  t.after(() => fresh.stop());
  assert.equal(fresh.id, old.id, 'the name keeps its worker id');
  assert.notEqual(fresh.instance, old.instance);
  assert.equal((await ts.client.getWorker(fresh.id)).instance, fresh.instance);

  const gate = join(dir, 'gate');
  const { tasks: [task] } = await ts.client.submitTasks({ command: `while [ ! -e ${gate} ]; do sleep 0.05; done; echo done`, tag: 'takeover' });
  const x = await until('the task to run on the new daemon', async () => {
    const detail = await ts.client.getTask(task!.id);
    return detail.status === 'running' && detail.execution_id !== null && detail.execution_id;
  });

  await proxy.restore();
  await assert.rejects(old.finished(), /worker name "shared" is in use by another running worker daemon/);
  assert.ok(old.logs.some((line) => line.includes('another worker daemon instance registered as "shared"')), old.logs.join('\n'));

  await writeFile(gate, '');
  assert.equal((await taskEnded(ts, task!.id)).status, 'succeeded');
  const detail = await ts.client.getTask(task!.id);
  assert.deepEqual(detail.executions.map((e) => [e.id, e.status]), [[x, 'succeeded']], 'never lost');
});

test('a daemon whose token is revoked stops, saying so, instead of retrying for ever', async (t) => {
  const ts = await scenarioServer(t);
  const dir = await tempDir(t, 'identity-revoked');
  const { token } = await ts.client.call('createToken', { body: { name: 'node-revoked', role: 'worker' } });
  const daemon = processWorker(t, { url: ts.url, token }, ['--name', 'node-revoked', '--docker', 'off', '--state-dir', dir]);
  await until('the daemon to register', async () => (await ts.client.listWorkers({ limit: 10 })).items.some((w) => w.name === 'node-revoked'));
  await ts.client.call('revokeToken', { params: { name: 'node-revoked' } });
  assert.equal(await settles('the daemon to exit', daemon.exited, 60_000), 1, daemon.output());
  assert.match(daemon.output(), /the server refuses this worker's token \(401 .*\): start the worker again with a live token/);
  assert.equal(daemon.output().match(/exchange failed/g)?.length ?? 0, 0, 'no retry loop');
});

test('results finished while the server was down survive a kill -9 of the worker: each recorded once, nothing runs twice', async (t) => {
  const port = await freePort();
  // Nothing here waits for a lease to end; the worker must come back before its executions' do.
  const ts = await scenarioServer(t, { port, settings: LONG_LEASES });
  const dir = await tempDir(t, 'identity-spooled');
  const gate = join(dir, 'gate');
  const runs = join(dir, 'runs');
  const N = 12;
  const { tasks } = await ts.client.submitTasks({
    tasks: Array.from({ length: N }, (_, i) => ({
      command: `echo "run ${i}" >> ${runs}; while [ ! -e ${gate} ]; do sleep 0.05; done; echo "result ${i}"`, tag: 'spooled',
    })),
  });
  const stateDir = join(dir, 'state');
  const args = ['--name', 'spooler', '--state-dir', stateDir, '--docker', 'off', '-c', String(N), '--tags', 'spooled'];
  const first = processWorker(t, ts, args);
  await until('every task to run', async () => (await ts.client.listTasks({ status: 'running', limit: 100 })).items.length === N);

  await ts.close();
  await writeFile(gate, '');
  await until('every result in the spool', async () => {
    let finishes = 0;
    for (const file of (await readdir(join(stateDir, 'spool'))).filter((f) => f.endsWith('.jsonl'))) {
      finishes += (await readFile(join(stateDir, 'spool', file), 'utf8')).split('\n').filter((l) => l.includes('"kind":"finish"')).length;
    }
    return finishes === N;
  });
  first.child.kill('SIGKILL');
  await first.exited;

  // The worker comes back first and backs off while the server is still down.
  const second = processWorker(t, ts, args);
  await until('the worker to retry its registration', async () => (second.output().match(/cannot register yet/g) ?? []).length >= 3);
  const back = await scenarioServer(t, { databaseUrl: ts.databaseUrl, port, settings: LONG_LEASES });

  for (const task of tasks) {
    const ended = await taskEnded(back, task.id);
    assert.equal(ended.status, 'succeeded', second.output());
    const detail = await back.client.getTask(task.id);
    assert.deepEqual(detail.executions.map((e) => e.status), ['succeeded'], `task ${task.id}: one execution, never lost`);
  }
  assert.deepEqual(await lostEvents(back), []);
  const ran = (await readFile(runs, 'utf8')).trim().split('\n');
  assert.equal(ran.length, N, `each task ran once:\n${ran.join('\n')}`);
  // The events page reads below the oldest open transaction of the cluster: the last events may show a moment later.
  const finished = await until('every result in the events page', async () => {
    const { items } = await back.client.listEvents({ type: 'execution.finished', limit: 1000 });
    return items.length >= N && items;
  });
  assert.equal(finished.length, N, 'each result recorded once');
  await until('the spool to be empty', async () => (await readdir(join(stateDir, 'spool'))).length === 0);
});

test('a worker cut off past its lease does not upload its output over the retry\'s', async (t) => {
  const ts = await scenarioServer(t);
  const dir = await tempDir(t, 'identity-fence');
  const results = join(dir, 'results');
  const proxy = new TcpProxy(Number(new URL(ts.url).port));
  await proxy.restore();
  t.after(() => proxy.cut());
  const cutOff = await startTestWorker({ url: proxy.url, token: ts.token }, { name: 'cut-off', tags: ['fence'], stateDir: join(dir, 'w1') });
  t.after(() => cutOff.stop());

  const first = join(dir, 'first');
  const gate = join(dir, 'gate');
  const { tasks: [task] } = await ts.client.submitTasks({
    command: `if [ -e ${first} ]; then echo second > "$OUTPUT/result"; exit 0; fi; touch ${first}; ` +
      `echo first > "$OUTPUT/result"; while [ ! -e ${gate} ]; do sleep 0.05; done`,
    output: `file://${results}/`,
    tag: 'fence',
  });
  const x = await until('the first attempt to run', async () => {
    const detail = await ts.client.getTask(task!.id);
    return detail.status === 'running' && detail.execution_id !== null && detail.execution_id;
  });

  await proxy.cut();
  await until('the first attempt to be lost', async () => (await ts.client.getExecution(x)).status === 'lost');
  const retry = await startTestWorker(ts, { tags: ['fence'], stateDir: join(dir, 'w2') });
  t.after(() => retry.stop());
  assert.equal((await taskEnded(ts, task!.id)).status, 'succeeded');
  assert.equal(await readFile(join(results, 'result'), 'utf8'), 'second\n');

  // The cut-off worker's attempt ends well now, but it cannot confirm that it still holds it.
  await writeFile(gate, '');
  await until('the cut-off worker to wait for its fencing check', async () =>
    (await readFile(join(dir, 'w1', 'spool', `${x}.jsonl`), 'utf8').catch(() => '')).includes('"phase":"uploading"'));
  await proxy.restore();
  await until('the cut-off worker to give the execution up', async () =>
    cutOff.logs.some((line) => line.includes(`execution ${x}: execution ${x} is lost`)));
  await until('its spool to be empty', async () => (await readdir(join(dir, 'w1', 'spool'))).length === 0);
  assert.equal(await readFile(join(results, 'result'), 'utf8'), 'second\n', 'the retry\'s output stands');
  const detail = await ts.client.getTask(task!.id);
  assert.deepEqual(detail.executions.map((e) => e.status), ['lost', 'succeeded']);
});
