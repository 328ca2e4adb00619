// Calls every route of the contract (shared/api.ts) with rows that exist and a body it
// would accept, so that a test can vary one thing only — the token — and read what that
// changed: the authentication test (no or a wrong token) and the roles test (each role).
import { randomUUID } from 'node:crypto';
import { HISTORY_SETTLE_MS } from '../../server/http/routes/tasks.js';
import { API_PREFIX, routes, type RouteSpec } from '../../shared/api.js';
import { LabqClient } from '../../shared/client.js';
import type { Worker } from '../../shared/schemas/worker.js';
import type { TestServer } from './server.js';

export const ROUTES = Object.entries(routes) as [string, RouteSpec][];

export interface RouteFixtures {
  workflowId: number;
  stepId: number;
  taskId: number;
  worker: Worker;
  /** An execution of `worker`, which it holds. */
  executionId: number;
  /** Held tasks to kill, one per killTask request: a task can be cancelled only once. */
  killable: number[];
  /** Tasks for the one-task steering routes, one per request (refused ones included): each changes its task once. */
  steerable: Record<'hold' | 'release' | 'relaunch' | 'cancel' | 'edit', number[]>;
  /** Users to remove and tokens to revoke, one per request (refused ones included). */
  removable: string[];
  revocable: string[];
  /** Secrets to remove, one per request (refused ones included). */
  secrets: string[];
  /** A schedule the schedule routes act on, and schedules to delete, one per request (refused ones included). */
  scheduleId: number;
  deletableSchedules: number[];
  /** Offline workers to delete, one per request (refused ones included): a worker can be deleted only once. */
  deletableWorkers: number[];
  /** A user whose password the login route is given. */
  user: { name: string; password: string };
  serial: number;
}

/**
 * Makes the rows the routes act on. The worker registers with `workerToken` when given (a
 * worker token is then bound to it), else with the server's admin token. `perRoute`: how
 * many requests each one-task route will get.
 */
export async function routeFixtures(ts: TestServer, { workerToken, perRoute = 16 }: { workerToken?: string; perRoute?: number } = {}): Promise<RouteFixtures> {
  const admin = ts.client;
  const workerClient = workerToken ? new LabqClient({ server: ts.url, token: workerToken }) : admin;
  const workflowId = (await admin.createWorkflow({ name: 'routes' })).id;
  const stepId = (await admin.createStep({ workflow_id: workflowId, name: 'routes step' })).id;
  const taskId = (await admin.submitTasks({ command: 'echo routes', step_id: stepId, tag: 'routes' })).tasks[0]!.id;
  const worker = await workerClient.registerWorker({ name: `routes-${randomUUID()}`, instance: randomUUID(), hostname: 'h', cpus: 1, memory_mb: 100, docker: false, tags: ['routes'] });
  const executionId = (await workerClient.pollWorker(worker.id, { instance: worker.instance!, holding: [], want: 1, wait_seconds: 0 })).assignments[0]!.execution_id;
  const submit = async (held: boolean, n = perRoute) =>
    (await admin.submitTasks({ tasks: Array.from({ length: n }, () => ({ command: 'true', tag: 'nobody', held })) })).tasks.map((t) => t.id);
  const killable = await submit(true, perRoute * 3);
  const steerable = { hold: await submit(false), cancel: await submit(false), edit: await submit(false), release: await submit(true), relaunch: await submit(true) };
  await admin.call('cancelTasks', { body: { filter: { ids: steerable.relaunch } } });
  const tag = randomUUID().slice(0, 8);
  const removable: string[] = [];
  const revocable: string[] = [];
  for (let i = 0; i < perRoute; i++) {
    removable.push((await admin.createUser({ name: `routes-rm-${tag}-${i}`, role: 'viewer', password: 'long enough password' })).name);
    revocable.push((await admin.createToken({ name: `routes-revoke-${tag}-${i}`, role: 'viewer' })).name);
  }
  const secrets: string[] = [];
  for (let i = 0; i < perRoute; i++) {
    const name = `routes-secret-${tag}-${i}`;
    await admin.call('putSecret', { params: { name }, body: { value: 'routes' } });
    secrets.push(name);
  }
  // Yearly, so that the clock never fires them while the routes are called.
  const schedule = async (name: string) =>
    (await admin.call('createSchedule', { body: { name, cron: '0 0 1 1 *', submit: { tasks: [{ command: 'true', tag: 'nobody' }] } } })).id;
  const scheduleId = await schedule(`routes-schedule-${tag}`);
  const deletableSchedules: number[] = [];
  for (let i = 0; i < perRoute; i++) deletableSchedules.push(await schedule(`routes-schedule-${tag}-${i}`));
  const deletableWorkers: number[] = [];
  for (let i = 0; i < perRoute; i++) {
    const gone = await admin.registerWorker({ name: `routes-gone-${tag}-${i}`, instance: randomUUID(), hostname: 'h', cpus: 1, memory_mb: 100, docker: false });
    // Its daemon drained and left: offline at once.
    await admin.pollWorker(gone.id, { instance: gone.instance!, want: 0, wait_seconds: 0, leaving: true });
    deletableWorkers.push(gone.id);
  }
  const user = { name: `routes-user-${tag}`, password: 'long enough password' };
  await admin.createUser({ ...user, role: 'viewer' });
  return { workflowId, stepId, taskId, worker, executionId, killable, steerable, removable, revocable, secrets, scheduleId, deletableSchedules, deletableWorkers, user, serial: 0 };
}

/** The route's path with its ids filled in with ids of rows that exist. */
export function concretePath(f: RouteFixtures, spec: RouteSpec): string {
  if (spec.path === '/users/:name') return `${API_PREFIX}/users/${spec.method === 'delete' ? f.removable.pop() : f.user.name}`;
  if (spec.path === '/tokens/:name') return `${API_PREFIX}/tokens/${f.revocable.pop()}`;
  if (spec.path === '/secrets/:name') return `${API_PREFIX}/secrets/${spec.method === 'delete' ? f.secrets.pop() : `routes-new-${++f.serial}`}`;
  const steered = spec.path.match(/^\/tasks\/:id\/(hold|release|relaunch|cancel)$/)?.[1] ?? (spec.method === 'patch' && spec.path === '/tasks/:id' ? 'edit' : null);
  const id = spec.path.endsWith('/kill')
    ? f.killable.pop()!
    : steered ? f.steerable[steered as keyof RouteFixtures['steerable']].pop()!
    : spec.path.startsWith('/tasks') ? f.taskId
    : spec.path.startsWith('/steps') ? f.stepId
    : spec.path.startsWith('/workflows') ? f.workflowId
    : spec.path === '/schedules/:id' && spec.method === 'delete' ? f.deletableSchedules.pop()!
    : spec.path.startsWith('/schedules') ? f.scheduleId
    : spec.path === '/workers/:id' && spec.method === 'delete' ? f.deletableWorkers.pop()!
    : spec.path.startsWith('/workers') ? f.worker.id
    : spec.path.startsWith('/executions') ? f.executionId
    : 1;
  return API_PREFIX + spec.path.replace(/:(\w+)/g, String(id));
}

/** A body the route would accept, so that the token is the only thing that may be wrong. */
export function validBody(f: RouteFixtures, name: string): unknown {
  switch (name) {
    case 'submitTasks':
      return { command: 'echo routes' };
    case 'submitSweep':
      return { template: { command: 'echo {n}' }, parameters: { n: [++f.serial] } };
    case 'createSchedule':
      return { name: `routes-new-${++f.serial}-${randomUUID().slice(0, 8)}`, cron: '0 0 1 1 *', submit: { tasks: [{ command: 'true', tag: 'nobody' }] } };
    case 'editSchedule':
      return { context: { n: String(++f.serial) } };
    case 'createWorkflow':
      return { name: 'routes' };
    case 'createStep':
      return { workflow_id: f.workflowId, name: `routes ${++f.serial}` };
    // The worker again, as its daemon would after a restart: the one name its token may register.
    case 'registerWorker':
      return { name: f.worker.name, instance: f.worker.instance, hostname: 'h', cpus: 1, memory_mb: 100, docker: false, tags: ['routes'] };
    case 'updateWorker':
      return { concurrency: 1 };
    case 'pollWorker':
      return { instance: f.worker.instance, holding: [f.executionId], want: 0, wait_seconds: 0 };
    case 'executionReports':
      return { reports: [{ kind: 'output', stream: 'stdout', seq: ++f.serial, data: Buffer.from('x').toString('base64') }] };
    case 'editTask':
      return { set: { priority: ++f.serial } };
    // Bulk operations on a task that does not exist: they answer 200, matching nothing.
    case 'editTasks':
      return { filter: { ids: [999_999] }, set: { priority: 1 } };
    case 'holdTasks':
    case 'releaseTasks':
    case 'relaunchTasks':
    case 'cancelTasks':
      return { filter: { ids: [999_999] } };
    case 'login':
      return f.user;
    case 'putSecret':
      return { value: 'routes' };
    case 'changeOwnPassword':
      return { password: 'another long password', current_password: f.user.password };
    case 'createUser':
      return { name: `routes-new-${++f.serial}-${randomUUID().slice(0, 8)}`, role: 'viewer', password: 'long enough password' };
    case 'updateUser':
      return { role: 'viewer' };
    case 'createToken':
      return { name: `routes-new-${++f.serial}-${randomUUID().slice(0, 8)}`, role: 'viewer' };
    case 'pauseQueue':
    case 'resumeQueue':
      return { tag: 'unused' };
    default:
      return {};
  }
}

export interface RouteAnswer {
  status: number;
  type: string;
  text: string;
  headers: Headers;
}

/** One request to the route; an SSE answer is read up to its status, then hung up on. */
export async function callRoute(
  ts: Pick<TestServer, 'url'>, f: RouteFixtures, name: string, spec: RouteSpec, authorization: string | undefined, extra: Record<string, string> = {},
): Promise<RouteAnswer> {
  const controller = new AbortController();
  const headers: Record<string, string> = { ...extra };
  if (authorization !== undefined) headers.authorization = authorization;
  let body: string | undefined;
  if (spec.body) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(validBody(f, name));
  }
  // Longer than a task history's wait for events an older transaction holds back: the test
  // files share one PostgreSQL, whose horizon another file's long submit holds for seconds.
  const timer = setTimeout(() => controller.abort(), HISTORY_SETTLE_MS + 5000);
  try {
    const response = await fetch(ts.url + concretePath(f, spec), { method: spec.method.toUpperCase(), headers, body, signal: controller.signal });
    const type = response.headers.get('content-type') ?? '';
    const text = type.startsWith('text/event-stream') ? '' : await response.text();
    controller.abort();
    return { status: response.status, type, text, headers: response.headers };
  } finally {
    clearTimeout(timer);
  }
}
