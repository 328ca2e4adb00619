// Requests over the limits of the request head (URL, headers) get a problem+json answer
// (414 or 431), and the connection is closed without a reset even when the client sends
// its whole request before reading (as Python's http.client does), in one write or in
// pieces that keep coming after the server has given up on the request.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { MAX_HEADER_BYTES, MAX_URL_BYTES } from '../../shared/limits.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

interface RawAnswer {
  /** The client's socket error (ECONNRESET, EPIPE…), if any. */
  error: string | null;
  status: number;
  headers: Record<string, string>;
  body: any;
}

/** Writes `request` whole (in pieces of `pieceBytes`, a few ms apart), then reads the answer to the end. */
async function sendThenRead(request: string, pieceBytes = request.length): Promise<RawAnswer> {
  const { hostname, port } = new URL(ts.url);
  const socket = net.connect(Number(port), hostname);
  let error: string | null = null;
  socket.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  for (let at = 0; at < request.length && !error; at += pieceBytes) {
    await new Promise((resolve) => socket.write(request.slice(at, at + pieceBytes), resolve));
    if (pieceBytes < request.length) await sleep(5);
  }
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await closed;
  const [head = '', body = ''] = Buffer.concat(chunks).toString('latin1').split('\r\n\r\n');
  const [statusLine = '', ...fields] = head.split('\r\n');
  const headers = Object.fromEntries(fields.map((f) => [f.slice(0, f.indexOf(':')).toLowerCase(), f.slice(f.indexOf(':') + 1).trim()]));
  return { error, status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1] ?? 0), headers, body: body ? JSON.parse(body) : null };
}

function assertProblem(answer: RawAnswer, statuses: number[], what: string): void {
  assert.equal(answer.error, null, `${what}: the connection closes without an error`);
  assert.ok(statuses.includes(answer.status), `${what}: status ${answer.status}, expected ${statuses.join(' or ')}`);
  assert.equal(answer.headers['content-type'], 'application/problem+json');
  assert.equal(answer.body.status, answer.status);
  assert.match(answer.body.type, /^https:\/\/labq\.dev\/problems\/(uri-too-long|request-header-fields-too-large)$/);
  assert.ok(answer.body.title && answer.body.detail, 'a title and a detail');
  assert.equal(answer.body.request_id, answer.headers['x-request-id']);
}

const longUrl = `GET /api/v1/tasks?q=${'a'.repeat(70_000)} HTTP/1.1\r\nHost: labq\r\n\r\n`;
const longHeader = `GET /healthz HTTP/1.1\r\nHost: labq\r\nX-Big: ${'b'.repeat(70_000)}\r\n\r\n`;
const manyHeaders = `GET /healthz HTTP/1.1\r\nHost: labq\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: ${'c'.repeat(20)}\r\n`).join('')}\r\n`;

test('a 70 kB URL sent whole before reading gets a 414 problem, never a reset', async () => {
  for (let i = 0; i < 30; i++) assertProblem(await sendThenRead(longUrl), [414], `attempt ${i}`);
});

test('headers over the limit, sent whole before reading, get a 431 problem, never a reset', async () => {
  for (let i = 0; i < 30; i++) {
    assertProblem(await sendThenRead(longHeader), [431], `one long header, attempt ${i}`);
    assertProblem(await sendThenRead(manyHeaders), [431], `many headers, attempt ${i}`);
  }
});

test('a client that goes on sending after the server gave up still reads the whole answer', async () => {
  // The overflow shows in a later piece than the request line: the server cannot always
  // tell a long URL from long headers then, and 431 is true of both.
  for (let i = 0; i < 5; i++) {
    assertProblem(await sendThenRead(longUrl, 8192), [414, 431], `long URL in pieces, attempt ${i}`);
    assertProblem(await sendThenRead(longHeader, 8192), [431], `long header in pieces, attempt ${i}`);
  }
  assert.equal((await http(ts, 'GET', '/healthz')).status, 200, 'the server goes on serving');
});

test('a URL over the URL limit that fits the header limit is a 414 from the application, before auth', async () => {
  const path = `/api/v1/tasks?q=${'a'.repeat(MAX_URL_BYTES)}`;
  assert.ok(path.length < MAX_HEADER_BYTES);
  const refused = await http(ts, 'GET', path, undefined, { authorization: 'Bearer wrong' });
  assert.equal(refused.status, 414);
  assert.match(refused.type, /application\/problem\+json/);
  assert.equal(refused.json.type, 'https://labq.dev/problems/uri-too-long');
  assert.match(refused.json.detail, new RegExp(`${MAX_URL_BYTES} bytes`));
  const atLimit = `/api/v1/tasks?tag=x&q=${'a'.repeat(MAX_URL_BYTES - '/api/v1/tasks?tag=x&q='.length)}`;
  assert.equal((await http(ts, 'GET', atLimit)).status, 400, 'a URL at the limit is read (and its q refused as too long)');
});

test('a client that hangs up before its whole body arrived is not logged as an internal error', async () => {
  const { hostname, port } = new URL(ts.url);
  const socket = net.connect(Number(port), hostname);
  await new Promise((resolve) => socket.once('connect', resolve));
  const body = JSON.stringify({ command: 'true' });
  socket.write(`POST /api/v1/tasks HTTP/1.1\r\nHost: labq\r\nAuthorization: Bearer ${ts.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length + 100}\r\n\r\n${body}`);
  const before = ts.logs.length;
  // The server is reading the body (its first part came): then the client goes.
  await sleep(100);
  socket.destroy();
  // Whatever the server made of it is logged by the time a next request is answered.
  await sleep(100);
  assert.equal((await http(ts, 'GET', '/healthz')).status, 200);
  assert.deepEqual(ts.logs.slice(before).filter((line) => /internal error/.test(line)), []);
});
