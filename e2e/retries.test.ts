// Failure classes and retries with real worker daemons: a Docker task killed at its memory
// limit is retried with the next value of its memory curve (the container's limit follows)
// and succeeds; timeout, refused and download failures say so; each attempt records its peak
// memory and CPU time, bare and in Docker.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Dockerode from 'dockerode';
import { ensureTestImage } from './support/images.js';
import { startTestServer, type TestServer } from './support/server.js';
import { startTestWorker, taskEnded } from './support/worker.js';

let ts: TestServer;
let image: string;
const stops: Array<() => Promise<void>> = [];
const AT_ONCE = { base_seconds: 0, cap_seconds: 0 };

before(async () => {
  image = await ensureTestImage(new Dockerode());
  ts = await startTestServer();
  const docker = await startTestWorker(ts, { docker: 'on', tags: ['docker'], concurrency: 2 });
  const bare = await startTestWorker(ts, { tags: ['bare'], concurrency: 4 });
  stops.push(() => docker.stop(), () => bare.stop());
});
after(async () => {
  for (const stop of stops) await stop();
  await ts?.close();
});

test('a Docker task killed at its memory limit is retried with the next value of its curve, and succeeds', async () => {
  // The container's own limit (cgroup v1 or v2), then a 48 MiB buffer: over 32 MiB, under 128 MiB. The shell outlives
  // dd by a second: an engine may drop the word of a kill that took the container's last process (docs/worker.md).
  const { tasks: [t] } = await ts.client.submitTasks({
    command: 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; dd if=/dev/zero of=/dev/null bs=48M count=1; s=$?; sleep 1; exit $s',
    container: image, tag: 'docker', max_retries: 1, backoff: AT_ONCE, requirements: { memory_mb: [32, 128] },
  });
  const done = await taskEnded(ts, t!.id);
  const detail = await ts.client.getTask(done.id);
  assert.equal(detail.status, 'succeeded', JSON.stringify(detail.executions));
  assert.deepEqual(detail.executions.map((x) => [x.attempt, x.status, x.failure_class]), [[1, 'failed', 'oom'], [2, 'succeeded', null]]);
  assert.deepEqual([detail.requirements.memory_mb, detail.memory_curve], [128, [32, 128]]);
  const [first, second] = detail.executions;
  assert.match(first!.error ?? '', /out of memory/);
  assert.ok((first!.peak_memory_bytes ?? 0) >= 32 * 1024 ** 2, `the first attempt reached its limit: ${first!.peak_memory_bytes}`);
  assert.equal(await ts.client.executionOutput(first!.id, 'stdout'), `${32 * 1024 ** 2}\n`, 'the first container ran under 32 MiB');
  assert.equal(await ts.client.executionOutput(second!.id, 'stdout'), `${128 * 1024 ** 2}\n`, 'the retry under 128 MiB');
  const finished = (await ts.client.taskEvents(done.id)).items.filter((e) => e.type === 'execution.finished').map((e) => e.data);
  assert.deepEqual(finished.map((d) => [d.failure_class, d.memory_mb ?? null, d.task_status]), [['oom', 128, 'pending'], [null, null, 'succeeded']]);
});

test('timeout, refused and download failures are classed as such; exit keeps its code', async () => {
  const { tasks } = await ts.client.submitTasks({
    tasks: [
      { command: 'sleep 60', tag: 'bare', timeouts: { run: 1 } },
      { command: 'true', tag: 'bare', shell: 'no-such-shell-labq' },
      { command: 'true', tag: 'bare', inputs: [`file://${await mkdtemp(join(tmpdir(), 'labq-missing-'))}/absent.fq`] },
      { command: 'exit 3', tag: 'bare' },
      // The engine cannot start it: the image has no such user.
      { command: 'true', tag: 'docker', container: image, container_options: ['--user=labq-no-such-user'] },
    ],
  });
  const classes = [];
  for (const t of tasks) {
    const detail = await ts.client.getTask((await taskEnded(ts, t.id)).id);
    assert.equal(detail.status, 'failed');
    classes.push(detail.executions.map((x) => [x.status, x.failure_class, x.exit_code]));
  }
  assert.equal(classes[0]![0]![1], 'timeout');
  assert.deepEqual(classes.slice(1), [
    [['refused', 'refused', null]], [['failed', 'download', null]], [['failed', 'exit', 3]], [['refused', 'refused', null]],
  ]);
});

test('each attempt records its peak memory and CPU time, bare and in Docker', async () => {
  // A busy loop for CPU time; then dd holds a 48 MiB buffer while it waits on a pipe no one reads, for a few samples.
  const command = 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; dd if=/dev/zero bs=48M count=1 2>/dev/null | sleep 2.5';
  const { tasks } = await ts.client.submitTasks({
    tasks: [{ command, tag: 'bare' }, { command, tag: 'docker', container: image, requirements: { memory_mb: 256 } }],
  });
  for (const t of tasks) {
    const x = (await ts.client.getTask((await taskEnded(ts, t.id)).id)).executions[0]!;
    assert.equal(x.status, 'succeeded');
    assert.ok((x.cpu_seconds ?? 0) > 0, `task ${t.id}: cpu ${x.cpu_seconds}`);
    assert.ok((x.peak_memory_bytes ?? 0) >= 48 * 1024 ** 2, `task ${t.id}: peak ${x.peak_memory_bytes}`);
  }
});
