// The worker daemon end to end in bare mode: phases, exit codes, retries, dependencies,
// live output (SSE follow and the CLI), bursts and the output cap, kill, a live
// concurrency change and --exit-when-empty.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { sql } from 'slonik';
import { startTestServer, type TestServer } from './support/server.js';
import { TcpProxy } from './support/tcpProxy.js';
import { CLI, spawnWorker, startTestWorker, taskEnded, until } from './support/worker.js';

const run = promisify(execFile);
let ts: TestServer;
let dir: string;
const workers: { stop(): Promise<void> }[] = [];

before(async () => {
  ts = await startTestServer({ settings: { outputCapBytes: 256 * 1024 } });
  dir = await mkdtemp(join(tmpdir(), 'labq-e2e-'));
});
after(async () => {
  for (const w of workers) await w.stop();
  await ts.close();
});

async function worker(options: Parameters<typeof startTestWorker>[1] = {}) {
  const w = await startTestWorker(ts, options);
  workers.push(w);
  return w;
}


test('a worker given a relative --state-dir gives its tasks absolute folders', async () => {
  const cwd = join(dir, 'relative-cwd');
  await mkdir(cwd);
  const w = spawnWorker(ts.url, ts.token, ['--name', 'relative', '--state-dir', 'state', '--docker', 'off', '--tags', 'relative'], {}, cwd);
  workers.push({
    stop: async () => {
      w.child.kill('SIGTERM');
      await w.exited;
    },
  });
  const { tasks: [t] } = await ts.client.submitTasks({ command: 'echo "$TEMP"; echo "$OUTPUT"; pwd', tag: 'relative' });
  assert.equal((await taskEnded(ts, t!.id)).status, 'succeeded');
  const [temp, output, pwd] = (await ts.client.executionOutput((await ts.client.getTask(t!.id)).execution_id!)).trim().split('\n');
  const x = (await ts.client.getTask(t!.id)).execution_id!;
  assert.equal(temp, join(cwd, 'state', 'work', String(x), 'tmp'));
  assert.equal(output, join(cwd, 'state', 'work', String(x), 'output'));
  assert.equal(pwd, temp, 'it runs in its temp folder');
});

test('a task runs through its phases; exit codes, env and retries are reported', async () => {
  await worker({ tags: ['bare'], concurrency: 2 });
  const { tasks } = await ts.client.submitTasks({
    tasks: [
      { command: 'echo "$GREETING $CPU"; test -d "$INPUT" && test -d "$OUTPUT" && test -d "$TEMP"', env: { GREETING: 'hi' }, tag: 'bare' },
      { command: 'exit 3', tag: 'bare' },
      { command: `if [ -e ${dir}/second ]; then exit 0; fi; touch ${dir}/second; exit 1`, max_retries: 1, backoff: { base_seconds: 0, cap_seconds: 0 }, tag: 'bare' },
    ],
  });
  const [ok, bad, retried] = await Promise.all(tasks.map((t) => taskEnded(ts, t.id)));
  assert.equal(ok!.status, 'succeeded');
  assert.equal(bad!.status, 'failed');
  assert.equal(retried!.status, 'succeeded');
  const okDetail = await ts.client.getTask(ok!.id);
  assert.equal(okDetail.executions[0]!.exit_code, 0);
  assert.match(await ts.client.executionOutput(okDetail.executions[0]!.id), /^hi \d+\n$/);
  assert.equal((await ts.client.getTask(bad!.id)).executions[0]!.exit_code, 3);
  const retries = await ts.client.getTask(retried!.id);
  assert.deepEqual(retries.executions.map((x) => x.status), ['failed', 'succeeded']);
  assert.equal(retries.attempts, 2);
  const types = (await ts.client.taskEvents(ok!.id)).items.map((e) => `${e.type}${e.data.phase ? ':' + e.data.phase : ''}`);
  assert.deepEqual(types, ['task.submitted', 'execution.assigned', 'execution.phase:running', 'execution.finished']);
  const x = okDetail.executions[0]!;
  assert.ok(x.assigned_at <= x.running_at! && x.running_at! <= x.finished_at!);
});

test('an execution whose result the server recorded is not declared held in the next exchanges', async () => {
  const w = await worker({ concurrency: 2, tags: ['resulted'] });
  type Client = { pollWorker: (id: number, body: { holding: number[]; reports: { execution_id: number; reports: { kind: string }[] }[] }, signal?: AbortSignal) => Promise<{ reports: { execution_id: number; recorded: boolean }[] }> };
  const client = (w as unknown as { client: Client }).client;
  const original = client.pollWorker.bind(client);
  // Each exchange as it is made (one given up on or still parked counts too), with the results its answer recorded.
  const exchanges: { holding: number[]; recorded: number[] }[] = [];
  client.pollWorker = async (id, body, signal) => {
    const exchange = { holding: body.holding, recorded: [] as number[] };
    exchanges.push(exchange);
    const response = await original(id, body, signal);
    const finishes = new Set(body.reports.filter((r) => r.reports.some((k) => k.kind === 'finish')).map((r) => r.execution_id));
    exchange.recorded = response.reports.filter((r) => r.recorded && finishes.has(r.execution_id)).map((r) => r.execution_id);
    return response;
  };
  const { tasks } = await ts.client.submitTasks({ tasks: Array.from({ length: 6 }, () => ({ command: 'true', tag: 'resulted' })) });
  for (const task of tasks) assert.equal((await taskEnded(ts, task.id)).status, 'succeeded');
  const resulted = exchanges.flatMap((e, i) => e.recorded.map((x) => ({ x, i })));
  assert.equal(resulted.length, 6, 'every result was carried by an exchange seen here');
  for (const { x, i } of resulted) {
    const later = exchanges.slice(i + 1).findIndex((e) => e.holding.includes(x));
    assert.equal(later, -1, `execution ${x}, recorded in exchange ${i}, declared held in exchange ${i + 1 + later}`);
  }
});

test('a worker keeps its connections: an exchange it gives up on while parked is answered, not hung up', async (t) => {
  const proxy = new TcpProxy(Number(new URL(ts.url).port));
  await proxy.restore();
  t.after(() => proxy.cut());
  // Free slots left while a task runs: its exchanges park, and its result comes to a parked one.
  const w = await worker({ tags: ['kept'], server: proxy.url, concurrency: 4 });
  type Body = { seq?: number; gave_up?: number };
  const client = (w as unknown as { client: { pollWorker: (id: number, body: Body, signal?: AbortSignal) => Promise<unknown> } }).client;
  const original = client.pollWorker.bind(client);
  const bodies: Body[] = [];
  client.pollWorker = (id, body, signal) => (bodies.push(body), original(id, body, signal));
  const before = proxy.accepted;
  for (let i = 0; i < 10; i++) {
    const { tasks: [task] } = await ts.client.submitTasks({ command: 'sleep 0.2', tag: 'kept' });
    assert.equal((await taskEnded(ts, task!.id)).status, 'succeeded');
  }
  // Each result came while an exchange was parked. Hung up, each such exchange cost a new
  // connection (two a task); answered, two connections serve them all.
  const opened = proxy.accepted - before;
  assert.ok(opened <= 2, `${opened} connections opened for 10 tasks`);
  // The exchange after one given up on names it, for a server process it did not reach.
  const naming = bodies.filter((b) => b.gave_up !== undefined);
  assert.ok(naming.length > 0, 'an exchange named one given up on');
  for (const b of naming) assert.ok(bodies.some((o) => o.seq === b.gave_up && o.seq! < b.seq!), `gave_up ${b.gave_up} names an earlier exchange`);
  // Said once: the exchange that named it was answered (none failed here), and the next say nothing of it.
  assert.equal(new Set(naming.map((b) => b.gave_up)).size, naming.length, `an exchange given up on named more than once: ${JSON.stringify(naming)}`);
});

test('after an exchange that brought work, the next waits until the new tasks have started (or a tick has passed)', async () => {
  const w = await worker({ concurrency: 4, tags: ['starting'] });
  type Client = { pollWorker: (id: number, body: unknown, signal?: AbortSignal) => Promise<{ assignments: { execution_id: number }[] }> };
  const client = (w as unknown as { client: Client }).client;
  const executions = (w as unknown as { executions: Map<number, { handle: unknown }> }).executions;
  const original = client.pollWorker.bind(client);
  // For each exchange that followed an answer with work: how long after that answer it was
  // made, and whether every task of that work had been started by then.
  const followers: { after: number; started: boolean }[] = [];
  let brought: { at: number; ids: number[] } | null = null;
  client.pollWorker = async (id, body, signal) => {
    if (brought) {
      const { at, ids } = brought;
      followers.push({ after: performance.now() - at, started: ids.every((x) => executions.get(x)?.handle) });
      brought = null;
    }
    const response = await original(id, body, signal);
    if (response.assignments.length > 0) brought = { at: performance.now(), ids: response.assignments.map((a) => a.execution_id) };
    return response;
  };
  // The first may come to the exchange parked before the wrapper was in place. On a loaded
  // machine a start can outlast the tick: more tasks, until one exchange went after its start.
  for (let i = 0; i < 20 && (i < 4 || !followers.some((f) => f.started)); i++) {
    const { tasks: [task] } = await ts.client.submitTasks({ command: 'sleep 0.2', tag: 'starting' });
    assert.equal((await taskEnded(ts, task!.id)).status, 'succeeded');
  }
  assert.ok(followers.length >= 3, `${followers.length} exchanges followed one that brought work`);
  // BUSY_TICK_MS (worker/daemon.ts, 25 ms) bounds the wait: a start that takes longer does not
  // hold the exchanges up. A timer's 25 ms can measure a little less from here (the event loop's
  // clock is cached, and `at` is taken before the daemon sets its timer); without the wait, the
  // next exchange goes within a millisecond or two.
  for (const f of followers) assert.ok(f.started || f.after >= 20, `an exchange went ${f.after.toFixed(1)} ms after work came, its tasks not started`);
  // And the wait ends with their start: an exchange went with its tasks begun. How soon after
  // is a figure of the benchmark's dispatch (bench/), not a bound here, which a loaded machine
  // would break.
  assert.ok(followers.some((f) => f.started), `no exchange went after its tasks began: ${JSON.stringify(followers)}`);
});

test('dependencies: released when they succeed, blocked when they fail', async () => {
  await worker({ tags: ['deps'] });
  const { tasks: [a, f] } = await ts.client.submitTasks({ tasks: [{ command: 'true', tag: 'deps' }, { command: 'false', tag: 'deps' }] });
  const { tasks: [b, c, d] } = await ts.client.submitTasks({
    tasks: [{ command: 'true', depends_on: [a!.id], tag: 'deps' }, { command: 'true', depends_on: [f!.id], tag: 'deps' }, { command: 'true', depends_on: [a!.id, f!.id], tag: 'deps' }],
  });
  assert.equal((await taskEnded(ts, b!.id)).status, 'succeeded');
  assert.equal((await taskEnded(ts, c!.id)).status, 'blocked');
  assert.equal((await taskEnded(ts, d!.id)).status, 'blocked');
  const { tasks: [e] } = await ts.client.submitTasks({ command: 'true', depends_on: [c!.id], tag: 'deps' });
  assert.equal(e!.status, 'blocked', 'depending on a blocked task blocks at submit');
});

test('output streams live over SSE and through `labq task logs -f`, stdout and stderr apart', async () => {
  await worker({ tags: ['live'] });
  const gate = join(dir, 'gate');
  const { tasks: [t] } = await ts.client.submitTasks({
    command: `echo first; echo oops >&2; while [ ! -e ${gate} ]; do sleep 0.05; done; echo last`, tag: 'live',
  });
  const x = await until('execution', async () => (await ts.client.getTask(t!.id)).execution_id ?? undefined);
  const seen: { stream: string; text: string }[] = [];
  let ended: string | null = null;
  for await (const m of ts.client.stream('executionOutput', { params: { id: x }, query: { follow: '1' } })) {
    const data = JSON.parse(m.data);
    if (m.event === 'end') {
      ended = data.status;
      break;
    }
    seen.push(data);
    // The task only ends once the test has seen its first line: the output is live, not replayed at the end.
    if (data.text.includes('first')) await writeFile(gate, '');
  }
  assert.equal(ended, 'succeeded');
  assert.equal(seen.filter((s) => s.stream === 'stdout').map((s) => s.text).join(''), 'first\nlast\n');
  assert.equal(seen.filter((s) => s.stream === 'stderr').map((s) => s.text).join(''), 'oops\n');

  const cli = await run(process.execPath, [CLI, '--server', ts.url, '--token', ts.token, 'task', 'logs', '-f', String(t!.id)]);
  assert.equal(cli.stdout, 'first\nlast\n');
  assert.match(cli.stderr, /oops\n[\s\S]*succeeded/);
});

test('a burst of output is kept whole up to the cap, then truncated with a mark', async () => {
  await worker({ tags: ['burst'] });
  const { tasks: [small, big] } = await ts.client.submitTasks({
    tasks: [
      { command: 'head -c 200000 /dev/zero | tr "\\0" "a"; echo', tag: 'burst' },
      { command: 'head -c 3000000 /dev/zero | tr "\\0" "b"', tag: 'burst' },
    ],
  });
  await taskEnded(ts, small!.id);
  await taskEnded(ts, big!.id);
  const smallOut = await ts.client.executionOutput((await ts.client.getTask(small!.id)).execution_id!);
  assert.equal(smallOut, 'a'.repeat(200000) + '\n');
  const bigOut = await ts.client.executionOutput((await ts.client.getTask(big!.id)).execution_id!);
  assert.ok(bigOut.length <= 256 * 1024 + 200);
  assert.match(bigOut, /^b+\n\[labq: output truncated: more than 262144 bytes; the rest was dropped\]\n$/);
  assert.equal((await ts.client.getTask(big!.id)).status, 'succeeded');
});

test('a runaway task while the server is away: the worker spools its output up to the cap only, and the server marks the truncation', { timeout: 120_000 }, async (t) => {
  const proxy = new TcpProxy(Number(new URL(ts.url).port));
  await proxy.restore();
  t.after(() => proxy.cut());
  const stateDir = await mkdtemp(join(tmpdir(), 'labq-runaway-'));
  await worker({ tags: ['runaway'], stateDir, server: proxy.url });
  const { tasks: [task] } = await ts.client.submitTasks({
    command: 'while [ ! -e "$TEMP/go" ]; do sleep 0.05; done; head -c 20000000 /dev/zero | tr "\\0" "r"; touch "$TEMP/done"', tag: 'runaway',
  });
  const x = await until('the task to run', async () => {
    const { status, execution_id } = await ts.client.getTask(task!.id);
    return status === 'running' && execution_id;
  });
  await proxy.cut();
  const temp = join(stateDir, 'work', String(x), 'tmp');
  await writeFile(join(temp, 'go'), '');
  await until('the 20 MB to be written', async () => existsSync(join(temp, 'done')), 60_000);
  const spooled = (await readdir(join(stateDir, 'spool'), { withFileTypes: true }))
    .filter((e) => e.isFile()).reduce((sum, e) => sum + statSync(join(stateDir, 'spool', e.name)).size, 0);
  // 256 KiB in base64 with the chunk that passes it, against 27 MB for the whole output.
  assert.ok(spooled < 2 * 2 ** 20, `the spool holds ${spooled} bytes`);
  await proxy.restore();
  assert.equal((await taskEnded(ts, task!.id)).status, 'succeeded');
  const out = await ts.client.executionOutput(x as number);
  assert.ok(out.length <= 256 * 1024 + 200, `${out.length} bytes kept`);
  assert.match(out, /^r+\n\[labq: output truncated: more than 262144 bytes; the rest was dropped\]\n$/);
});

test('kill: a running task and its children die, a pending one is cancelled', async () => {
  await worker({ tags: ['kill'], concurrency: 1 });
  const pidFile = join(dir, 'child.pid');
  const { tasks: [running] } = await ts.client.submitTasks({ command: `sleep 300 & echo $! > ${pidFile}; wait`, tag: 'kill' });
  await until('the task to run', async () => (await ts.client.getTask(running!.id)).status === 'running');
  const child = Number(await until('pid file', async () => (await readFile(pidFile, 'utf8').catch(() => '')).trim() || undefined));
  const { tasks: [queued] } = await ts.client.submitTasks({ command: 'true', tag: 'kill', held: true });
  const cli = await run(process.execPath, [CLI, '--server', ts.url, '--token', ts.token, 'task', 'kill', String(queued!.id)]);
  assert.equal(cli.stdout, `task ${queued!.id} cancelled\n`);
  assert.deepEqual(await ts.client.killTask(running!.id, 1), { result: 'kill_requested' });
  const t = await taskEnded(ts, running!.id);
  assert.equal(t.status, 'cancelled');
  assert.equal((await ts.client.getTask(running!.id)).executions[0]!.status, 'killed');
  assert.throws(() => process.kill(child, 0), 'the child process is gone');
  assert.equal((await ts.client.getTask(queued!.id)).status, 'cancelled');
  await assert.rejects(ts.client.killTask(running!.id), /409/);
});

test('a live concurrency change takes effect at the next poll, without a restart', async () => {
  const w = await worker({ tags: ['conc'], concurrency: 1 });
  const release = join(dir, 'release');
  const started = join(dir, 'started');
  await writeFile(started, '');
  const { tasks } = await ts.client.submitTasks({
    tasks: Array.from({ length: 4 }, () => ({ command: `echo x >> ${started}; while [ ! -e ${release} ]; do sleep 0.05; done`, tag: 'conc' })),
  });
  const running = async () => (await ts.client.listTasks({ tag: 'conc', status: 'running' })).items.length;
  await until('one running', async () => (await running()) === 1);
  // A poll round since the task started would have claimed a second task, had there been room.
  await until('the worker to poll again since its task started', async () => ts.server.pool.oneFirst(sql.unsafe`
    SELECT coalesce(l.last_seen_at > max(x.running_at), false) FROM worker_liveness l, executions x JOIN tasks t ON t.id = x.task_id
    WHERE l.worker_id = ${w.id} AND t.tag = 'conc' GROUP BY l.last_seen_at`));
  assert.equal(await running(), 1, 'concurrency 1 runs one task');
  assert.equal((await ts.client.listTasks({ tag: 'conc', status: 'pending' })).items.length, 3, 'and claims no other');
  const updated = await ts.client.updateWorker(w.id, { concurrency: 3 });
  assert.equal(updated.concurrency, 3);
  await until('three running', async () => (await running()) === 3);
  await writeFile(release, '');
  for (const t of tasks) assert.equal((await taskEnded(ts, t.id)).status, 'succeeded');
  assert.equal((await ts.client.getWorker(w.id)).concurrency, 3);
  const changes = await ts.server.pool.anyFirst(sql.unsafe`SELECT data FROM events WHERE type = 'worker.settings_changed' AND stream_id = ${w.id}`);
  assert.deepEqual(changes, [{ concurrency: 3 }]);
});

test('labq worker --exit-when-empty exits once nothing is left for it', async () => {
  const { tasks } = await ts.client.submitTasks({ tasks: [{ command: 'echo one', tag: 'empty' }, { command: 'echo two', tag: 'empty' }] });
  const child = spawnWorker(ts.url, ts.token, ['--name', 'emptier', '--tags', 'empty', '--docker', 'off', '--exit-when-empty', '--state-dir', join(dir, 'emptier')]);
  assert.equal(await child.exited, 0, child.output());
  for (const t of tasks) assert.equal((await ts.client.getTask(t.id)).status, 'succeeded');
  assert.match(child.output(), /nothing left to do/);
  // It said it was leaving: offline at once, not lost once its liveness runs out.
  const emptier = (await ts.client.listWorkers()).items.find((w) => w.name === 'emptier')!;
  assert.equal(emptier.status, 'offline');
});

test('--exit-when-empty exits even when the server cannot take its goodbye', { timeout: 60_000 }, async () => {
  const proxy = new TcpProxy(Number(new URL(ts.url).port));
  await proxy.restore();
  const { tasks: [task] } = await ts.client.submitTasks({ command: 'true', tag: 'goodbye' });
  // The server goes away between the exchange that found nothing left and the one that says so.
  const lines: string[] = [];
  const log = (line: string) => {
    lines.push(line);
    if (/nothing left to do/.test(line)) void proxy.cut();
  };
  const w = await startTestWorker({ url: proxy.url, token: ts.token }, { tags: ['goodbye'], exitWhenEmpty: true, log });
  workers.push(w);
  await w.finished();
  assert.equal((await ts.client.getTask(task!.id)).status, 'succeeded');
  assert.match(lines.join('\n'), /could not say it is leaving/);
});

test('prefetch: with one run slot, the next task downloads while the first runs, then waits for the slot as ready', async () => {
  const stateDir = join(dir, 'prefetch-worker');
  await worker({ tags: ['prefetch'], concurrency: 1, prefetch: 1, stateDir });
  const gate = join(dir, 'prefetch-gate');
  await writeFile(join(dir, 'prefetch-input.txt'), 'data');
  // One after the other: submitted together, the second could win the slot.
  const { tasks: [first] } = await ts.client.submitTasks({ command: `while [ ! -e ${gate} ]; do sleep 0.05; done`, tag: 'prefetch' });
  await until('the first to run', async () => (await ts.client.getTask(first!.id)).status === 'running');
  const { tasks: [second] } = await ts.client.submitTasks({
    command: 'cat "$INPUT/prefetch-input.txt"', inputs: [`file://${dir}/prefetch-input.txt`], tag: 'prefetch',
  });
  // Its downloads done, it no longer shows downloading: it is ready, and waits for the run slot.
  const secondX = await until('the second to download ahead and wait, ready', async () => {
    const task = await ts.client.getTask(second!.id);
    return task.status === 'ready' && task.execution_id!;
  });
  const input = join(stateDir, 'work', String(secondX), 'input', 'prefetch-input.txt');
  assert.equal(await readFile(input, 'utf8'), 'data', 'its input is in place');
  assert.equal((await ts.client.getTask(second!.id)).executions[0]!.status, 'ready');
  const opened = String(await ts.server.pool.oneFirst(sql.unsafe`SELECT clock_timestamp()`));
  await writeFile(gate, '');
  assert.equal((await taskEnded(ts, second!.id)).status, 'succeeded');
  const a = (await ts.client.getTask(first!.id)).executions[0]!;
  const b = (await ts.client.getTask(second!.id)).executions[0]!;
  assert.ok(b.downloading_at! < a.finished_at!, 'downloaded while the first ran');
  assert.ok(Date.parse(b.running_at!) > Date.parse(opened), 'ran only once the first could end and free the slot');
  // Its time line shows the wait for the slot as such, not as more downloading.
  assert.ok(b.downloading_at! <= b.ready_at! && Date.parse(b.ready_at!) < Date.parse(opened), 'ready from its downloads\' end to its run');
  assert.equal(a.ready_at, null, 'the first found its slot free: it never waited ready');
  // The audit view, read from the log alone, says the same.
  const audited = await ts.server.pool.many(sql.unsafe`SELECT execution_id, ready_at FROM audit_executions WHERE execution_id IN (${a.id}, ${b.id}) ORDER BY execution_id`);
  assert.deepEqual(audited.map((r) => r.ready_at), [null, b.ready_at]);
  assert.equal(await ts.client.executionOutput(b.id), 'data');
});

test('a daemon reports through its exchanges: a short task sends its phase and result together, executions share requests', async () => {
  await worker({ tags: ['exchange'], concurrency: 8 });
  const { tasks } = await ts.client.submitTasks({ tasks: Array.from({ length: 48 }, () => ({ command: 'true', tag: 'exchange' })) });
  for (const t of tasks) assert.equal((await taskEnded(ts, t.id)).status, 'succeeded');
  const events = await ts.server.pool.any(sql.unsafe`
    SELECT e.stream_id, e.type, e.meta->>'request_id' AS request_id FROM events e JOIN executions x ON x.id = e.stream_id
    WHERE e.stream_type = 'execution' AND x.task_id = ANY(${sql.array(tasks.map((t) => t.id), 'int8')})`);
  const reported = events.filter((e) => e.type !== 'execution.assigned');
  const requests = new Set(reported.map((e) => e.request_id));
  // One request per execution (or per phase) would need at least 48 of them.
  assert.ok(requests.size < tasks.length, `${requests.size} requests carried the reports of ${tasks.length} tasks`);
  const finishedWithRunning = events.filter((e) => e.type === 'execution.finished' &&
    reported.some((r) => r.stream_id === e.stream_id && r.type === 'execution.phase' && r.request_id === e.request_id));
  assert.ok(finishedWithRunning.length > 0, 'some task sent its running phase and its result in one request');
  // Reports and claims travel in the same exchanges.
  const claims = new Set(events.filter((e) => e.type === 'execution.assigned').map((e) => e.request_id));
  assert.ok([...requests].some((r) => claims.has(r)), 'an exchange carried reports and took new work');
});
