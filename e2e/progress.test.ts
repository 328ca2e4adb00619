// Transfer progress end to end: a real worker daemon downloads a 30 MB S3 object (s3rver,
// behind a TCP proxy that slows the link so the download lasts several seconds), and the
// task, read through the API while it downloads, shows the bytes done so far out of the
// object's size; once the task has run, the figures are gone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { http, startTestServer, type TestServer } from './support/server.js';
import { slowS3Object, type SlowS3Object } from './support/slowS3.js';
import { startTestWorker, taskEnded, until } from './support/worker.js';

const SIZE = 30 * 2 ** 20;
/** About six seconds for the whole object: several of the worker's one-a-second figures. */
const LINK_BYTES_PER_SECOND = 5 * 2 ** 20;

let ts: TestServer;
let object: SlowS3Object;

before(async () => {
  ts = await startTestServer();
  object = await slowS3Object('big', 'reads.bin', SIZE, LINK_BYTES_PER_SECOND);
});

after(async () => {
  await object.stop();
  await ts.close();
});

test('while a task downloads its input, its execution shows the bytes done out of the size', async (t) => {
  const worker = await startTestWorker(ts, { tags: ['progress'] });
  t.after(() => worker.stop());
  const { tasks: [task] } = await ts.client.submitTasks({
    tag: 'progress', inputs: [object.url], command: 'wc -c < "$INPUT/reads.bin"', timeouts: { download: 600 },
  });
  const seen: number[] = [];
  const figures = await until('figures of the download, or its end', async () => {
    const { status, executions: [execution] } = await ts.client.getTask(task!.id);
    const progress = execution?.progress;
    if (progress) seen.push(progress.bytes_done);
    if (progress && progress.bytes_done > 0) return progress;
    return !['pending', 'assigned', 'downloading'].includes(status) && `the download ended (task ${status}) without figures`;
  });
  assert.ok(typeof figures !== 'string', figures as string);
  assert.equal(figures.phase, 'downloading');
  assert.equal(figures.bytes_total, SIZE, 'the object\'s size, known once the worker asked for it');
  assert.ok(figures.bytes_done > 0 && figures.bytes_done <= SIZE, JSON.stringify(figures));
  t.diagnostic(`bytes done seen while downloading: ${JSON.stringify(seen)}`);

  const ended = await taskEnded(ts, task!.id);
  assert.equal(ended.status, 'succeeded');
  const execution = (await ts.client.getTask(task!.id)).executions[0]!;
  assert.equal((await http(ts, 'GET', `/api/v1/executions/${execution.id}/output`)).text.trim(), String(SIZE));
  assert.equal(execution.progress, null, 'no figures once it is over');
});
