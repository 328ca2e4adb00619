// The Docker policy through the API: by default every option that reaches the worker's host
// is refused at submission (one task, a bulk, a sweep, an edit) with a 400 naming the option
// and nothing recorded; an admin's policy lets binds under its prefixes and its capabilities
// through, and each change is one policy.changed event with the policy before and after.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { http, refusedField, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { API_PREFIX } from '../../shared/api.js';
import { DEFAULT_DOCKER_POLICY } from '../../shared/dockerPolicy.js';
import { until } from '../../e2e/support/worker.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const count = async (query: ReturnType<typeof sql.unsafe>) => Number(await ts.server.pool.oneFirst(query));
const eventCount = () => count(sql.unsafe`SELECT count(*) FROM events`);
const image = 'alpine:3';

const refused = (path: string, body: unknown, field: string, reason: RegExp, method = 'POST') =>
  refusedField(ts, method, `${API_PREFIX}${path}`, body, field, reason);

const REFUSED: Array<{ options: string[]; field?: number; reason: RegExp }> = [
  { options: ['--privileged'], reason: /allow_privileged is false/ },
  { options: ['--privileged=true'], reason: /allow_privileged is false/ },
  { options: ['--network=host'], reason: /allow_host_namespaces is false/ },
  { options: ['--net', 'host'], reason: /allow_host_namespaces is false/ },
  { options: ['--network=container:db'], reason: /allow_host_namespaces is false/ },
  { options: ['--pid=host'], reason: /allow_host_namespaces is false/ },
  { options: ['--ipc=host'], reason: /allow_host_namespaces is false/ },
  { options: ['--uts=host'], reason: /allow_host_namespaces is false/ },
  { options: ['--userns=host'], reason: /allow_host_namespaces is false/ },
  { options: ['--cgroupns=host'], reason: /allow_host_namespaces is false/ },
  { options: ['--device=/dev/fuse'], reason: /allow_devices is false/ },
  { options: ['--device', '/dev/sda:/dev/xvda:r'], reason: /allow_devices is false/ },
  { options: ['--cap-add=SYS_ADMIN'], reason: /allowed capabilities: none/ },
  { options: ['--cap-add', 'ALL'], reason: /allowed capabilities: none/ },
  { options: ['--security-opt=seccomp=unconfined'], reason: /confinement/ },
  { options: ['--security-opt', 'apparmor=unconfined'], reason: /confinement/ },
  { options: ['-v', '/etc:/host-etc'], reason: /host path \/etc is not under an allowed mount prefix/ },
  { options: ['--volume=/:/host:ro'], reason: /host path \/ is not under/ },
  { options: ['--mount=type=bind,source=/,target=/host'], reason: /--mount is not supported/ },
  { options: ['--volumes-from=other'], reason: /another container's volumes/ },
  { options: ['--no-such-option'], reason: /unsupported container option/ },
  { options: ['--memory=8g', '--cpus=2', '--privileged'], field: 2, reason: /allow_privileged/ },
  { options: ['--memory', 'lots'], reason: /--memory: expected a size/ },
];

test('the defaults: GET answers them; every option that reaches the host is refused, naming it, and nothing is recorded', async () => {
  assert.deepEqual(await ts.client.getDockerPolicy(), { policy: DEFAULT_DOCKER_POLICY, version: 0, updated_at: null, updated_by: null });
  for (const { options, field = 0, reason } of REFUSED) {
    await refused('/tasks', { command: 'true', container: image, container_options: options }, `container_options[${field}]`, reason);
  }
  // Harmless options, and named volumes, pass.
  const { tasks: [ok] } = await ts.client.submitTasks({
    command: 'true', container: image,
    container_options: ['--memory=1g', '--cpus=2', '-v', 'scratch:/scratch', '--network=none', '--cap-drop=ALL', '--security-opt=no-new-privileges', '--ipc=private'],
  });
  assert.ok(ok!.created);
});

test('a bulk names the task, a sweep its template, an edit its set; each writes nothing', async () => {
  await refused('/tasks', { tasks: [{ command: 'true' }, { command: 'true', container: image, container_options: ['--pid=host'] }] },
    'tasks[1].container_options[0]', /allow_host_namespaces/);
  await refused('/sweeps', { template: { command: 'run {n}', container: image, container_options: ['--privileged'] }, parameters: { n: [1, 2, 3] } },
    'template.container_options[0]', /allow_privileged/);
  const { tasks: [t] } = await ts.client.submitTasks({ command: 'true', container: image, held: true });
  await refused(`/tasks/${t!.id}`, { set: { container_options: ['--memory=1g', '--device=/dev/kvm'] } }, 'set.container_options[1]', /allow_devices/, 'PATCH');
  await refused('/tasks/edit', { filter: { ids: [t!.id] }, set: { container_options: ['-v', '/var/run/docker.sock:/var/run/docker.sock'] } },
    'set.container_options[0]', /\/var\/run\/docker.sock is not under/);
  assert.deepEqual((await ts.client.getTask(t!.id)).container_options, []);
});

test('container options without an image are refused wherever a task is defined, since a worker could only refuse them', async () => {
  const options = ['--memory=1g'];
  await refused('/tasks', { command: 'true', container_options: options }, 'container_options', /need a container image/);
  await refused('/tasks', { tasks: [{ command: 'true' }, { command: 'true', container: null, container_options: options }] }, 'tasks[1].container_options', /need a container image/);
  await refused('/sweeps', { template: { command: 'run {n}', container_options: options }, parameters: { n: [1, 2] } }, 'template.container_options', /need a container image/);
  const { tasks: [inImage, bare] } = await ts.client.submitTasks({ tasks: [{ command: 'true', container: image, container_options: options, held: true }, { command: 'true', held: true }] });
  await refused(`/tasks/${inImage!.id}`, { set: { container: null } }, 'set.container', new RegExp(`tasks ${inImage!.id}\\): container options need`), 'PATCH');
  await refused('/tasks/edit', { filter: { ids: [bare!.id] }, set: { container_options: options } }, 'set.container_options', /need a container image/);
  // The image and its options taken away together, or given together, are taken.
  for (const [task, set] of [[inImage!, { container: null, container_options: [] }], [bare!, { container: image, container_options: options }]] as const) {
    const edited = await http(ts, 'PATCH', `${API_PREFIX}/tasks/${task.id}`, { set });
    assert.equal(edited.status, 200, edited.text);
  }
  const [now, then] = [await ts.client.getTask(inImage!.id), await ts.client.getTask(bare!.id)];
  assert.deepEqual([now.container, now.container_options, then.container, then.container_options], [null, [], image, options]);
});

test("an admin's policy: binds under its prefixes (not beside them, not through ..), its capabilities; each change an event", async () => {
  const before = await eventCount();
  const set = await ts.client.putDockerPolicy({ allowed_mount_prefixes: ['/data/runs/'], allowed_capabilities: ['net_admin'] });
  assert.deepEqual(set.policy, { ...DEFAULT_DOCKER_POLICY, allowed_mount_prefixes: ['/data/runs/'], allowed_capabilities: ['NET_ADMIN'] });
  assert.equal(set.version, 1);
  assert.ok(set.updated_by);
  // The log is read commit-safely: an event shows once older transactions of the cluster have ended.
  const [event] = await until('the policy.changed event', async () => {
    const { items } = await ts.client.listEvents({ type: 'policy.changed' });
    return items.length > 0 && items;
  });
  assert.deepEqual(event!.data, { policy: 'docker', old: DEFAULT_DOCKER_POLICY, new: set.policy });
  assert.equal(await eventCount(), before + 1);
  // The same policy again changes nothing.
  assert.equal((await ts.client.putDockerPolicy({ allowed_mount_prefixes: ['/data/runs/'], allowed_capabilities: ['NET_ADMIN'] })).version, 1);
  assert.equal(await eventCount(), before + 1);
  assert.deepEqual(await ts.client.getDockerPolicy(), set);

  const { tasks } = await ts.client.submitTasks({
    tasks: [
      { command: 'true', container: image, container_options: ['-v', '/data/runs:/runs:ro'] },
      { command: 'true', container: image, container_options: ['--volume=/data/runs/2026/S1:/in', '--cap-add=CAP_NET_ADMIN'] },
    ],
  });
  assert.ok(tasks.every((t) => t.created));
  await refused('/tasks', { command: 'true', container: image, container_options: ['-v', '/data/runsets:/x'] }, 'container_options[0]', /\/data\/runsets is not under .*allowed: \/data\/runs\//);
  await refused('/tasks', { command: 'true', container: image, container_options: ['-v', '/data/runs/../../etc:/x'] }, 'container_options[0]', /host path \/etc is not/);
  await refused('/tasks', { command: 'true', container: image, container_options: ['--cap-add=SYS_ADMIN'] }, 'container_options[0]', /allowed capabilities: NET_ADMIN/);

  await refused('/policy/docker', { allowed_mount_prefixes: ['data'] }, 'allowed_mount_prefixes[0]', /absolute path/, 'PUT');
  await refused('/policy/docker', { allow_privileged: true, allow_everything: true }, 'allow_everything', /unknown field/, 'PUT');
  const reset = await ts.client.putDockerPolicy({});
  assert.deepEqual([reset.policy, reset.version], [DEFAULT_DOCKER_POLICY, 2]);
  await refused('/tasks', { command: 'true', container: image, container_options: ['-v', '/data/runs:/runs'] }, 'container_options[0]', /no host directory is allowed/);
});
