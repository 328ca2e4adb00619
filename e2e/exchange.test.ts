// The worker's exchange end to end, through a TCP proxy that records the server's answers:
// a spooled backlog of more than the per-request limit of one execution's reports is
// delivered in batches (a batch over the limit would have every exchange refused whole,
// and the worker would renew no lease and take no work any more); an execution the worker
// has just finished is never named in an `abandon` list (its exchanges then park instead
// of being answered at once).
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_REPORTS_PER_EXECUTION } from '../shared/schemas/worker.js';
import { startTestServer, type TestServer } from './support/server.js';
import { TcpProxy } from './support/tcpProxy.js';
import { startTestWorker, taskEnded, until } from './support/worker.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer({ settings: { leaseSeconds: 120 } });
});
after(async () => ts.close());

test('a spooled backlog of more reports of one execution than a request takes is delivered in batches', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labq-exchange-'));
  const proxy = new TcpProxy(Number(new URL(ts.url).port));
  await proxy.restore();
  t.after(() => proxy.cut());
  const stateDir = join(dir, 'w');
  const w = await startTestWorker({ url: proxy.url, token: ts.token }, { tags: ['poison'], concurrency: 2, stateDir });
  // After-hooks run in the order they were added: the worker stops (its folders given back,
  // its spool closed) before its directory goes.
  t.after(() => w.stop());
  t.after(() => rm(dir, { recursive: true, force: true }));
  const gate = join(dir, 'gate');
  const printed = join(dir, 'printed');
  const stop = join(dir, 'stop');
  // A report is sealed each time the output changes streams as the worker reads it; how much
  // it reads at once depends on the load (26,000 to 71,000 reports for 250,000 rounds in
  // quiet runs, 3,750 in a busy one): the task prints until the spool holds enough.
  const { tasks: [chatty] } = await ts.client.submitTasks({
    tasks: [{
      tag: 'poison',
      command: `while [ ! -e ${gate} ]; do sleep 0.05; done; while [ ! -e ${stop} ]; do echo o; echo e >&2; done; touch ${printed}`,
    }],
  });
  await until('chatty to run', async () => (await ts.client.getTask(chatty!.id)).status === 'running');
  const x = (await ts.client.getTask(chatty!.id)).execution_id!;
  // The server is unreachable while the task prints.
  await proxy.cut();
  await writeFile(gate, '');
  const spool = () => readFile(join(stateDir, 'spool', `${x}.jsonl`), 'utf8').catch(() => '');
  const spooled = async () => (await spool()).split('\n').length - 1;
  await until('more reports spooled than a request takes', async () => (await spooled()) > MAX_REPORTS_PER_EXECUTION * 1.5, 120_000);
  await writeFile(stop, '');
  await until('the task to print everything', async () => access(printed).then(() => true, () => false));
  await until('its result in the spool', async () => (await spool()).includes('"kind":"finish"'));
  const lines = await spooled();
  t.diagnostic(`reports spooled for execution ${x}: ${lines}`);
  assert.ok(lines > MAX_REPORTS_PER_EXECUTION, `the scenario needs more than ${MAX_REPORTS_PER_EXECUTION} reports spooled, got ${lines}`);
  await proxy.restore();
  // A short task on the same worker, after the server is back.
  const { tasks: [quick] } = await ts.client.submitTasks({ tasks: [{ tag: 'poison', command: 'echo quick' }] });
  try {
    await until('a quick task on the same worker to succeed', async () => (await ts.client.getTask(quick!.id)).status === 'succeeded', 30_000);
    await until('chatty to succeed at the server', async () => (await ts.client.getTask(chatty!.id)).status === 'succeeded', 30_000);
  } finally {
    const refused = proxy.answers.split('HTTP/1.1 400').length - 1;
    t.diagnostic(`exchanges refused with 400: ${refused}; chatty is ${(await ts.client.getTask(chatty!.id)).status}; quick is ${(await ts.client.getTask(quick!.id)).status}`);
    t.diagnostic([...new Set(w.logs.map((l) => l.slice(0, 200)))].join(' || '));
    const statuses = (proxy.answers.match(/HTTP\/1.1 \d+/g) ?? []).reduce<Record<string, number>>((m, k) => ((m[k] = (m[k] ?? 0) + 1), m), {});
    t.diagnostic(`answers through the proxy since the start: ${JSON.stringify(statuses)}`);
  }
});

test('a worker is not told to abandon an execution it just finished', async (t) => {
  const proxy = new TcpProxy(Number(new URL(ts.url).port));
  await proxy.restore();
  t.after(() => proxy.cut());
  const w = await startTestWorker({ url: proxy.url, token: ts.token }, { tags: ['fin'], concurrency: 2 });
  t.after(() => w.stop());
  const ids: number[] = [];
  for (let i = 0; i < 5; i++) {
    const { tasks: [task] } = await ts.client.submitTasks({ tasks: [{ tag: 'fin', command: `echo ${i}` }] });
    assert.equal((await taskEnded(ts, task!.id)).status, 'succeeded');
    ids.push((await ts.client.getTask(task!.id)).execution_id!);
    await sleep(300);
  }
  const abandoned = ids.filter((x) => new RegExp(`"abandon":\\[[^\\]]*\\b${x}\\b`).test(proxy.answers));
  assert.deepEqual(abandoned, [], `succeeded executions named in an abandon list: ${abandoned.join(', ')} of ${ids.join(', ')}`);
});
