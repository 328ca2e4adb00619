// Data through real tasks: a real server, a real worker daemon, and an S3 server, an FTP
// server and an HTTP server started here. Inputs are downloaded into $INPUT and the output
// folder uploaded, over each scheme; folder URIs with and without a trailing slash; a resource
// folder mounted as its content; resource actions (gunzip, untar, mv) as the task sees them,
// and a hostile archive refused; URIs with credentials refused at submission; a missing object
// failing with class `download`, a missing bucket with class `upload` (after a failed run, the
// output still goes up); and no credential anywhere in the event log.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { sql } from 'slonik';
import type { WorkerDaemon } from '../worker/daemon.js';
import { API_PREFIX } from '../shared/api.js';
import { tarArchive } from './support/archives.js';
import { http, startTestServer, type TestServer } from './support/server.js';
import { startTestFtp, startTestS3, type TestFtp, type TestS3 } from './support/stores.js';
import { startTestWorker, taskEnded } from './support/worker.js';

let ts: TestServer;
let s3: TestS3;
let ftp: TestFtp;
let store: S3Client;
let home: string;
let worker: WorkerDaemon & { logs: string[] };
const savedEnv = { ...process.env };

/** What a task leaves in $OUTPUT: its inputs as it saw them, and what its resource holds. */
const COMMAND = 'cd "$INPUT" && find . -type f | sort > "$OUTPUT/inputs.txt" && cat reads.fq > "$OUTPUT/copy.fq" && mkdir "$OUTPUT/logs" && echo done > "$OUTPUT/logs/run.log"';
/** What COMMAND finds in $INPUT given reads.fq, hg38-idx/ (its content) and hg38-idx (the folder). */
const INPUTS = './hg38-idx/ref.fa\n./hg38-idx/sub/ref.fai\n./reads.fq\n./ref.fa\n./sub/ref.fai\n';

before(async () => {
  ts = await startTestServer();
  s3 = await startTestS3(['refs', 'results']);
  ftp = await startTestFtp();
  // The in-process worker reads its credentials where a `labq worker` would: its environment and HOME.
  home = await mkdtemp(join(tmpdir(), 'labq-transfers-home-'));
  await writeFile(join(home, '.netrc'), ftp.netrc, { mode: 0o600 });
  Object.assign(process.env, s3.env, { HOME: home });
  store = s3.client();
  for (const [key, body] of [['reads.fq', '@r1\nACGT\n'], ['hg38-idx/ref.fa', '>chr1\nACGT\n'], ['hg38-idx/sub/ref.fai', 'chr1\t4\n']]) {
    await store.send(new PutObjectCommand({ Bucket: 'refs', Key: key!, Body: body }));
    await mkdir(join(ftp.root, 'refs', 'hg38-idx', 'sub'), { recursive: true });
    await writeFile(join(ftp.root, 'refs', key!), body!);
  }
  worker = await startTestWorker(ts, { tags: ['data'] });
});

after(async () => {
  await worker.stop();
  store.destroy();
  await s3.stop();
  await ftp.stop();
  await ts.close();
  await rm(home, { recursive: true, force: true });
  process.env = savedEnv;
});

async function run(task: Record<string, unknown>) {
  const { tasks: [submitted] } = await ts.client.submitTasks({ tag: 'data', ...task } as never);
  const ended = await taskEnded(ts, submitted!.id);
  return { ended, execution: (await ts.client.getTask(ended.id)).executions.at(-1)! };
}

async function s3Text(bucket: string, key: string): Promise<string> {
  const response = await store.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return response.Body!.transformToString();
}

test('s3 both ways: a file and a folder with and without its slash in, the output folder out', async () => {
  const { ended, execution } = await run({
    command: COMMAND,
    inputs: ['s3://refs/reads.fq', 's3://refs/hg38-idx/', 's3://refs/hg38-idx'],
    output: 's3://results/s3-run/',
  });
  assert.equal(ended.status, 'succeeded', execution.error ?? '');
  assert.equal(await s3Text('results', 's3-run/inputs.txt'), INPUTS);
  assert.equal(await s3Text('results', 's3-run/copy.fq'), '@r1\nACGT\n');
  assert.equal(await s3Text('results', 's3-run/logs/run.log'), 'done\n');
});

test('ftp both ways, with the credentials from ~/.netrc', async () => {
  const { ended, execution } = await run({
    command: COMMAND,
    inputs: [`ftp://${ftp.host}/refs/reads.fq`, `ftp://${ftp.host}/refs/hg38-idx/`, `ftp://${ftp.host}/refs/hg38-idx`],
    output: `ftp://${ftp.host}/results/ftp-run`,
  });
  assert.equal(ended.status, 'succeeded', execution.error ?? '');
  const out = join(ftp.root, 'results', 'ftp-run');
  assert.equal(await readFile(join(out, 'inputs.txt'), 'utf8'), INPUTS);
  assert.equal(await readFile(join(out, 'copy.fq'), 'utf8'), '@r1\nACGT\n');
  assert.equal(await readFile(join(out, 'logs', 'run.log'), 'utf8'), 'done\n');
});

test('http and file: a file over http, a folder over file:// in, the output to file://', async () => {
  const local = await mkdtemp(join(tmpdir(), 'labq-transfers-local-'));
  const web = createServer((req, res) => {
    if (req.url === '/reads.fq') res.writeHead(200).end('@r1\nACGT\n');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  try {
    await mkdir(join(local, 'refs', 'hg38-idx', 'sub'), { recursive: true });
    await writeFile(join(local, 'refs', 'hg38-idx', 'ref.fa'), '>chr1\nACGT\n');
    await writeFile(join(local, 'refs', 'hg38-idx', 'sub', 'ref.fai'), 'chr1\t4\n');
    const { ended, execution } = await run({
      command: COMMAND,
      inputs: [`http://127.0.0.1:${(web.address() as AddressInfo).port}/reads.fq`, `file://${local}/refs/hg38-idx/`, `file://${local}/refs/hg38-idx`],
      output: `file://${local}/results`,
    });
    assert.equal(ended.status, 'succeeded', execution.error ?? '');
    assert.equal(await readFile(join(local, 'results', 'inputs.txt'), 'utf8'), INPUTS);
    assert.equal(await readFile(join(local, 'results', 'logs', 'run.log'), 'utf8'), 'done\n');
  } finally {
    await new Promise((resolve) => web.close(resolve));
    await rm(local, { recursive: true, force: true });
  }
});

test('a folder resource ending in / is mounted as its content', async () => {
  const local = await mkdtemp(join(tmpdir(), 'labq-transfers-out-'));
  try {
    const { ended, execution } = await run({
      command: 'cat "$RESOURCE/ref.fa" > "$OUTPUT/ref.fa"',
      resources: ['s3://refs/hg38-idx/'],
      output: `file://${local}/`,
    });
    assert.equal(ended.status, 'succeeded', execution.error ?? '');
    assert.equal(await readFile(join(local, 'ref.fa'), 'utf8'), '>chr1\nACGT\n');
  } finally {
    await rm(local, { recursive: true, force: true });
  }
});

test('several resources merge in the task\'s order: a later one\'s file replaces an earlier one\'s at the same path', async () => {
  const local = await mkdtemp(join(tmpdir(), 'labq-transfers-merge-'));
  try {
    await mkdir(join(local, 'old', 'sub'), { recursive: true });
    await mkdir(join(local, 'new', 'sub'), { recursive: true });
    await writeFile(join(local, 'old', 'sub', 'shared.txt'), 'old\n');
    await writeFile(join(local, 'old', 'only-old.txt'), 'o\n');
    await writeFile(join(local, 'new', 'sub', 'shared.txt'), 'new\n');
    const { ended, execution } = await run({
      command: 'cd "$RESOURCE" && find . -type f | sort > "$OUTPUT/files.txt" && cat sub/shared.txt > "$OUTPUT/shared.txt"',
      resources: [`file://${local}/old/`, `file://${local}/new/`],
      output: `file://${local}/out/`,
    });
    assert.equal(ended.status, 'succeeded', execution.error ?? '');
    assert.equal(await readFile(join(local, 'out', 'files.txt'), 'utf8'), './only-old.txt\n./sub/shared.txt\n');
    assert.equal(await readFile(join(local, 'out', 'shared.txt'), 'utf8'), 'new\n');
  } finally {
    await rm(local, { recursive: true, force: true });
  }
});

test('resource actions: the task sees what gunzip|mv and untar|mv made; a hostile archive fails with class download', async () => {
  const archives: [string, Buffer][] = [
    ['hg38.fa.gz', gzipSync('>chr1\nACGT\n')],
    ['idx.tar.gz', gzipSync(tarArchive([{ path: 'ref.fa', body: '>chr1\nACGT\n' }, { path: 'sub/ref.fai', body: 'chr1\t4\n' }]))],
    ['evil.tar', tarArchive([{ path: 'passwd', type: 'SymbolicLink', linkpath: '/etc/passwd' }])],
  ];
  for (const [key, body] of archives) await store.send(new PutObjectCommand({ Bucket: 'refs', Key: key, Body: body }));
  const local = await mkdtemp(join(tmpdir(), 'labq-transfers-out-'));
  try {
    const { ended, execution } = await run({
      command: 'cd "$RESOURCE" && find . | sort > "$OUTPUT/resource.txt" && cat hg38/hg38.fa refs/idx/sub/ref.fai > "$OUTPUT/read.txt"',
      resources: ['s3://refs/hg38.fa.gz|gunzip|mv:hg38', 's3://refs/idx.tar.gz|untar|mv:refs/idx'],
      output: `file://${local}/`,
    });
    assert.equal(ended.status, 'succeeded', execution.error ?? '');
    assert.equal(await readFile(join(local, 'resource.txt'), 'utf8'), '.\n./hg38\n./hg38/hg38.fa\n./refs\n./refs/idx\n./refs/idx/ref.fa\n./refs/idx/sub\n./refs/idx/sub/ref.fai\n');
    assert.equal(await readFile(join(local, 'read.txt'), 'utf8'), '>chr1\nACGT\nchr1\t4\n');
  } finally {
    await rm(local, { recursive: true, force: true });
  }
  const { ended, execution } = await run({ command: 'true', resources: ['s3://refs/evil.tar|untar'] });
  assert.equal(ended.status, 'failed');
  assert.equal(execution.failure_class, 'download');
  assert.match(execution.error ?? '', /the untar step failed on evil\.tar: link passwd -> \/etc\/passwd points outside/);
});

test('a missing object fails the attempt with class download, naming the URI', async () => {
  const { ended, execution } = await run({ command: 'true', inputs: ['s3://refs/missing.fq'] });
  assert.equal(ended.status, 'failed');
  assert.equal(execution.failure_class, 'download');
  assert.match(execution.error ?? '', /download of s3:\/\/refs\/missing\.fq failed: no object missing\.fq/);
});

test('a bucket that does not exist fails with class upload; a failed run still uploads its output', async () => {
  const { ended, execution } = await run({ command: 'echo partial > "$OUTPUT/part.txt"', output: 's3://nobucket/run/' });
  assert.equal(ended.status, 'failed');
  assert.equal(execution.failure_class, 'upload');
  assert.match(execution.error ?? '', /upload to s3:\/\/nobucket\/run\/ failed: NoSuchBucket/);

  const failed = await run({ command: 'echo partial > "$OUTPUT/part.txt"; exit 3', output: 's3://results/failed-run/' });
  assert.equal(failed.execution.failure_class, 'exit');
  assert.equal(await s3Text('results', 'failed-run/part.txt'), 'partial\n');
});

test('the download and upload timeouts fail the attempt, naming the URI in flight', async () => {
  // A server that accepts connections and never answers: an HTTP download and an FTP session both hang.
  const sockets: Socket[] = [];
  const silent = createTcpServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as AddressInfo).port;
  try {
    const slow = await run({ command: 'true', inputs: ['s3://refs/reads.fq', `http://127.0.0.1:${port}/mates.fq`], timeouts: { download: 1 } });
    assert.equal(slow.execution.failure_class, 'download');
    assert.equal(slow.execution.error, `download of http://127.0.0.1:${port}/mates.fq timed out after 1 s`);

    const stuck = await run({ command: 'echo r > "$OUTPUT/r.txt"', output: `ftp://127.0.0.1:${port}/out/`, timeouts: { upload: 1 } });
    assert.equal(stuck.execution.failure_class, 'upload');
    assert.equal(stuck.execution.error, `upload to ftp://127.0.0.1:${port}/out/ timed out after 1 s`);
  } finally {
    for (const socket of sockets) socket.destroy();
    silent.close();
  }
});

test('URIs with credentials are refused at submission, naming the field, and never stored', async () => {
  const before = await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM events`);
  for (const [field, task] of [
    ['inputs[0]', { inputs: ['s3://AKIAEXAMPLE:s3cretKey@refs/reads.fq'] }],
    ['resources[0]', { resources: [`ftp://labq:s3cretKey@${ftp.host}/refs/hg38-idx/`] }],
    ['output', { output: 'https://alice:s3cretKey@example.org/results/' }],
  ] as const) {
    const response = await http(ts, 'POST', `${API_PREFIX}/tasks`, { command: 'true', tag: 'data', ...task });
    assert.equal(response.status, 400, response.text);
    assert.match(response.type, /problem\+json/);
    assert.equal(response.json.errors[0].field, field);
    assert.match(response.text, /credentials in a URI are refused/);
    assert.doesNotMatch(response.text, /s3cretKey|AKIAEXAMPLE/);
  }
  assert.equal(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM events`), before, 'nothing recorded');
});

test('no credential anywhere in the event log, the tasks\' output, the uploaded results or the worker\'s log', async () => {
  const secrets = ['s3cretKey', 'AKIAEXAMPLE', ftp.password, s3.env.AWS_SECRET_ACCESS_KEY!];
  // A task that prints what it was given, over both stores that need credentials.
  const { ended } = await run({ command: 'ls -R "$INPUT"; cat "$INPUT/reads.fq"', inputs: ['s3://refs/reads.fq', `ftp://${ftp.host}/refs/hg38-idx/`] });
  assert.equal(ended.status, 'succeeded');
  const patterns = sql.array(secrets.map((s) => `%${s}%`), 'text');
  const leaks = await ts.server.pool.oneFirst(sql.unsafe`
    SELECT (SELECT count(*) FROM events WHERE data::text LIKE ANY(${patterns}))
         + (SELECT count(*) FROM execution_output WHERE convert_from(data, 'UTF8') LIKE ANY(${patterns}))`);
  assert.equal(Number(leaks), 0);
  assert.ok(Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM execution_output`)) > 0, 'the check sees the output');
  const listed = await store.send(new ListObjectsV2Command({ Bucket: 'results' }));
  assert.ok((listed.Contents ?? []).length > 0, 'the check sees the results');
  for (const object of listed.Contents ?? []) {
    const text = await s3Text('results', object.Key!);
    for (const secret of secrets) assert.ok(!text.includes(secret), `${object.Key} holds a credential`);
  }
  assert.ok(Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM events WHERE data::text LIKE '%s3://%'`)) > 0, 'the check sees the URIs');
  for (const secret of secrets) assert.ok(!worker.logs.join('\n').includes(secret));
});
