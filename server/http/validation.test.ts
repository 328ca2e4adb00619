// Bad input is refused with a problem+json answer that names the offending field, and
// changes nothing: every task field, one by one, alone and inside a bulk submission;
// references to things that do not exist; malformed bodies, query strings and paths;
// unknown routes and methods. Nothing may answer 500.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { API_PREFIX } from '../../shared/api.js';
import { MAX_ENV_VALUE_CHARS, MAX_TASKS_PER_REQUEST } from '../../shared/limits.js';

let ts: TestServer;
let db: pg.Client;
let workflowA: number;
let workflowB: number;
let stepA: number;
let stepB: number;
let stepAName: string;
let existingTask: number;

const VALID = { name: 'valid', command: 'echo valid' };

before(async () => {
  ts = await startTestServer();
  db = new pg.Client({ connectionString: ts.databaseUrl });
  await db.connect();
  workflowA = (await ts.client.createWorkflow({ name: 'validation A' })).id;
  workflowB = (await ts.client.createWorkflow({ name: 'validation B' })).id;
  stepAName = 'align';
  stepA = (await ts.client.createStep({ workflow_id: workflowA, name: stepAName })).id;
  stepB = (await ts.client.createStep({ workflow_id: workflowB, name: 'align' })).id;
  existingTask = (await ts.client.submitTasks({ command: 'echo existing', step_id: stepA })).tasks[0]!.id;
});

after(async () => {
  await db?.end();
  await ts?.close();
});

interface Snapshot {
  events: number;
  last_position: string | null;
  tasks: number;
  workflows: number;
  steps: number;
}

async function snapshot(): Promise<Snapshot> {
  const { rows } = await db.query(`
    SELECT (SELECT count(*) FROM events)::int AS events,
           (SELECT max(position)::text FROM events) AS last_position,
           (SELECT count(*) FROM tasks)::int AS tasks,
           (SELECT count(*) FROM workflows)::int AS workflows,
           (SELECT count(*) FROM steps)::int AS steps`);
  return rows[0];
}

type Response = Awaited<ReturnType<typeof http>>;

/** `param` itself, or an element of it such as `status[0]`. */
const namesParam = (param: string) => (field: string) => field === param || field.startsWith(param + '[');

function assertProblem(res: Response, status: number, fields?: string[] | ((field: string) => boolean)): void {
  const where = `answer was ${res.status} ${res.type} ${res.text.slice(0, 500)}`;
  assert.equal(res.status, status, where);
  assert.match(res.type, /^application\/problem\+json\b/, where);
  assert.ok(res.json && typeof res.json === 'object', where);
  assert.equal(typeof res.json.type, 'string', where);
  assert.ok(res.json.type.length > 0, where);
  assert.equal(typeof res.json.title, 'string', where);
  assert.ok(res.json.title.length > 0, where);
  assert.equal(res.json.status, status, where);
  assert.equal(typeof res.json.detail, 'string', where);
  assert.ok(res.json.detail.length > 0, where);
  if (fields === undefined) return;
  assert.ok(Array.isArray(res.json.errors) && res.json.errors.length > 0, `expected errors[]; ${where}`);
  for (const error of res.json.errors) {
    assert.equal(typeof error.field, 'string', where);
    assert.equal(typeof error.message, 'string', where);
    assert.ok(error.message.length > 0, where);
  }
  const named: string[] = [...new Set<string>(res.json.errors.map((e: { field: string }) => e.field))].sort();
  if (typeof fields === 'function') {
    assert.ok(named.every(fields), `unexpected fields ${JSON.stringify(named)}; ${where}`);
  } else {
    assert.deepEqual(named, [...fields].sort(), where);
  }
}

/** Sends a request that must be refused with `status`, and checks that nothing changed. */
async function refused(
  method: string,
  path: string,
  body: unknown,
  status: number,
  fields?: string[] | ((field: string) => boolean),
  headers: Record<string, string> = {},
): Promise<Response> {
  const before = await snapshot();
  const res = await http(ts, method, path, body, headers);
  assertProblem(res, status, fields);
  assert.deepEqual(await snapshot(), before, 'a refused request changed the database');
  return res;
}

// One invalid value per case; `field` is the name the answer must give it.
const FIELD_CASES: { label: string; patch: Record<string, unknown>; field: string }[] = [
  { label: 'name empty', patch: { name: '' }, field: 'name' },
  { label: 'name not a string', patch: { name: 42 }, field: 'name' },
  { label: 'name too long', patch: { name: 'n'.repeat(201) }, field: 'name' },
  { label: 'command missing', patch: { command: undefined }, field: 'command' },
  { label: 'command empty', patch: { command: '' }, field: 'command' },
  { label: 'command not a string', patch: { command: ['echo', 'hi'] }, field: 'command' },
  { label: 'command null', patch: { command: null }, field: 'command' },
  { label: 'shell with arguments', patch: { shell: 'sh -c' }, field: 'shell' },
  { label: 'shell null', patch: { shell: null }, field: 'shell' },
  { label: 'container not an image reference', patch: { container: 'Bad Image!' }, field: 'container' },
  { label: 'container not a string', patch: { container: 5 }, field: 'container' },
  { label: 'container_options not an array', patch: { container_options: '--memory=8g' }, field: 'container_options' },
  { label: 'container_options empty item', patch: { container_options: ['--rm', ''] }, field: 'container_options[1]' },
  { label: 'inputs not an array', patch: { inputs: 's3://runs/a.fq' }, field: 'inputs' },
  { label: 'inputs unsupported scheme', patch: { inputs: ['gopher://host/file'] }, field: 'inputs[0]' },
  { label: 'inputs not a URI', patch: { inputs: ['s3://runs/a.fq', 'runs/b.fq'] }, field: 'inputs[1]' },
  { label: 'resources unknown step', patch: { resources: ['s3://refs/hg38.tar.gz|explode'] }, field: 'resources[0]' },
  { label: 'resources not a URI', patch: { resources: ['hg38.tar.gz'] }, field: 'resources[0]' },
  { label: 'resources mv out of /resource', patch: { resources: ['s3://refs/hg38.fa.gz|gunzip|mv:../etc'] }, field: 'resources[0]' },
  { label: 'resources mv absolute', patch: { resources: ['s3://refs/a.zip|unzip', 's3://refs/hg38.fa.gz|mv:/etc'] }, field: 'resources[1]' },
  { label: 'resources mv without a folder', patch: { resources: ['s3://refs/hg38.fa.gz|gunzip|mv'] }, field: 'resources[0]' },
  { label: 'resources step after mv', patch: { resources: ['s3://refs/hg38.tar.gz|mv:hg38|untar'] }, field: 'resources[0]' },
  { label: 'inputs http(s) folder', patch: { inputs: ['https://example.org/reads/'] }, field: 'inputs[0]' },
  { label: 'inputs file URI with a host', patch: { inputs: ['file://data/reads.fq'] }, field: 'inputs[0]' },
  { label: 'resources http(s) folder', patch: { resources: ['https://example.org/refs/'] }, field: 'resources[0]' },
  { label: 'inputs landing under one name', patch: { inputs: ['s3://runs/S1.fq', 'https://example.org/S2.fq', 'ftp://ftp.example.org/pub/S1.fq'] }, field: 'inputs[2]' },
  { label: 'inputs % not an escape', patch: { inputs: ['s3://runs/50%.fq'] }, field: 'inputs[0]' },
  { label: 'inputs s3 key cut by a ?', patch: { inputs: ['s3://runs/a.fq', 's3://runs/x?.fq'] }, field: 'inputs[1]' },
  { label: 'resources ftp path cut by a #', patch: { resources: ['ftp://ftp.example.org/refs/#1.fa|gunzip'] }, field: 'resources[0]' },
  { label: 'output not a URI', patch: { output: 'results/' }, field: 'output' },
  { label: 'output over https, which takes no uploads', patch: { output: 'https://example.org/up/' }, field: 'output' },
  { label: 'output file URI with a host', patch: { output: 'file://results/run1/' }, field: 'output' },
  { label: 'output under /proc', patch: { output: 'file:///proc/results/' }, field: 'output' },
  { label: 'output under /sys, spelled with a double slash', patch: { output: 'file:////sys/results/' }, field: 'output' },
  { label: 'output unsupported scheme', patch: { output: 'gopher://host/out/' }, field: 'output' },
  { label: 'output % not an escape', patch: { output: 'file:///data/100%/' }, field: 'output' },
  { label: 'output s3 prefix cut by a #', patch: { output: 's3://results/run#1/' }, field: 'output' },
  { label: 'workflow_id negative', patch: { workflow_id: -1 }, field: 'workflow_id' },
  { label: 'workflow_id a string', patch: { workflow_id: '1' }, field: 'workflow_id' },
  { label: 'workflow_id beyond safe integers', patch: { workflow_id: 2 ** 53 }, field: 'workflow_id' },
  { label: 'step_id zero', patch: { step_id: 0 }, field: 'step_id' },
  { label: 'step_id fractional', patch: { step_id: 1.5 }, field: 'step_id' },
  { label: 'tag with a space', patch: { tag: 'high mem' }, field: 'tag' },
  { label: 'tag too long', patch: { tag: 't'.repeat(65) }, field: 'tag' },
  { label: 'priority too high', patch: { priority: 1001 }, field: 'priority' },
  { label: 'priority too low', patch: { priority: -1001 }, field: 'priority' },
  { label: 'priority fractional', patch: { priority: 2.5 }, field: 'priority' },
  { label: 'priority a string', patch: { priority: '5' }, field: 'priority' },
  { label: 'depends_on not an array', patch: { depends_on: 3 }, field: 'depends_on' },
  { label: 'depends_on repeated id', patch: { depends_on: [7, 7] }, field: 'depends_on' },
  { label: 'depends_on negative id', patch: { depends_on: [-1] }, field: 'depends_on[0]' },
  { label: 'max_retries negative', patch: { max_retries: -1 }, field: 'max_retries' },
  { label: 'max_retries too many', patch: { max_retries: 101 }, field: 'max_retries' },
  { label: 'timeouts not an object', patch: { timeouts: 60 }, field: 'timeouts' },
  { label: 'timeouts.download zero', patch: { timeouts: { download: 0 } }, field: 'timeouts.download' },
  { label: 'timeouts.run a string', patch: { timeouts: { run: '2h' } }, field: 'timeouts.run' },
  { label: 'timeouts.upload beyond 30 days', patch: { timeouts: { upload: 30 * 24 * 3600 + 1 } }, field: 'timeouts.upload' },
  { label: 'timeouts unknown member', patch: { timeouts: { total: 60 } }, field: 'timeouts.total' },
  { label: 'env not an object', patch: { env: ['A=1'] }, field: 'env' },
  { label: 'env name starting with a digit', patch: { env: { '1BAD': 'x' } }, field: 'env.1BAD' },
  { label: 'env name with a dash', patch: { env: { OK: 'y', 'MY-VAR': 'x' } }, field: 'env.MY-VAR' },
  { label: 'env value not a string', patch: { env: { THREADS: 8 } }, field: 'env.THREADS' },
  { label: 'requirements not an object', patch: { requirements: 'big' }, field: 'requirements' },
  { label: 'requirements.cpus zero', patch: { requirements: { cpus: 0 } }, field: 'requirements.cpus' },
  { label: 'requirements.memory_mb fractional', patch: { requirements: { memory_mb: 1.5 } }, field: 'requirements.memory_mb' },
  { label: 'requirements.gpus negative', patch: { requirements: { gpus: -1 } }, field: 'requirements.gpus' },
  { label: 'requirements.capabilities not an array', patch: { requirements: { capabilities: 'cuda' } }, field: 'requirements.capabilities' },
  { label: 'requirements.capabilities bad item', patch: { requirements: { capabilities: ['cuda', 'Has Space'] } }, field: 'requirements.capabilities[1]' },
  { label: 'requirements unknown member', patch: { requirements: { disk_gb: 10 } }, field: 'requirements.disk_gb' },
  { label: 'key empty', patch: { key: '' }, field: 'key' },
  { label: 'key too long', patch: { key: 'k'.repeat(201) }, field: 'key' },
  { label: 'key a number', patch: { key: 12 }, field: 'key' },
  { label: 'held a string', patch: { held: 'yes' }, field: 'held' },
  { label: 'unknown field', patch: { priorty: 5 }, field: 'priorty' },
];

describe('every task field refuses an invalid value', () => {
  test('URIs of every kind the worker can use are accepted: an http(s) file, a file URI on localhost', async () => {
    const res = await http(ts, 'POST', `${API_PREFIX}/tasks`, {
      ...VALID, name: 'uris', held: true,
      inputs: ['https://example.org/hg38.fa.gz', 'file://localhost/nfs/reads.fq', 'ftps://ftp.example.org/reads/'],
      resources: ['https://example.org/idx.tar.gz|untar'], output: 'ftps://ftp.example.org/out/',
    });
    assert.equal(res.status, 201, res.text);
  });

  test('the valid task used below is accepted on its own', async () => {
    const before = await snapshot();
    const res = await http(ts, 'POST', `${API_PREFIX}/tasks`, { tasks: [VALID, { ...VALID, name: 'valid 2' }] });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.tasks.length, 2);
    const after = await snapshot();
    assert.equal(after.tasks, before.tasks + 2);
    assert.equal(after.events, before.events + 2);
  });

  for (const { label, patch, field } of FIELD_CASES) {
    test(`single task: ${label} → 400 naming ${field}`, async () => {
      await refused('POST', `${API_PREFIX}/tasks`, { ...VALID, ...patch }, 400, [field]);
    });
    test(`bulk: ${label} → 400 naming tasks[1].${field}`, async () => {
      await refused('POST', `${API_PREFIX}/tasks`, { tasks: [VALID, { ...VALID, ...patch }] }, 400, [`tasks[1].${field}`]);
    });
  }

  test('a value that is one of several shapes (an env value or a secret) says why the shape it has is wrong, not only "Invalid input"', async () => {
    const messages = async (env: unknown) => {
      const res = await refused('POST', `${API_PREFIX}/tasks`, { ...VALID, env }, 400);
      return Object.fromEntries((res.json.errors as { field: string; message: string }[]).map((e) => [e.field, e.message]));
    };
    assert.deepEqual(await messages({ V: 'v'.repeat(MAX_ENV_VALUE_CHARS + 1) }), { 'env.V': `Too big: expected string to have <=${MAX_ENV_VALUE_CHARS} characters` });
    assert.deepEqual(Object.keys(await messages({ K: { secret: 'bad name!' } })), ['env.K.secret']);
    assert.match((await messages({ K: { secret: 'bad name!' } }))['env.K.secret']!, /a secret name is letters, digits/);
    assert.deepEqual(await messages({ K: { secret: 'ok', more: 1 } }), { 'env.K.more': 'unknown field' });
    assert.deepEqual(await messages({ K: 8 }), { 'env.K': 'Invalid input: expected string or object, received number' });
    const memory = await refused('POST', `${API_PREFIX}/tasks`, { ...VALID, requirements: { memory_mb: 1.5 } }, 400, ['requirements.memory_mb']);
    assert.match(memory.json.errors[0].message, /expected int, received number/, 'a number that is not whole is of the number option, not of no type');
  });

  test('bulk: every invalid item is reported, each under its own index', async () => {
    await refused(
      'POST',
      `${API_PREFIX}/tasks`,
      { tasks: [{ ...VALID, priority: 'high' }, VALID, { ...VALID, tag: 'a b' }, { ...VALID, env: { X: 1 } }] },
      400,
      ['tasks[0].priority', 'tasks[2].tag', 'tasks[3].env.X'],
    );
  });
});

describe('a missing required field is called required', () => {
  const says = (res: Response, field: string) =>
    assert.equal(res.json.errors.find((e: { field: string }) => e.field === field)?.message, 'required', res.text);

  test('a task without a command, alone and in bulk', async () => {
    says(await refused('POST', `${API_PREFIX}/tasks`, { name: 'no command' }, 400, ['command']), 'command');
    says(await refused('POST', `${API_PREFIX}/tasks`, { tasks: [VALID, { name: 'no command' }] }, 400, ['tasks[1].command']), 'tasks[1].command');
  });

  test('a workflow without a name, a step without a workflow', async () => {
    says(await refused('POST', `${API_PREFIX}/workflows`, {}, 400, ['name']), 'name');
    says(await refused('POST', `${API_PREFIX}/steps`, { name: 'orphan' }, 400, ['workflow_id']), 'workflow_id');
  });

  test('a token or a user without a role, a schedule without a submit', async () => {
    says(await refused('POST', `${API_PREFIX}/tokens`, { name: 'no-role' }, 400, ['role']), 'role');
    says(await refused('POST', `${API_PREFIX}/users`, { name: 'no-role', password: 'correct horse battery' }, 400, ['role']), 'role');
    says(await refused('POST', `${API_PREFIX}/schedules`, { name: 'no-submit', cron: '0 2 1 1 *' }, 400, ['submit']), 'submit');
  });

  test('a role that is not one still names the roles (control)', async () => {
    const res = await refused('POST', `${API_PREFIX}/tokens`, { name: 'bad-role', role: 'root' }, 400, ['role']);
    assert.match(res.json.errors[0].message, /expected one of "admin"\|"operator"\|"viewer"\|"worker"/);
  });

  test('a field of the wrong type still names the expected type (control)', async () => {
    const res = await refused('POST', `${API_PREFIX}/tasks`, { command: 5 }, 400, ['command']);
    assert.match(res.json.errors[0].message, /expected string, received number/);
  });
});

describe('resource steps', () => {
  test('a bad mv folder is refused with why; a good one is accepted (control)', async () => {
    const res = await refused('POST', `${API_PREFIX}/tasks`, { ...VALID, resources: ['s3://refs/hg38.fa.gz|gunzip|mv:a/../..'] }, 400, ['resources[0]']);
    assert.match(res.json.errors[0].message, /the folder of "mv:a\/\.\.\/\.\." may not climb out of \/resource with \.\./);
    const ok = await http(ts, 'POST', `${API_PREFIX}/tasks`, { ...VALID, resources: ['s3://refs/hg38.fa.gz|gunzip|mv:refs/hg38'] });
    assert.equal(ok.status, 201, ok.text);
  });
});

describe('inputs side by side in one folder', () => {
  test('two that land under one name are refused, naming the earlier; a folder\'s content is not known, and passes (control)', async () => {
    const res = await refused('POST', `${API_PREFIX}/tasks`, { ...VALID, inputs: ['s3://runs/idx', 's3://runs/S1.fq', 'ftp://ftp.example.org/refs/idx'] }, 400, ['inputs[2]']);
    assert.equal(res.json.errors[0].message,
      'lands in the input folder as idx, as inputs[0] does: one would replace the other (rename one at its source, or take it as a resource with |mv:DIR)');
    const ok = await http(ts, 'POST', `${API_PREFIX}/tasks`, { ...VALID, inputs: ['s3://runs/S1.fq', 's3://runs/S1.fq.gz', 'ftp://ftp.example.org/runs/', 's3://runs/'] });
    assert.equal(ok.status, 201, ok.text);
  });

  test('an edit that makes two land under one name is refused the same way', async () => {
    const res = await refused('PATCH', `${API_PREFIX}/tasks/${existingTask}`, { set: { inputs: ['s3://runs/S1.fq', 'ftp://ftp.example.org/pub/S1.fq'] } }, 400, ['set.inputs[1]']);
    assert.match(res.json.errors[0].message, /^lands in the input folder as S1\.fq, as inputs\[0\] does/);
  });
});

test('an output in /proc, where the worker could make no folder, is refused with why', async () => {
  const res = await refused('POST', `${API_PREFIX}/tasks`, { ...VALID, output: 'file:///proc/results/' }, 400, ['output']);
  assert.equal(res.json.errors[0].message, "/proc is the kernel's own file system on every worker, which takes no output: give a folder of a real disk");
  const ok = await http(ts, 'POST', `${API_PREFIX}/tasks`, { ...VALID, output: 'file:///data/proc/results/' });
  assert.equal(ok.status, 201, ok.text);
});

describe('characters a URI path cannot hold as they are', () => {
  test('a # in an s3 prefix is refused with its escape, which is taken (control), as is an https query', async () => {
    const res = await refused('POST', `${API_PREFIX}/tasks`, { ...VALID, output: 's3://results/run#1/' }, 400, ['output']);
    assert.equal(res.json.errors[0].message, 'in s3:// URIs, a "#" would end the path and what follows be dropped: write it as %23 in a name');
    const bad = await refused('POST', `${API_PREFIX}/tasks`, { ...VALID, inputs: ['s3://runs/50%.fq'] }, 400, ['inputs[0]']);
    assert.match(bad.json.errors[0].message, /write a "%" in a name as %25/);
    const ok = await http(ts, 'POST', `${API_PREFIX}/tasks`, { ...VALID, inputs: ['s3://runs/50%25.fq', 'https://example.org/x.fq?sig=a#b'], output: 's3://results/run%231/' });
    assert.equal(ok.status, 201, ok.text);
  });
});

describe('references to what does not exist', () => {
  const cases: [string, () => Record<string, unknown>, string][] = [
    ['step_id', () => ({ step_id: 999_999 }), 'step_id'],
    ['workflow_id', () => ({ workflow_id: 999_999 }), 'workflow_id'],
    ['workflow_id (largest safe integer)', () => ({ workflow_id: Number.MAX_SAFE_INTEGER }), 'workflow_id'],
    ['depends_on id', () => ({ depends_on: [existingTask, 999_999] }), 'depends_on[1]'],
  ];
  for (const [label, patch, field] of cases) {
    test(`${label} that does not exist → 400 naming ${field}, single and bulk`, async () => {
      await refused('POST', `${API_PREFIX}/tasks`, { ...VALID, ...patch() }, 400, [field]);
      await refused('POST', `${API_PREFIX}/tasks`, { tasks: [VALID, { ...VALID, ...patch() }] }, 400, [`tasks[1].${field}`]);
    });
  }

  test('a step of another workflow → 400 naming workflow_id or step_id', async () => {
    const either = (prefix: string) => (f: string) => f === `${prefix}workflow_id` || f === `${prefix}step_id`;
    await refused('POST', `${API_PREFIX}/tasks`, { ...VALID, step_id: stepB, workflow_id: workflowA }, 400, either(''));
    await refused('POST', `${API_PREFIX}/tasks`, { tasks: [VALID, { ...VALID, step_id: stepB, workflow_id: workflowA }] }, 400, either('tasks[1].'));
  });

  test('the same step with its own workflow is accepted (control)', async () => {
    const res = await http(ts, 'POST', `${API_PREFIX}/tasks`, { ...VALID, step_id: stepB, workflow_id: workflowB, depends_on: [existingTask] });
    assert.equal(res.status, 201, res.text);
    const task = await ts.client.getTask(res.json.tasks[0].id);
    assert.equal(task.workflow_id, workflowB);
    assert.equal(task.step_id, stepB);
    assert.deepEqual(task.depends_on, [existingTask]);
  });
});

describe('malformed submissions', () => {
  const tasks = `${API_PREFIX}/tasks`;

  test('invalid JSON → 400', async () => {
    await refused('POST', tasks, '{"command": "echo', 400, ['(body)']);
    await refused('POST', tasks, "{'command': 'echo'}", 400, ['(body)']);
  });

  test('empty body → 400', async () => {
    await refused('POST', tasks, '', 400, ['(body)']);
    await refused('POST', tasks, '  \n', 400, ['(body)']);
  });

  test('a body that is not an object → 400', async () => {
    await refused('POST', tasks, 'null', 400, ['(body)']);
    await refused('POST', tasks, '"echo hi"', 400, ['(body)']);
    await refused('POST', tasks, [VALID], 400, ['(body)']);
  });

  test('wrong content type → 415', async () => {
    await refused('POST', tasks, JSON.stringify(VALID), 415, undefined, { 'content-type': 'text/plain' });
    await refused('POST', tasks, 'command=echo', 415, undefined, { 'content-type': 'application/x-www-form-urlencoded' });
    await refused('POST', `${API_PREFIX}/workflows`, JSON.stringify({ name: 'w' }), 415, undefined, { 'content-type': 'text/plain' });
  });

  test(`more than ${MAX_TASKS_PER_REQUEST} tasks → 413`, async () => {
    const many = Array.from({ length: MAX_TASKS_PER_REQUEST + 1 }, (_, i) => ({ command: `echo ${i}` }));
    await refused('POST', tasks, { tasks: many }, 413);
  });

  test(`exactly ${MAX_TASKS_PER_REQUEST} tasks are accepted in one request (control)`, async () => {
    const before = await snapshot();
    const many = Array.from({ length: MAX_TASKS_PER_REQUEST }, (_, i) => ({ command: `echo ${i}`, tag: 'boundary' }));
    const res = await http(ts, 'POST', tasks, { tasks: many });
    assert.equal(res.status, 201, res.text.slice(0, 500));
    assert.equal(res.json.tasks.length, MAX_TASKS_PER_REQUEST);
    const after = await snapshot();
    assert.equal(after.tasks, before.tasks + MAX_TASKS_PER_REQUEST);
    assert.equal(after.events, before.events + MAX_TASKS_PER_REQUEST);
  });

  test('{ tasks: [] } → 400 naming tasks', async () => {
    await refused('POST', tasks, { tasks: [] }, 400, ['tasks']);
  });

  test('{ tasks: <not an array> } → 400 naming tasks', async () => {
    await refused('POST', tasks, { tasks: { command: 'echo' } }, 400, ['tasks']);
  });

  test('{ tasks: [...] } with another member → 400 naming it', async () => {
    await refused('POST', tasks, { tasks: [VALID], workflow_id: workflowA }, 400, ['workflow_id']);
  });

  test('strings PostgreSQL cannot store (NUL, lone surrogate) → 400, not 500', async () => {
    await refused('POST', tasks, { ...VALID, command: 'echo a\u0000b' }, 400);
    await refused('POST', tasks, { tasks: [VALID, { ...VALID, key: 'k\u0000' }] }, 400);
    await refused('POST', tasks, { ...VALID, env: { A: '\u0000' } }, 400);
    await refused('POST', tasks, { ...VALID, command: 'echo \ud800' }, 400);
    await refused('POST', `${API_PREFIX}/workflows`, { name: 'w\u0000' }, 400);
    await refused('POST', `${API_PREFIX}/steps`, { workflow_id: workflowA, name: 's', description: '\udfff' }, 400);
  });

  test('a body that is not UTF-8 → 400, not its bytes replaced', async () => {
    const latin1 = Buffer.concat([Buffer.from('{"command":"cat '), Buffer.from([0xe9, 0x74, 0xe9]), Buffer.from('.txt"}')]);
    const res = await refused('POST', tasks, latin1, 400, ['(body)']);
    assert.match(res.json.errors[0].message, /not UTF-8/);
    // A surrogate's own bytes (CESU-8) are not UTF-8 either.
    await refused('POST', tasks, Buffer.from('{"command":"echo \xed\xa0\x80"}', 'latin1'), 400, ['(body)']);
  });

  test('valid JSON with a string that cannot be stored is not called invalid JSON', async () => {
    const res = await refused('POST', tasks, { ...VALID, command: 'echo a\u0000b' }, 400, ['(body)']);
    assert.match(res.json.errors[0].message, /^a string holds a NUL character/);
  });

  test('non-ASCII text, astral characters included, is accepted and read back unchanged (control)', async () => {
    const command = 'echo "é 中文 \u{1F9EC} \\u0000"';
    const res = await http(ts, 'POST', tasks, { ...VALID, command, env: { GREETING: 'héllo \u{1F600}' } });
    assert.equal(res.status, 201, res.text);
    const task = await ts.client.getTask(res.json.tasks[0].id);
    assert.equal(task.command, command);
    assert.equal(task.env.GREETING, 'héllo \u{1F600}');
  });
});

describe('list query parameters', () => {
  const cases: [string, string][] = [
    ['status=bogus', 'status'],
    ['status=pending,bogus', 'status'],
    ['status=', 'status'],
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=ten', 'limit'],
    ['limit=1&limit=2', 'limit'],
    ['cursor=garbage', 'cursor'],
    [`cursor=${'c'.repeat(201)}`, 'cursor'],
    ['workflow_id=abc', 'workflow_id'],
    ['step_id=-1', 'step_id'],
    ['tag=high%20mem', 'tag'],
  ];
  for (const [query, param] of cases) {
    test(`GET /tasks?${query.slice(0, 40)} → 400 naming ${param}`, async () => {
      await refused('GET', `${API_PREFIX}/tasks?${query}`, undefined, 400, namesParam(param));
    });
  }

  test('what is not a number, a number past a double, a parameter given twice, a number past two bounds: each said plainly, once, the tightest bound', async () => {
    const said = async (method: string, path: string, body: unknown, field: string, message: RegExp) => {
      const res = await refused(method, `${API_PREFIX}${path}`, body, 400, [field]);
      assert.equal(res.json.errors.length, 1, res.text);
      assert.match(res.json.errors[0].message, message);
      assert.doesNotMatch(res.text, /NaN|received number/);
    };
    await said('GET', '/tasks/abc', undefined, 'id', /^must be a number$/);
    await said('GET', '/tasks?workflow_id=abc', undefined, 'workflow_id', /^must be a number$/);
    await said('GET', '/tasks?workflow_id=1&workflow_id=2', undefined, 'workflow_id', /given more than once/);
    await said('POST', '/tasks', '{"command":"true","priority":1e400}', 'priority', /^must be a finite number$/);
    await said('GET', '/tasks/99999999999999999999', undefined, 'id', /^Too big/);
    // Past the safe integers and the field's own bound: the field's, the tighter, is the one said.
    await said('POST', '/tasks', '{"command":"true","priority":1e16}', 'priority', /^Too big: expected number to be <=1000$/);
  });

  test('a cursor of another list is refused, a real one works (control)', async () => {
    const first = await http(ts, 'GET', `${API_PREFIX}/tasks?limit=1`);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.items.length, 1);
    assert.equal(typeof first.json.next_cursor, 'string');
    const second = await http(ts, 'GET', `${API_PREFIX}/tasks?limit=1&cursor=${encodeURIComponent(first.json.next_cursor)}`);
    assert.equal(second.status, 200, second.text);
    assert.ok(second.json.items[0].id > first.json.items[0].id);
    await refused('GET', `${API_PREFIX}/tasks?cursor=${Buffer.from('{"after":-1}').toString('base64url')}`, undefined, 400, ['cursor']);
  });

  test('a parameter the route does not take is refused, not ignored as if it filtered', async () => {
    const res = await refused('GET', `${API_PREFIX}/events?actor=ada`, undefined, 400, ['actor']);
    assert.equal(res.json.errors[0].message, 'unknown field');
    await refused('GET', `${API_PREFIX}/tasks?colour=red&status=pending`, undefined, 400, ['colour']);
    await refused('GET', `${API_PREFIX}/stats?foo=1`, undefined, 400, ['foo']);
  });

  test('GET /workflows and /steps refuse bad parameters too', async () => {
    await refused('GET', `${API_PREFIX}/workflows?limit=0`, undefined, 400, ['limit']);
    await refused('GET', `${API_PREFIX}/workflows?cursor=garbage`, undefined, 400, ['cursor']);
    await refused('GET', `${API_PREFIX}/steps?workflow_id=x`, undefined, 400, ['workflow_id']);
  });

  test('a NUL in the text filter q → 400, not 500', async () => {
    await refused('GET', `${API_PREFIX}/tasks?q=%00`, undefined, 400, ['q']);
    await refused('GET', `${API_PREFIX}/workflows?q=%00`, undefined, 400, ['q']);
  });

  test('an event cursor beyond bigint → 400, not 500', async () => {
    await refused('GET', `${API_PREFIX}/events?after=99999999999999999999999-1`, undefined, 400, ['after']);
    await refused('GET', `${API_PREFIX}/events?after=1-99999999999999999999999`, undefined, 400, ['after']);
  });
});

describe('one resource by id', () => {
  test('GET /tasks/999999 → 404 problem', async () => {
    await refused('GET', `${API_PREFIX}/tasks/999999`, undefined, 404);
    await refused('GET', `${API_PREFIX}/tasks/999999/events`, undefined, 404);
  });

  test('GET /tasks/abc → 400 naming id', async () => {
    for (const id of ['abc', '0', '-3', '1.5', '1e3x', '99999999999999999999']) {
      await refused('GET', `${API_PREFIX}/tasks/${id}`, undefined, 400, ['id']);
    }
    await refused('GET', `${API_PREFIX}/tasks/abc/events`, undefined, 400, ['id']);
  });

  test('GET /workflows/999999 and /steps/999999 → 404; /workflows/abc → 400', async () => {
    await refused('GET', `${API_PREFIX}/workflows/999999`, undefined, 404);
    await refused('GET', `${API_PREFIX}/steps/999999`, undefined, 404);
    await refused('GET', `${API_PREFIX}/workflows/abc`, undefined, 400, ['id']);
    await refused('GET', `${API_PREFIX}/steps/abc`, undefined, 400, ['id']);
  });

  test('an existing task reads back (control)', async () => {
    const res = await http(ts, 'GET', `${API_PREFIX}/tasks/${existingTask}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.command, 'echo existing');
    assert.equal(res.json.step_id, stepA);
  });
});

describe('workflows and steps', () => {
  test('workflow with an empty or missing name → 400 naming name', async () => {
    await refused('POST', `${API_PREFIX}/workflows`, { name: '' }, 400, ['name']);
    await refused('POST', `${API_PREFIX}/workflows`, {}, 400, ['name']);
    await refused('POST', `${API_PREFIX}/workflows`, { name: 7 }, 400, ['name']);
  });

  test('workflow with an unknown field or a too long description → 400 naming it', async () => {
    await refused('POST', `${API_PREFIX}/workflows`, { name: 'w', colour: 'red' }, 400, ['colour']);
    await refused('POST', `${API_PREFIX}/workflows`, { name: 'w', description: 'd'.repeat(10_001) }, 400, ['description']);
  });

  test('step in a workflow that does not exist → 400 naming workflow_id', async () => {
    await refused('POST', `${API_PREFIX}/steps`, { workflow_id: 999_999, name: 'orphan' }, 400, ['workflow_id']);
    await refused('POST', `${API_PREFIX}/steps`, { workflow_id: 'one', name: 'orphan' }, 400, ['workflow_id']);
  });

  test('step without a workflow or a name → 400 naming them', async () => {
    await refused('POST', `${API_PREFIX}/steps`, { name: 'orphan' }, 400, ['workflow_id']);
    await refused('POST', `${API_PREFIX}/steps`, { workflow_id: workflowA, name: '' }, 400, ['name']);
  });

  test('duplicate step name in a workflow → 409', async () => {
    const res = await refused('POST', `${API_PREFIX}/steps`, { workflow_id: workflowA, name: stepAName }, 409);
    assert.match(res.json.detail, new RegExp(stepAName));
  });

  test('the same step name in another workflow is accepted (control)', async () => {
    const other = await ts.client.createWorkflow({ name: 'validation C' });
    const res = await http(ts, 'POST', `${API_PREFIX}/steps`, { workflow_id: other.id, name: stepAName });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.workflow_id, other.id);
    assert.equal(res.json.name, stepAName);
  });
});

describe('routes and methods', () => {
  test('unknown route → 404 problem+json', async () => {
    await refused('GET', `${API_PREFIX}/nope`, undefined, 404);
    await refused('GET', `${API_PREFIX}/tasks/${existingTask}/nope`, undefined, 404);
    await refused('POST', `${API_PREFIX}/nope`, { command: 'echo' }, 404);
    // A page path outside the API loads the UI, which shows its own "not found"; a file that is not there is a 404.
    await refused('GET', '/assets/nope.js', undefined, 404);
    await refused('POST', '/nope', { command: 'echo' }, 404);
  });

  test('wrong method → 405 problem+json', async () => {
    await refused('PUT', `${API_PREFIX}/tasks`, VALID, 405);
    await refused('DELETE', `${API_PREFIX}/tasks/${existingTask}`, undefined, 405);
    await refused('DELETE', `${API_PREFIX}/workflows/${workflowA}`, undefined, 405);
    await refused('POST', `${API_PREFIX}/events`, { x: 1 }, 405);
  });

  test('405 lists the allowed methods in Allow', async () => {
    const res = await fetch(`${ts.url}${API_PREFIX}/tasks`, { method: 'PUT', headers: { authorization: `Bearer ${ts.token}` } });
    await res.text();
    assert.equal(res.status, 405);
    const allow = (res.headers.get('allow') ?? '').split(/\s*,\s*/).sort();
    assert.ok(allow.includes('GET') && allow.includes('POST'), `Allow: ${res.headers.get('allow')}`);
  });

  test('a method the server does not know → a problem, not 500', async () => {
    const before = await snapshot();
    const res = await http(ts, 'PROPFIND', `${API_PREFIX}/tasks`);
    assert.equal(res.status, 405, `answer was ${res.status} ${res.text}`);
    assertProblem(res, res.status);
    assert.deepEqual(await snapshot(), before);
  });
});
