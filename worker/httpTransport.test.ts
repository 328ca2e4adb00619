// The worker's node:http transport against a real local server: bodies in bytes, answers of
// any status, kept-alive connections, aborts and a server that hangs up mid-answer, and the
// typed client's errors through it.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { freePort } from '../server/db/embedded.js';
import { LabqApiError, LabqClient, LabqUnreachableError } from '../shared/client.js';
import { httpTransport, nodeTransport } from './httpTransport.js';

let server: http.Server;
let base = '';

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url === '/echo') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ length: req.headers['content-length'], text: body.toString('utf8'), auth: req.headers.authorization, port: req.socket.remotePort }));
      } else if (req.url === '/teapot') {
        res.statusCode = 418;
        res.end('short and stout');
      } else if (req.url === '/never') {
        // No answer: the caller's signal ends the wait.
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-length': '1000' });
        res.write('{"partial":');
        setTimeout(() => res.socket?.destroy(), 20);
      } else if (req.url?.startsWith('/api/v1/workers/')) {
        res.statusCode = 404;
        res.setHeader('content-type', 'application/problem+json');
        res.end(JSON.stringify({ type: 'about:blank', title: 'Not found', status: 404, detail: 'worker 7' }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => {
  server.closeAllConnections();
  server.close(() => resolve());
}));

test('a body is sent in bytes, not characters, and the answer is read whole, of any status', async () => {
  const text = JSON.stringify({ s: 'é€😀'.repeat(1000) });
  const answer = await nodeTransport(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body: text });
  assert.equal(answer.status, 200);
  const echoed = JSON.parse(answer.text);
  assert.equal(echoed.text, text, 'every character arrived');
  assert.equal(Number(echoed.length), Buffer.byteLength(text));
  assert.equal(echoed.auth, 'Bearer x');
  const teapot = await nodeTransport(`${base}/teapot`, { method: 'GET', headers: {} });
  assert.deepEqual(teapot, { status: 418, statusText: "I'm a Teapot", text: 'short and stout' });
});

test('calls one after the other keep one connection', async () => {
  const ports = new Set<number>();
  for (let i = 0; i < 5; i++) ports.add(JSON.parse((await nodeTransport(`${base}/echo`, { method: 'POST', headers: {}, body: String(i) })).text).port);
  assert.equal(ports.size, 1);
});

test('an abort while the answer is awaited rejects with the signal\'s reason', async () => {
  await assert.rejects(nodeTransport(`${base}/never`, { method: 'GET', headers: {}, signal: AbortSignal.timeout(100) }), { name: 'TimeoutError' });
  const aborted = new AbortController();
  aborted.abort(new Error('news came'));
  await assert.rejects(nodeTransport(`${base}/never`, { method: 'GET', headers: {}, signal: aborted.signal }), /news came/);
});

test('a call without a signal gives up on a server that does not answer, and says so', async () => {
  // nodeTransport waits five minutes, as fetch does; the same transport with a shorter wait.
  await assert.rejects(httpTransport(200)(`${base}/never`, { method: 'GET', headers: {} }), /^Error: no answer within 0\.2 s$/);
});

test('a server that hangs up in the middle of its answer fails the call', async () => {
  await assert.rejects(nodeTransport(`${base}/cut`, { method: 'GET', headers: {} }), (error: NodeJS.ErrnoException) => error.code === 'ECONNRESET');
});

test('through the typed client: a problem is a LabqApiError, no server a LabqUnreachableError, an abort stays an abort', async () => {
  const client = new LabqClient({ server: base, token: 't', transport: nodeTransport });
  await assert.rejects(client.pollWorker(7, { instance: 'i', want: 0, holding: [] }), (error: unknown) => error instanceof LabqApiError && error.status === 404 && /worker 7/.test(error.message));
  const nobody = new LabqClient({ server: `http://127.0.0.1:${await freePort()}`, transport: nodeTransport });
  await assert.rejects(nobody.registerWorker({ name: 'w', instance: 'i', hostname: 'h', cpus: 1, memory_mb: 1, docker: false }), (error: unknown) => error instanceof LabqUnreachableError && /ECONNREFUSED/.test(error.message));
  // This server never answers GET /api/v1/auth/me.
  await assert.rejects(client.call('me', { signal: AbortSignal.timeout(50) }), { name: 'TimeoutError' });
});
