// HTTPS from a certificate and its key: the API, the limits' refusals, SSE and a real
// `labq worker` child process (long polls, reports) all work over TLS, with a private
// certificate trusted through NODE_EXTRA_CA_CERTS as docs/security.md says; a client
// that does not trust the certificate is refused by TLS, never served in clear.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generate } from 'selfsigned';
import { startTestServer, type TestServer } from './support/server.js';
import { spawnWorker, until, type WorkerProcess } from './support/worker.js';

let ts: TestServer;
let dir: string;
let certFile: string;
let ca: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'labq-https-'));
  const pems = await generate([{ name: 'commonName', value: 'labq-test' }], {
    keyType: 'ec',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }],
  });
  ca = pems.cert;
  certFile = join(dir, 'cert.pem');
  await writeFile(certFile, pems.cert);
  ts = await startTestServer({ tls: { cert: pems.cert, key: pems.private } });
});
after(async () => {
  await ts?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Answer { status: number; type: string; text: string; json: any }

/** One request over TLS trusting the test certificate (or not, with `trust: false`). */
function call(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; trust?: boolean } = {}): Promise<Answer> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const init: RequestOptions = {
    method,
    ...(options.trust === false ? {} : { ca }),
    headers: { authorization: `Bearer ${ts.token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...options.headers },
  };
  return new Promise((resolve, reject) => {
    const req = request(ts.url + path, init, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => {
        let json: any = null;
        try { json = JSON.parse(text); } catch { json = null; }
        resolve({ status: res.statusCode!, type: res.headers['content-type'] ?? '', text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('the server listens with TLS: its URL is https, and a client that does not trust the certificate is refused', async () => {
  assert.match(ts.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.equal((await call('GET', '/healthz')).status, 200);
  await assert.rejects(call('GET', '/healthz', { trust: false }), /self-signed certificate/);
});

test('refusals of the request limits are problems over TLS too', async () => {
  const tooLongUrl = await call('GET', `/api/v1/tasks?q=${'a'.repeat(9000)}`);
  assert.equal(tooLongUrl.status, 414);
  const tooLargeHead = await call('GET', '/api/v1/tasks', { headers: { 'x-big': 'b'.repeat(20_000) } });
  assert.equal(tooLargeHead.status, 431);
  assert.match(tooLargeHead.type, /application\/problem\+json/);
  assert.equal(tooLargeHead.json.status, 431);
});

test('SSE and a labq worker (long polls, reports, output) work over HTTPS with NODE_EXTRA_CA_CERTS', async (t) => {
  // The stream is opened first, so the task's events reach it live.
  const seen: string[] = [];
  const streamed = new Promise<void>((resolve, reject) => {
    const req = request(ts.url + '/api/v1/events/stream?type=task.submitted,execution.finished', { ca, headers: { authorization: `Bearer ${ts.token}` } }, (res) => {
      assert.equal(res.statusCode, 200);
      assert.match(res.headers['content-type'] ?? '', /text\/event-stream/);
      res.setEncoding('utf8').on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) if (line.startsWith('data: ')) seen.push(JSON.parse(line.slice(6)).type);
        if (seen.includes('execution.finished')) {
          req.destroy();
          resolve();
        }
      });
    });
    req.on('error', (error) => (seen.includes('execution.finished') ? undefined : reject(error)));
    req.end();
  });

  const worker: WorkerProcess = spawnWorker(ts.url, ts.token, ['--name', 'tls', '--tags', 'tls', '--docker', 'off', '--state-dir', join(dir, 'state')], {
    NODE_EXTRA_CA_CERTS: certFile,
  });
  t.after(async () => {
    worker.child.kill('SIGTERM');
    await worker.exited;
  });
  // Registered, then parked in its long poll: the task is claimed when it arrives.
  await until('the worker to register', async () => (await call('GET', '/api/v1/workers')).json.items.some((w: any) => w.name === 'tls'), 30_000);
  const submitted = await call('POST', '/api/v1/tasks', { body: { command: 'echo over-tls', tag: 'tls' } });
  assert.equal(submitted.status, 201, submitted.text);
  const id = submitted.json.tasks[0].id;
  const task = await until('the task to succeed', async () => {
    const { json } = await call('GET', `/api/v1/tasks/${id}`);
    return json.status === 'succeeded' && json;
  }, 60_000);
  const output = await call('GET', `/api/v1/executions/${task.executions[0].id}/output`);
  assert.equal(output.text.trim(), 'over-tls');
  await streamed;
  assert.deepEqual(seen, ['task.submitted', 'execution.finished']);
  assert.doesNotMatch(worker.output(), /certificate/i);
});

test('a labq worker that does not trust the certificate says why, and how to trust it', async (t) => {
  const worker = spawnWorker(ts.url, ts.token, ['--name', 'untrusting', '--docker', 'off', '--state-dir', join(dir, 'untrusting')]);
  t.after(async () => {
    worker.child.kill('SIGTERM');
    await worker.exited;
  });
  const said = await until('the worker to name the certificate', async () => /cannot register yet \(.*self-signed certificate.*\)/.exec(worker.output()) ?? undefined, 30_000);
  assert.match(said[0], /NODE_EXTRA_CA_CERTS/);
  assert.equal((await call('GET', '/api/v1/workers')).json.items.some((w: any) => w.name === 'untrusting'), false);
});
