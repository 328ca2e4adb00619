// Fuzzing the whole HTTP surface: at least 10,000 malformed or hostile requests against a
// real server, generated from the route contract (shared/api.ts: every route, every field
// of its path, query and body) with a seeded PRNG (LABQ_FUZZ_SEED replays a run), sent
// with bounded concurrency over keep-alive connections, plus raw bytes on sockets of their
// own. Whatever is sent, the server answers: no 5xx, no reset or dropped connection, still
// healthy after; and no request it refused appended an event (every request carries its
// own X-Request-Id, which the events it causes record in meta.request_id).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { z } from 'zod/v4';
import { API_PREFIX, routes, type RouteSpec } from '../shared/api.js';
import { MAX_HEADER_BYTES, MAX_URL_BYTES } from '../shared/limits.js';
import { rng } from './support/random.js';
import { startTestServer, type TestServer } from './support/server.js';
import { registerWorker } from './support/workerApi.js';

const REQUESTS = 10_000;
const RAW_SOCKETS = 200;
const CONCURRENCY = 8;
const SEED = Number(process.env.LABQ_FUZZ_SEED ?? Date.now() % 2 ** 31);

type Json = Record<string, any>;
type Random = ReturnType<typeof rng>;

let ts: TestServer;
let ids: number[];
let instance: string;
/** Tokens of the other roles, so that requests also meet the role check (403) and a worker's binding. */
let roleTokens: string[];

before(async () => {
  ts = await startTestServer();
  const worker = await registerWorker(ts);
  instance = worker.instance!;
  const workflow = await ts.client.createWorkflow({ name: 'fuzz' });
  const step = await ts.client.createStep({ workflow_id: workflow.id, name: 'fuzz' });
  const submitted = await ts.client.submitTasks({ tasks: [{ command: 'true', step_id: step.id }, { command: 'true', held: true }] });
  ids = [1, worker.id, workflow.id, step.id, ...submitted.tasks.map((t) => t.id)];
  roleTokens = [];
  for (const role of ['operator', 'viewer', 'worker'] as const) roleTokens.push((await ts.client.createToken({ name: `fuzz-${role}`, role })).token);
});
after(async () => ts?.close());

const jsonSchema = (schema: z.ZodType): Json => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Json;

/** A value the schema may accept (or nearly: patterns are not followed), so that a mutation reaches past the first check. */
function plausible(schema: Json, r: Random, name = ''): unknown {
  const options = schema.anyOf ?? schema.oneOf;
  if (options) return plausible(r.pick(options), r, name);
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return r.pick(schema.enum);
  if (schema.default !== undefined && r.chance(0.3)) return schema.default;
  switch (Array.isArray(schema.type) ? schema.type[0] : schema.type) {
    case 'object': {
      const out: Json = {};
      for (const [key, field] of Object.entries((schema.properties ?? {}) as Record<string, Json>)) {
        if (schema.required?.includes(key) || r.chance(0.3)) out[key] = plausible(field, r, key);
      }
      return out;
    }
    case 'array':
      return schema.items ? Array.from({ length: Math.max(schema.minItems ?? 0, r.int(0, 1)) }, () => plausible(schema.items, r, name)) : [];
    case 'integer':
    case 'number':
      if (name === 'wait_seconds') return 0; // a parked poll would only slow the run down
      if (/(^|_)ids?$/.test(name)) return r.pick(ids);
      return schema.minimum ?? schema.exclusiveMinimum ?? 1;
    case 'boolean':
      return r.chance(0.5);
    case 'string':
      if (name === 'instance') return instance;
      if (schema.format === 'uuid') return randomUUID();
      if (name === 'command') return 'true';
      return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
    default:
      return null;
  }
}

/** Every path to a field in a value built from `schema` (array items as index 0). */
function fieldPaths(schema: Json, prefix: (string | number)[] = [], depth = 0): (string | number)[][] {
  if (depth > 5) return [];
  const options = schema.anyOf ?? schema.oneOf;
  if (options) return options.flatMap((o: Json) => fieldPaths(o, prefix, depth + 1));
  if (schema.type === 'object' && schema.properties) {
    return Object.entries(schema.properties as Record<string, Json>).flatMap(([key, field]) => [[...prefix, key], ...fieldPaths(field, [...prefix, key], depth + 1)]);
  }
  if (schema.type === 'array' && schema.items) return fieldPaths(schema.items, [...prefix, 0], depth + 1);
  return [];
}

function setPath(target: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  const container: any = typeof head === 'number' ? (Array.isArray(target) ? [...target] : []) : target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  container[head!] = setPath(container[head!], rest, value);
  return container;
}

const INJECTIONS = [
  "' OR '1'='1", "'; DROP TABLE events; --", '1; SELECT pg_sleep(30)--', "\\'; TRUNCATE tasks; --", '$1', '%s%s%s%n',
  "x' UNION SELECT token_hash FROM api_tokens --", '{"$ne": null}', '`rm -rf /`', '$(reboot)', '<script>alert(1)</script>',
];
const TRAVERSALS = ['../../../../etc/passwd', '..%2f..%2f..%2fetc%2fshadow', '/etc/shadow', 'file:///etc/passwd', '..\\..\\windows\\win.ini', '%2e%2e/%2e%2e/', '/proc/self/environ', 's3://../../x'];
const UNICODE = ['💥🧬', '\u202eevil', 'é'.normalize('NFD'), '\ufeff', '\u0000', 'a\u0000b', '\ud800', '\udfff\ud800', '𝕏'.repeat(1000), '\u2028\u2029'];

function hostileValue(r: Random): unknown {
  switch (r.int(0, 9)) {
    case 0: return r.pick(INJECTIONS);
    case 1: return r.pick(TRAVERSALS);
    case 2: return r.pick(UNICODE);
    case 3: return r.pick(['x'.repeat(r.int(1, 300_000)), 'y'.repeat(MAX_URL_BYTES), '']);
    case 4: return r.pick([-1, 0, 1.5, -0, 2 ** 53, 2 ** 63, -(2 ** 63), 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 4294967296]);
    case 5: return r.pick(['1', 'true', 'null', '1e999', 'NaN', '-1', '0x10']);
    case 6: return r.pick<unknown>([null, true, false, [], {}, [null], { secret: 'x' }, JSON.parse('{"__proto__": {"admin": true}}'), { constructor: { prototype: {} } }]);
    case 7: return Array.from({ length: r.pick([2, 1000, 20_000]) }, (_, i) => i);
    case 8: return nest(r.int(10, 40));
    default: return Object.fromEntries(Array.from({ length: r.int(1, 2000) }, (_, i) => [`k${i}${r.pick(['', "'", '..', '\u0000'])}`, r.pick(INJECTIONS)]));
  }
}

function nest(depth: number): unknown {
  let value: unknown = 'deep';
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
  return value;
}

function hostileText(r: Random): string {
  const value = hostileValue(r);
  return typeof value === 'string' ? value : JSON.stringify(value) ?? 'undefined';
}

/** Percent-encoded, a lone surrogate as the invalid UTF-8 it would be on the wire. */
function urlEncoded(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80';
  }
}

function randomBytes(r: Random, length: number): Buffer {
  return Buffer.from(Array.from({ length }, () => r.int(0, 255)));
}

interface FuzzRequest {
  route: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer | string;
}

const ROUTES = Object.entries(routes) as [string, RouteSpec][];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'CONNECTX'];

function pathOf(spec: RouteSpec, r: Random, hostile: boolean): string {
  return API_PREFIX + spec.path.replace(/:(\w+)/g, () =>
    hostile ? encodeURIComponent(r.pick([...INJECTIONS, ...TRAVERSALS, '-1', '0', '1.5', '99999999999999999999', 'NaN', '%00'])) : String(r.pick(ids)));
}

function queryOf(spec: RouteSpec, r: Random, hostileKey?: string): string {
  const schema = spec.query ? jsonSchema(spec.query) : { properties: {} };
  const params = new URLSearchParams();
  for (const key of Object.keys(schema.properties ?? {})) {
    if (key === hostileKey) params.set(key, hostileText(r).slice(0, 2000));
    else if (r.chance(0.2)) params.set(key, String(plausible(schema.properties[key], r, key)));
  }
  if (hostileKey === '(unknown)') params.set(r.pick(['__proto__', 'constructor', "x' OR 1=1", 'limit[]']), hostileText(r).slice(0, 200));
  if (spec.path.endsWith('/output')) params.delete('follow');
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** One hostile request against `name`; `i` walks every field of every route in turn. */
function generate(r: Random, name: string, spec: RouteSpec, i: number, token: string): FuzzRequest {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'x-request-id': `fz-${i}` };
  const base = { route: name, method: spec.method.toUpperCase(), headers };
  const bodySchema = spec.body ? jsonSchema(spec.body) : null;
  const querySchema = spec.query ? jsonSchema(spec.query) : null;
  const fields = bodySchema ? fieldPaths(bodySchema) : [];
  const queryKeys = [...Object.keys(querySchema?.properties ?? {}), '(unknown)'];
  const json = (value: unknown) => {
    headers['content-type'] = 'application/json';
    return JSON.stringify(value);
  };
  const kind = r.int(0, 19);
  if (kind < 8 && fields.length) {
    // One field of a plausible body replaced by a hostile value.
    const path = fields[Math.floor(i / ROUTES.length) % fields.length]!;
    return { ...base, path: pathOf(spec, r, false), body: json(setPath(plausible(bodySchema!, r), path, hostileValue(r))) };
  }
  if (kind < 11) {
    const key = queryKeys[Math.floor(i / ROUTES.length) % queryKeys.length]!;
    return { ...base, path: pathOf(spec, r, false) + queryOf(spec, r, key), body: bodySchema ? json(plausible(bodySchema, r)) : undefined };
  }
  if (kind === 11) return { ...base, path: pathOf(spec, r, true), body: bodySchema ? json(plausible(bodySchema, r)) : undefined };
  if (kind === 12) {
    // A body that is not what it says it is.
    headers['content-type'] = r.pick(['application/json', 'application/json; charset=latin1', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded']);
    const body = r.pick([
      () => randomBytes(r, r.int(1, 4000)), () => '{"command": ', () => '{"a":1,"a":2}', () => '[]', () => 'null', () => '"text"', () => '1e999',
      () => '{'.repeat(r.int(30, 5000)), () => '['.repeat(100_000) + ']'.repeat(100_000), () => `{"command":"${'\\u0000'.repeat(10)}"}`,
      () => '\ufeff{"command":"true"}', () => '{"command":"\\ud800"}', () => JSON.stringify(nest(r.int(30, 200))),
    ])();
    return { ...base, path: pathOf(spec, r, false), body };
  }
  if (kind === 13) {
    // The wrong method, with a body or not.
    const method = r.pick(METHODS.filter((m) => m !== base.method));
    return { ...base, method, path: pathOf(spec, r, false), body: r.chance(0.5) ? json({ command: 'true' }) : undefined };
  }
  if (kind === 14) {
    // No token, a wrong one, or a hostile one.
    headers.authorization = r.pick(['', 'Bearer', `Bearer ${r.pick(INJECTIONS)}`, 'Basic YWRtaW46YWRtaW4=', `Bearer ${token}x`, `bearer  ${'t'.repeat(5000)}`]);
    return { ...base, path: pathOf(spec, r, false), body: bodySchema ? json(plausible(bodySchema, r)) : undefined };
  }
  if (kind === 15) {
    // Traversal and oddities in the URL itself.
    const path = r.pick([
      `${API_PREFIX}/../../../../etc/passwd`, `${API_PREFIX}/tasks/%2e%2e/%2e%2e/etc/passwd`, `${API_PREFIX}/tasks/..%252f..%252f`, '/%00', `${API_PREFIX}/tasks/1%00`,
      `${API_PREFIX}//tasks`, `${API_PREFIX}/tasks/1/../../workers`, '/healthz/../api/v1/tasks', `${API_PREFIX}/${urlEncoded(r.pick(UNICODE))}`, '/ui/../../../etc/passwd',
    ]);
    return { ...base, path, body: undefined };
  }
  if (kind === 16) {
    // URLs and headers over the limits.
    const long = r.chance(0.5);
    if (long) return { ...base, path: pathOf(spec, r, false) + `?q=${'a'.repeat(r.int(MAX_URL_BYTES, MAX_HEADER_BYTES * 3))}`, body: undefined };
    headers[r.pick(['x-big', 'cookie', 'x-request-id'])] = 'b'.repeat(r.int(MAX_HEADER_BYTES, MAX_HEADER_BYTES * 3));
    return { ...base, path: pathOf(spec, r, false), body: undefined };
  }
  if (kind === 17) {
    // Many headers, odd header values.
    for (let h = 0; h < r.int(50, 120); h++) headers[`x-h${h}`] = r.pick(INJECTIONS);
    headers['last-event-id'] = r.pick([...INJECTIONS, '1-1', '-1', '99999999999999999999-1']);
    headers['x-forwarded-for'] = r.pick(INJECTIONS);
    return { ...base, path: pathOf(spec, r, false), body: bodySchema ? json(plausible(bodySchema, r)) : undefined };
  }
  // A whole body of the wrong shape.
  return { ...base, path: pathOf(spec, r, false), body: json(hostileValue(r)) };
}

interface Outcome { status: number; socketError: string | null }

function send(agent: Agent, req: FuzzRequest): Promise<Outcome> {
  const { hostname, port } = new URL(ts.url);
  return new Promise((resolve) => {
    const headers = { ...req.headers, ...(req.body !== undefined ? { 'content-length': String(Buffer.byteLength(req.body)) } : {}) };
    const call = request({ host: hostname, port, method: req.method, path: req.path, headers, agent, timeout: 60_000 }, (res) => {
      // A stream (SSE) answers for as long as it is read: its status is the answer.
      if (/event-stream/.test(res.headers['content-type'] ?? '')) {
        call.destroy();
        return resolve({ status: res.statusCode!, socketError: null });
      }
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, socketError: null }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ status: res.statusCode!, socketError: e.code ?? e.message }));
    });
    call.on('timeout', () => call.destroy(new Error('no answer within 60 s')));
    call.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, socketError: e.code ?? e.message }));
    call.end(req.body);
  });
}

/** Raw bytes on a socket of its own (not always HTTP at all): the answer is read after the client has sent everything. */
function sendRaw(bytes: Buffer): Promise<Outcome> {
  const { hostname, port } = new URL(ts.url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    let error: string | null = null;
    const chunks: Buffer[] = [];
    socket.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.setTimeout(30_000, () => socket.destroy(new Error('no answer within 30 s')));
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(Buffer.concat(chunks).toString('latin1'))?.[1] ?? 0);
      resolve({ status, socketError: error });
    });
    socket.end(bytes);
  });
}

function rawRequest(r: Random): Buffer {
  return r.pick([
    () => randomBytes(r, r.int(1, 3000)),
    () => Buffer.from(`GET /healthz HTTP/1.1\r\nHost: x\r\n${randomBytes(r, 50).toString('latin1')}\r\n\r\n`, 'latin1'),
    () => Buffer.from(`POST ${API_PREFIX}/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`),
    () => Buffer.from(`POST ${API_PREFIX}/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${'f'.repeat(20)}\r\n`),
    () => Buffer.from(`GET ${API_PREFIX}/tasks HTTP/9.9\r\n\r\n`),
    () => Buffer.from(`G\0T / HTTP/1.1\r\nHost: x\r\n\r\n`),
    () => Buffer.from(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ${'\u00ff'.repeat(100)}\r\nX-B: a\rb\r\n\r\n`, 'latin1'),
    () => Buffer.from(`GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n`),
    () => Buffer.from(`GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab`),
    () => Buffer.from(`${'\r\n'.repeat(r.int(1, 5000))}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`),
  ])();
}

test(`${REQUESTS} hostile requests: no 5xx, no reset, no event from a refused request`, async () => {
  console.log(`fuzz seed ${SEED} (replay with LABQ_FUZZ_SEED=${SEED})`);
  const r = rng(SEED);
  const eventsBefore = Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM events`));
  const requests = Array.from({ length: REQUESTS }, (_, i) => {
    const [name, spec] = ROUTES[i % ROUTES.length]!;
    return generate(r, name, spec, i, r.chance(0.75) ? ts.token : r.pick(roleTokens));
  });
  const raws = Array.from({ length: RAW_SOCKETS }, () => rawRequest(r));

  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const outcomes: (Outcome & { request: FuzzRequest })[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < requests.length) {
      const request = requests[next++]!;
      outcomes.push({ ...(await send(agent, request)), request });
    }
  }));
  agent.destroy();
  const rawOutcomes: Outcome[] = [];
  for (let i = 0; i < raws.length; i += CONCURRENCY) rawOutcomes.push(...(await Promise.all(raws.slice(i, i + CONCURRENCY).map(sendRaw))));

  const describe = (o: Outcome & { request: FuzzRequest }) =>
    `${o.status || o.socketError} ${o.request.route}: ${o.request.method} ${o.request.path.slice(0, 120)} ${String(o.request.body ?? '').slice(0, 200)}`;
  const serverErrors = outcomes.filter((o) => o.status >= 500);
  assert.deepEqual(serverErrors.slice(0, 10).map(describe), [], `${serverErrors.length} answers were 5xx`);
  const broken = outcomes.filter((o) => o.socketError);
  assert.deepEqual(broken.slice(0, 10).map(describe), [], `${broken.length} requests saw a socket error`);
  const rawFailed = rawOutcomes.map((o, i) => ({ ...o, sent: JSON.stringify(raws[i]!.subarray(0, 80).toString('latin1')) })).filter((o) => o.socketError || o.status >= 500 || o.status === 0);
  assert.deepEqual(rawFailed.slice(0, 10), [], `${rawFailed.length} raw requests got no answer or no clean close`);
  const byStatus = new Map<number, number>();
  for (const o of outcomes) byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
  console.log(`answers by status: ${[...byStatus].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ')}`);
  assert.ok((byStatus.get(400) ?? 0) > REQUESTS / 4, 'most requests are refused as invalid');

  // The events of this run, by the request that caused them: never a refused one.
  const statusOf = new Map(outcomes.map((o) => [o.request.headers['x-request-id'], o.status]));
  const causes = await ts.server.pool.anyFirst(sql.unsafe`SELECT DISTINCT meta->>'request_id' FROM events WHERE meta->>'request_id' LIKE 'fz-%'`);
  const fromRefused = causes.filter((id) => !(Number(statusOf.get(id as string)) < 300));
  assert.deepEqual(fromRefused, [], 'requests whose answer was not 2xx appended no event');
  const appended = Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM events`)) - eventsBefore;
  console.log(`events appended: ${appended}, by ${causes.length} accepted requests`);

  const health = await fetch(ts.url + '/healthz');
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { status: string }).status, 'ok');
});
