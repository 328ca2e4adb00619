// A 200 MB file through a real `labq worker` process: downloaded from S3 as an input, copied
// by the task, uploaded as its output. The worker streams both ways, so its peak resident
// memory (VmHWM, printed) stays far below the file's size.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startTestServer, type TestServer } from './support/server.js';
import { startTestS3, type TestS3 } from './support/stores.js';
import { spawnWorker, taskEnded, type WorkerProcess } from './support/worker.js';

const SIZE = 200 * 1024 * 1024;
/**
 * An idle worker peaks near 130 MiB here (Node and the AWS SDK); a 600 MiB file gives the same
 * peak as a 200 MiB one (about 175 MiB). A file held in memory would add its 200 MiB.
 */
const BOUND_MIB = 256;

let ts: TestServer;
let s3: TestS3;
let client: S3Client;
let dir: string;
let worker: WorkerProcess;
let digest: string;

before(async () => {
  ts = await startTestServer();
  s3 = await startTestS3(['big']);
  client = s3.client();
  dir = await mkdtemp(join(tmpdir(), 'labq-big-'));
  // Random content, so that no layer can compress or deduplicate its way through.
  const file = join(dir, 'big.bin');
  const hash = createHash('sha256');
  let left = SIZE;
  const chunks = Readable.from((function* () {
    while (left > 0) {
      const chunk = Buffer.allocUnsafe(Math.min(left, 1024 * 1024));
      for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
      left -= chunk.length;
      hash.update(chunk);
      yield chunk;
    }
  })());
  await pipeline(chunks, createWriteStream(file));
  digest = hash.digest('hex');
  await new Upload({ client, params: { Bucket: 'big', Key: 'in/big.bin', Body: createReadStream(file) } }).done();
  await rm(file);
  worker = spawnWorker(ts.url, ts.token, ['--name', 'big', '--tags', 'big', '--docker', 'off', '--state-dir', join(dir, 'state')], { ...s3.env, HOME: dir });
});

after(async () => {
  worker.child.kill('SIGTERM');
  await worker.exited;
  client.destroy();
  await s3.stop();
  await ts.close();
  await rm(dir, { recursive: true, force: true });
});

test('a 200 MB input and output stream through the worker with bounded memory', async () => {
  const { tasks: [task] } = await ts.client.submitTasks({
    tag: 'big', command: 'cp "$INPUT/big.bin" "$OUTPUT/copy.bin"', inputs: ['s3://big/in/big.bin'], output: 's3://big/out/',
  } as never);
  const ended = await taskEnded(ts, task!.id);
  const execution = (await ts.client.getTask(ended.id)).executions.at(-1)!;
  assert.equal(ended.status, 'succeeded', execution.error ?? worker.output());

  const status = await readFile(`/proc/${worker.child.pid}/status`, 'utf8');
  const peakMiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
  console.log(`worker peak RSS with a ${SIZE / 2 ** 20} MiB file in and out: ${peakMiB.toFixed(1)} MiB`);
  assert.ok(peakMiB < BOUND_MIB, `the worker's peak RSS was ${peakMiB.toFixed(1)} MiB: the file went through memory`);

  const back = await client.send(new GetObjectCommand({ Bucket: 'big', Key: 'out/copy.bin' }));
  const hash = createHash('sha256');
  for await (const chunk of back.Body as Readable) hash.update(chunk as Buffer);
  assert.equal(hash.digest('hex'), digest, 'the output is the input, byte for byte');
});
