// The OpenAPI document the server serves is generated from the route contract: one
// operation per route with the route's name as operationId, the request schemas of the
// contract (TaskInput with its fields, `command` required) and the list filters as query
// parameters.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { API_PREFIX, routes, type RouteSpec } from '../../shared/api.js';
import { TaskInput, TaskListQuery } from '../../shared/schemas/task.js';

type Json = Record<string, any>;

let ts: TestServer;
let doc: Json;
let contentType: string;

before(async () => {
  ts = await startTestServer();
  const response = await fetch(`${ts.url}${API_PREFIX}/openapi.json`, { headers: { authorization: `Bearer ${ts.token}` } });
  assert.equal(response.status, 200);
  contentType = response.headers.get('content-type') ?? '';
  doc = (await response.json()) as Json;
});

after(async () => {
  await ts?.close();
});

const ROUTES = Object.entries(routes) as [string, RouteSpec][];
const openApiPath = (spec: RouteSpec) => API_PREFIX + spec.path.replace(/:(\w+)/g, '{$1}');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Follows local `$ref`s, whether they point into the document or into the schema itself. */
function resolve(schema: Json, root: Json): Json {
  let current = schema;
  for (let hops = 0; current && typeof current.$ref === 'string'; hops++) {
    assert.ok(hops < 20, 'a $ref cycle');
    const ref: string = current.$ref;
    assert.ok(ref.startsWith('#/'), `only local references are expected, got ${ref}`);
    const parts = ref.slice(2).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const walk = (from: Json) => parts.reduce<Json | undefined>((node, key) => (node === undefined ? undefined : node[key]), from);
    current = walk(root) ?? walk(doc)!;
    assert.ok(current, `unresolved ${ref}`);
  }
  return current;
}

/** The object alternatives of a schema (itself, or the members of anyOf / oneOf). */
function objectVariants(schema: Json, root: Json): Json[] {
  const s = resolve(schema, root);
  const members = [...(s.anyOf ?? []), ...(s.oneOf ?? [])];
  if (members.length) return members.flatMap((m: Json) => objectVariants(m, root));
  return s.type === 'object' || s.properties ? [s] : [];
}

test('is an OpenAPI 3.1 document served as JSON', () => {
  assert.match(contentType, /^application\/json\b/);
  assert.match(doc.openapi, /^3\.1\.\d+$/);
  assert.equal(doc.info.title, 'labq');
  assert.equal(typeof doc.info.version, 'string');
  assert.ok(doc.info.version.length > 0);
  assert.equal(typeof doc.paths, 'object');
  for (const path of Object.keys(doc.paths)) assert.ok(path.startsWith('/'), path);
});

test('declares bearer authentication for the whole API', () => {
  const schemes = doc.components?.securitySchemes ?? {};
  const bearer = Object.entries(schemes).find(([, s]) => (s as Json).type === 'http' && /^bearer$/i.test((s as Json).scheme));
  assert.ok(bearer, 'an http bearer security scheme');
  assert.ok(Array.isArray(doc.security) && doc.security.some((req: Json) => bearer[0] in req), 'required at the top level');
});

test('has a path and method for every route, with operationId = the route name', () => {
  for (const [name, spec] of ROUTES) {
    const item = doc.paths[openApiPath(spec)];
    assert.ok(item, `missing path ${openApiPath(spec)} (${name})`);
    const operation = item[spec.method];
    assert.ok(operation, `missing ${spec.method.toUpperCase()} ${openApiPath(spec)} (${name})`);
    assert.equal(operation.operationId, name);
    assert.equal(operation.summary, spec.summary);
    assert.deepEqual(operation.tags, [spec.tag]);
    const success = String(spec.status ?? 200);
    assert.ok(operation.responses?.[success], `${name} documents its ${success} answer`);
    const errors = operation.responses.default ?? operation.responses['400'];
    assert.ok(errors?.content?.['application/problem+json'], `${name} documents problem+json errors`);
    if (spec.response === 'sse') assert.ok(operation.responses[success].content['text/event-stream'], `${name} is text/event-stream`);
    else if (spec.response === 'text') assert.ok(operation.responses[success].content['text/plain'], `${name} is text/plain`);
    else assert.ok(operation.responses[success].content['application/json'], `${name} answers JSON`);
    assert.deepEqual(operation['x-labq-roles'], ['admin', ...spec.roles], `${name} lists the roles that may call it`);
    assert.ok(operation.responses['403']?.content?.['application/problem+json'], `${name} documents its 403`);
  }
});

test('documents nothing but the routes of the contract, each once', () => {
  const operations: string[] = [];
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const method of METHODS) if (item[method]) operations.push(`${method} ${path} ${item[method].operationId}`);
  }
  const expected = ROUTES.map(([name, spec]) => `${spec.method} ${openApiPath(spec)} ${name}`);
  assert.deepEqual(operations.sort(), expected.sort());
  const ids = operations.map((o) => o.split(' ')[2]);
  assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
});

test('every {parameter} of a path is declared, required, in: path', () => {
  for (const [name, spec] of ROUTES) {
    const operation = doc.paths[openApiPath(spec)][spec.method];
    const declared = (operation.parameters ?? []).filter((p: Json) => p.in === 'path');
    const inPath = [...openApiPath(spec).matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    assert.deepEqual(declared.map((p: Json) => p.name).sort(), [...inPath].sort(), name);
    for (const p of declared) {
      assert.equal(p.required, true, `${name}: ${p.name}`);
      // Resources are addressed by id; users, tokens and secrets by name.
      assert.equal(p.schema.type, p.name === 'id' ? 'integer' : 'string', `${name}: ${p.name} is an id or a name`);
    }
    assert.equal(!!operation.requestBody, !!spec.body, `${name} has a request body exactly when the contract has one`);
  }
});

test('submitTasks takes a TaskInput, or { tasks: TaskInput[] }, with every task field and command required', () => {
  const operation = doc.paths[`${API_PREFIX}/tasks`].post;
  assert.equal(operation.requestBody.required, true);
  const root = operation.requestBody.content['application/json'].schema as Json;
  const variants = objectVariants(root, root);
  const single = variants.find((v) => v.properties?.command);
  const bulk = variants.find((v) => v.properties?.tasks);
  assert.ok(single, 'a single-task variant');
  assert.ok(bulk, 'a bulk variant');

  const fields = Object.keys(TaskInput.shape).sort();
  for (const expected of ['name', 'command', 'shell', 'container', 'container_options', 'inputs', 'resources', 'output',
    'workflow_id', 'step_id', 'tag', 'priority', 'depends_on', 'max_retries', 'timeouts', 'env', 'requirements', 'key', 'held']) {
    assert.ok(fields.includes(expected), `TaskInput has ${expected}`);
  }
  const check = (schema: Json, where: string) => {
    assert.deepEqual(Object.keys(schema.properties).sort(), fields, `${where}: the properties are the task fields`);
    assert.deepEqual(schema.required, ['command'], `${where}: only command is required`);
    assert.equal(schema.additionalProperties, false, `${where}: unknown fields are refused`);
    const p = schema.properties;
    assert.equal(resolve(p.command, root).type, 'string');
    assert.equal(resolve(p.priority, root).type, 'integer');
    assert.equal(resolve(p.priority, root).minimum, -1000);
    assert.equal(resolve(p.priority, root).maximum, 1000);
    assert.equal(resolve(p.held, root).type, 'boolean');
    assert.equal(resolve(p.inputs, root).type, 'array');
    assert.deepEqual(Object.keys(resolve(p.timeouts, root).properties).sort(), ['download', 'run', 'upload']);
    assert.deepEqual(Object.keys(resolve(p.requirements, root).properties).sort(), ['capabilities', 'cpus', 'gpus', 'memory_mb']);
    assert.ok(resolve(p.env, root).additionalProperties, 'env maps names to values');
  };
  check(resolve(single, root), 'single');

  const tasks = resolve(bulk.properties.tasks, root);
  assert.equal(tasks.type, 'array');
  assert.equal(tasks.minItems, 1);
  assert.equal(tasks.maxItems, 10_000);
  assert.deepEqual(bulk.required, ['tasks']);
  check(resolve(tasks.items, root), 'bulk item');
});

test('listTasks documents its query parameters', () => {
  const operation = doc.paths[`${API_PREFIX}/tasks`].get;
  const query = (operation.parameters as Json[]).filter((p) => p.in === 'query');
  const names = query.map((p) => p.name).sort();
  for (const expected of ['status', 'workflow_id', 'step_id', 'tag', 'q', 'cursor', 'limit']) {
    assert.ok(names.includes(expected), `listTasks has ?${expected}`);
  }
  assert.deepEqual(names, Object.keys(TaskListQuery.shape).sort(), 'exactly the parameters of the contract');
  for (const p of query) {
    assert.equal(p.required, false, `?${p.name} is optional`);
    assert.ok(p.schema && typeof p.schema === 'object', `?${p.name} has a schema`);
  }
  const limit = query.find((p) => p.name === 'limit')!;
  assert.equal(limit.schema.minimum, 1);
  assert.equal(limit.schema.maximum, 1000);
  assert.equal(query.find((p) => p.name === 'workflow_id')!.schema.type, 'integer');
  assert.equal(query.find((p) => p.name === 'q')!.schema.type, 'string');
  assert.ok(query.find((p) => p.name === 'cursor')!.description, 'cursor is described');
});

test('the documented request schemas are the ones the server enforces', async () => {
  // A required field the document names must really be required, and a field it omits
  // must really be refused: send both to the server.
  const root = doc.paths[`${API_PREFIX}/workflows`].post.requestBody.content['application/json'].schema as Json;
  const workflow = objectVariants(root, root)[0]!;
  assert.deepEqual(workflow.required, ['name']);
  const missing = await fetch(`${ts.url}${API_PREFIX}/workflows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ts.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ description: 'no name' }),
  });
  assert.equal(missing.status, 400);
  assert.deepEqual(((await missing.json()) as Json).errors.map((e: Json) => e.field), ['name']);
  const extra = await fetch(`${ts.url}${API_PREFIX}/workflows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ts.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'w', [`not_${Object.keys(workflow.properties).join('_')}`]: 1 }),
  });
  assert.equal(extra.status, 400);
});
