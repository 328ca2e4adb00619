// Transfer progress end to end: a real worker daemon downloads a 30 MB S3 object (s3rver,
// behind a TCP proxy that slows the link so the download lasts several seconds), and the
// task, read through the API while it downloads, shows the bytes done so far out of the
// object's size; once the task has run, the figures are gone.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { http, startTestServer, type TestServer } from './support/server.js';
import { startTestS3, type TestS3 } from './support/stores.js';
import { TcpProxy } from './support/tcpProxy.js';
import { startTestWorker, taskEnded, until } from './support/worker.js';

const SIZE = 30 * 2 ** 20;
/** About six seconds for the whole object: several of the worker's one-a-second figures. */
const LINK_BYTES_PER_SECOND = 5 * 2 ** 20;

let ts: TestServer;
let s3: TestS3;
let link: TcpProxy;
const savedEnv = { ...process.env };

before(async () => {
  ts = await startTestServer();
  s3 = await startTestS3(['big']);
  const store = s3.client();
  await store.send(new PutObjectCommand({ Bucket: 'big', Key: 'reads.bin', Body: randomBytes(SIZE) }));
  store.destroy();
  link = new TcpProxy(Number(new URL(s3.endpoint).port), { bytesPerSecond: LINK_BYTES_PER_SECOND });
  await link.restore();
  // The in-process worker reads its S3 endpoint where a `labq worker` would: its environment.
  Object.assign(process.env, s3.env, { AWS_ENDPOINT_URL: link.url });
});

after(async () => {
  await link.cut();
  await s3.stop();
  await ts.close();
  process.env = savedEnv;
});

test('while a task downloads its input, its execution shows the bytes done out of the size', async (t) => {
  const worker = await startTestWorker(ts, { tags: ['progress'] });
  t.after(() => worker.stop());
  const { tasks: [task] } = await ts.client.submitTasks({
    tag: 'progress', inputs: ['s3://big/reads.bin'], command: 'wc -c < "$INPUT/reads.bin"', timeouts: { download: 600 },
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
