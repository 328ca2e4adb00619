// Read side of "why is it waiting": a task's reasons, a step's summary, a worker's. It
// reads what the claim reads (status, pauses, backoff, the online workers' tags, resources,
// pause and free slots), and judges a worker against a task with the claim's own rule
// (server/requirements.ts), so the answer is what the next claim would do.
import { sql, type FragmentSqlToken } from 'slonik';
import { z } from 'zod';
import { isLive } from '../../shared/schemas/execution.js';
import { isFinalTask, UNSTARTED_TASK_STATUSES, type Requirements, type TaskStatus, type WaitingReasonCode } from '../../shared/schemas/task.js';
import { WAITING_MESSAGES_SAID, type Reason, type StepWhy, type TaskWaitReason, type TaskWhy, type WaitingReason, type WorkerWhy } from '../../shared/schemas/why.js';
import { LIVE_STATUS_LIST } from '../db/literals.js';
import type { Db } from '../db/pool.js';
import { acceptsWork, CLAIMABLE, takesSql, takesTag, unmet, type WorkerResources } from '../requirements.js';

const OnlineWorker = z.object({
  id: z.number(), name: z.string(), tags: z.array(z.string()), cpus: z.number(), memory_mb: z.number(), gpus: z.number(),
  docker: z.boolean(), capabilities: z.array(z.string()), paused: z.boolean(), draining: z.boolean(), concurrency: z.number(),
  prefetch: z.number(), live: z.number(),
});
type OnlineWorker = z.infer<typeof OnlineWorker>;

/** What a claim compares a worker against. */
interface Claimable {
  tag: string;
  requirements: Requirements;
  container: string | null;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const WorkerRow = OnlineWorker.extend({ status: z.string() });
type WorkerRow = z.infer<typeof WorkerRow>;

/** Workers as the claim sees them, with their live executions. */
const workers = (where: FragmentSqlToken) => sql.type(WorkerRow)`
  SELECT w.id, w.name, w.tags, w.cpus, w.memory_mb, w.docker, w.gpus, w.capabilities, w.paused, w.draining, w.concurrency, w.prefetch,
         w.status,
         (SELECT count(*) FROM executions x WHERE x.worker_id = w.id AND x.status IN (${LIVE_STATUS_LIST}))::int AS live
  FROM workers w WHERE ${where} AND w.deleted_at IS NULL ORDER BY w.id`;

const onlineWorkers = (db: Db) => db.any(workers(sql.fragment`w.status = 'online'`));
export const workerForWhy = (db: Db, id: number) => db.maybeOne(workers(sql.fragment`w.id = ${id}`));

/** Workers that lack a task's requirements named in its message at most; details list up to 20. */
const WORKERS_SAID = 3;

/** Which workers could take a pending, unpaused task now, and if none, why not. */
function workerVerdict(workers: readonly OnlineWorker[], task: Claimable): Reason & { code: TaskWaitReason } {
  const takers = workers.filter((w) => takesTag(w, task.tag));
  if (takers.length === 0) {
    return { code: 'no_worker_for_tag', message: `no online worker takes its tag "${task.tag}"` };
  }
  const lacks = takers.map((w) => ({ id: w.id, name: w.name, lacks: unmet(w as WorkerResources, task) }));
  const fitting = takers.filter((_, i) => lacks[i]!.lacks.length === 0);
  if (fitting.length === 0) {
    // Each worker of the tag may lack something else: the first few are named with what they
    // lack, and the count of the others, so that a reader knows how many to upgrade or add to.
    const said = lacks.slice(0, WORKERS_SAID).map((w) => `${w.name} (${w.lacks.join('; ')})`).join(', ');
    const more = lacks.length > WORKERS_SAID ? ` and ${lacks.length - WORKERS_SAID} more` : '';
    return {
      code: 'requirements',
      message: `${takers.length === 1 ? `the one online worker that takes tag "${task.tag}" does not` : `none of the ${takers.length} online workers that take tag "${task.tag}"`} satisfy its requirements: ${said}${more}`,
      details: { workers: lacks.slice(0, 20) },
    };
  }
  const active = fitting.filter((w) => acceptsWork(w) && w.concurrency > 0);
  if (active.length === 0) {
    return { code: 'workers_paused', message: `the ${plural(fitting.length, 'worker')} that can run it ${fitting.length === 1 ? 'is' : 'are'} paused, draining or at concurrency 0: ${fitting.map((w) => `${w.name}${w.draining ? ' (draining)' : ''}`).join(', ')}` };
  }
  const free = active.filter((w) => w.live < w.concurrency + w.prefetch);
  if (free.length === 0) {
    const used = active.reduce((n, w) => n + w.live, 0);
    const slots = active.reduce((n, w) => n + w.concurrency + w.prefetch, 0);
    return { code: 'workers_busy', message: `all ${plural(active.length, 'worker')} that can run it ${active.length === 1 ? 'is' : 'are'} busy (${used} of ${slots} slots)`, details: { workers: active.length, used, slots } };
  }
  return { code: 'queued', message: `${plural(free.length, 'worker')} with a free slot can run it: ${free.slice(0, 5).map((w) => w.name).join(', ')}`, details: { workers: free.map((w) => w.id) } };
}

/**
 * The tasks (of the table `tasks`, unaliased) whose main reason to wait is `reason`, as one
 * condition: the task list, its count and the bulk actions filter by it in their own
 * statement. The same steps as workerVerdict, over the online workers in SQL: the status,
 * then the pause and the backoff, then which workers take the tag, satisfy the requirements
 * (takesSql, the claim's rule), accept work and have a free slot.
 */
export function waitingForSql(reason: WaitingReasonCode): FragmentSqlToken {
  const some = (condition: FragmentSqlToken) => sql.fragment`EXISTS (
    SELECT 1 FROM workers w WHERE w.status = 'online' AND w.deleted_at IS NULL AND ${condition})`;
  const tag = sql.fragment`(tasks.tag = ANY(w.tags) OR '*' = ANY(w.tags))`;
  const fits = takesSql('w', 'tasks');
  const active = sql.fragment`${fits} AND NOT w.paused AND NOT w.draining AND w.concurrency > 0`;
  // The workers with a free slot are counted once for the statement (an InitPlan, not
  // correlated with the task): counted under each task's look at the workers, the count ran
  // once per task and worker whenever the planner expected few tasks (before the statistics
  // of a bulk submit were gathered), 8.4 s for 100,000 pending tasks and 50 busy workers
  // where the same statement takes 0.4 s counted once.
  const withFreeSlot = sql.fragment`ARRAY(SELECT f.id FROM workers f
    WHERE f.status = 'online' AND f.deleted_at IS NULL
      AND (SELECT count(*) FROM executions x WHERE x.worker_id = f.id AND x.status IN (${LIVE_STATUS_LIST})) < f.concurrency + f.prefetch)`;
  const free = sql.fragment`${active} AND w.id = ANY(${withFreeSlot})`;
  const claimable = (verdict: FragmentSqlToken) => sql.fragment`(${CLAIMABLE} AND ${verdict})`;
  const conditions: Record<WaitingReasonCode, FragmentSqlToken> = {
    held: sql.fragment`status = 'held'`,
    dependencies: sql.fragment`status = 'waiting'`,
    blocked: sql.fragment`status = 'blocked'`,
    paused: sql.fragment`(status = 'pending' AND paused)`,
    backoff: sql.fragment`(status = 'pending' AND NOT paused AND retry_at > now())`,
    no_worker_for_tag: claimable(sql.fragment`NOT ${some(tag)}`),
    requirements: claimable(sql.fragment`${some(tag)} AND NOT ${some(fits)}`),
    workers_paused: claimable(sql.fragment`${some(fits)} AND NOT ${some(active)}`),
    workers_busy: claimable(sql.fragment`${some(active)} AND NOT ${some(free)}`),
    queued: claimable(some(free)),
  };
  return conditions[reason];
}

const TaskRow = z.object({
  id: z.number(), status: z.string().transform((s) => s as TaskStatus), paused: z.boolean(), tag: z.string(), priority: z.number(),
  requirements: z.record(z.string(), z.unknown()).transform((r) => r as Requirements), container: z.string().nullable(),
  depends_on: z.array(z.number()), accept_failure: z.boolean(), retry_at: z.string().nullable(), backing_off: z.boolean(),
  execution_id: z.number().nullable(), workflow_id: z.number().nullable(), step_id: z.number().nullable(),
});

async function pausesOver(db: Db, t: { workflow_id: number | null; step_id: number | null; tag: string }): Promise<Reason> {
  const rows = await db.any(sql.unsafe`
    SELECT scope, scope_key, paused_at, paused_by FROM pauses
    WHERE scope = 'all' OR (scope = 'workflow' AND scope_key = ${String(t.workflow_id)})
       OR (scope = 'step' AND scope_key = ${String(t.step_id)}) OR (scope = 'tag' AND scope_key = ${t.tag})
    ORDER BY paused_at`);
  const what = rows.map((p) => (p.scope === 'all' ? 'everything' : p.scope === 'tag' ? `tag "${p.scope_key}"` : `its ${p.scope} ${p.scope_key}`));
  return {
    code: 'paused',
    message: `${what.join(' and ')} ${what.length === 1 ? 'is' : 'are'} paused (resume to let workers take it)`,
    details: { pauses: rows.map((p) => ({ scope: p.scope, key: p.scope_key, paused_at: p.paused_at, paused_by: p.paused_by })) },
  };
}

const Dependency = z.object({ id: z.number(), status: z.string() });
type Dependency = z.infer<typeof Dependency>;
/** What a dependency can be that will never succeed unless relaunched, itself or upstream. */
const WONT_SUCCEED = ['failed', 'cancelled', 'blocked'];
const named = (deps: readonly Dependency[]) => deps.map((d) => `${d.id} (${d.status})`).join(', ');

/**
 * What to relaunch for a blocked task to wait again: its dependencies that failed or were
 * cancelled, and for those blocked in turn, the failed or cancelled tasks up their chain (a
 * blocked task cannot be relaunched: it has not ended).
 */
async function whatToRelaunch(db: Db, bad: readonly Dependency[]): Promise<string> {
  const ended = bad.filter((d) => d.status !== 'blocked');
  const blocked = bad.filter((d) => d.status === 'blocked').map((d) => d.id);
  const upstream = blocked.length === 0 ? [] : await db.any(sql.type(Dependency)`
    WITH RECURSIVE up(id, status, depends_on) AS (
      SELECT id, status, depends_on FROM tasks WHERE id = ANY(${sql.array(blocked, 'int8')})
      UNION
      SELECT t.id, t.status, t.depends_on FROM tasks t JOIN up ON t.id = ANY(up.depends_on) WHERE up.status = 'blocked'
    )
    SELECT DISTINCT id, status FROM up
    WHERE status IN ('failed', 'cancelled') AND id <> ALL(${sql.array(ended.map((d) => d.id), 'int8')})
    ORDER BY id LIMIT ${ROOTS_SAID + 1}`);
  if (upstream.length === 0) return ended.length ? `relaunch ${ended.length === 1 ? 'it' : 'them'}, or cancel this task` : 'cancel this task';
  const more = upstream.length > ROOTS_SAID ? ' and more' : '';
  const up = `${named(upstream.slice(0, ROOTS_SAID))}${more}, on which ${blocked.length === 1 ? 'it depends' : 'they depend'}`;
  return `${ended.length ? `relaunch ${named(ended)} and ${up}` : `relaunch ${up}`}, or cancel this task`;
}

/** Failed or cancelled tasks up a blocked chain named at most. */
const ROOTS_SAID = 5;

export async function taskWhy(db: Db, id: number): Promise<TaskWhy | null> {
  const t = await db.maybeOne(sql.type(TaskRow)`
    SELECT id, status, paused, tag, priority, requirements, container, depends_on, accept_failure, retry_at,
           coalesce(retry_at > now(), false) AS backing_off, execution_id, workflow_id, step_id
    FROM tasks WHERE id = ${id}`);
  if (!t) return null;
  const why = (...reasons: Array<Reason & { code: TaskWaitReason }>): TaskWhy => ({ task_id: t.id, status: t.status, reasons });
  if (isLive(t.status)) {
    const x = await db.maybeOne(sql.type(z.object({ name: z.string(), suspended: z.boolean() }))`
      SELECT w.name, x.suspended FROM executions x JOIN workers w ON w.id = x.worker_id WHERE x.id = ${t.execution_id}`);
    const suspended = x?.suspended ? '; suspended: it stays where it is until continued (labq task continue)' : '';
    return why({ code: 'running', message: `not waiting: ${t.status} on worker ${x?.name} (execution ${t.execution_id})${suspended}` });
  }
  if (isFinalTask(t.status)) return why({ code: 'ended', message: `not waiting: it ${t.status === 'cancelled' ? 'was cancelled' : t.status} (relaunch it to run it again)` });
  if (t.status === 'held') {
    const held = await db.maybeOne(sql.unsafe`
      SELECT data->>'reason' AS reason, meta->>'actor' AS actor, created_at FROM events
      WHERE stream_type = 'task' AND stream_id = ${id} AND type = 'task.held' ORDER BY version DESC LIMIT 1`);
    return why({ code: 'held', message: held ? `held by ${held.actor ?? 'someone'} at ${held.created_at}: ${held.reason} (release it to run it)` : 'submitted held (release it to run it)' });
  }
  if (t.status === 'waiting' || t.status === 'blocked') {
    const deps = await db.any(sql.type(Dependency)`SELECT id, status FROM tasks WHERE id = ANY(${sql.array(t.depends_on, 'int8')}) AND status <> 'succeeded' ORDER BY id`);
    const tasks = deps.map((d) => ({ id: d.id, status: d.status }));
    if (t.status === 'blocked') {
      const bad = deps.filter((d) => WONT_SUCCEED.includes(d.status));
      return why({ code: 'blocked', message: `${plural(bad.length, 'dependency', 'dependencies')} will not succeed: ${named(bad)} (${await whatToRelaunch(db, bad)})`, details: { tasks } });
    }
    // One that accepts failures waits only for those that have not ended (a blocked one counts as ended).
    const open = t.accept_failure ? deps.filter((d) => !WONT_SUCCEED.includes(d.status)) : deps;
    return why({ code: 'dependencies', message: `waiting for ${plural(open.length, 'dependency', 'dependencies')}${t.accept_failure ? ' to end' : ' to succeed'}: ${named(open)}`, details: { tasks } });
  }
  const reasons: Array<Reason & { code: TaskWaitReason }> = [];
  if (t.paused) reasons.push(await pausesOver(db, t) as Reason & { code: 'paused' });
  if (t.backing_off) reasons.push({ code: 'backoff', message: `backing off after a failure until ${t.retry_at}`, details: { retry_at: t.retry_at } });
  const verdict = workerVerdict(await onlineWorkers(db), t);
  // A worker could run it, but not before what holds it back now is over.
  if (verdict.code === 'queued' && reasons.length > 0) {
    verdict.message = `once ${reasons.map((r) => (r.code === 'paused' ? 'resumed' : 'its backoff is over')).join(' and ')}: ${verdict.message}`;
  }
  if (verdict.code === 'queued' && reasons.length === 0) {
    const ahead = Number(await db.oneFirst(sql.unsafe`
      SELECT count(*) FROM tasks WHERE ${CLAIMABLE} AND tag = ${t.tag}
        AND (priority > ${t.priority} OR (priority = ${t.priority} AND id < ${t.id}))`));
    verdict.message = `in the queue behind ${plural(ahead, 'task')} of tag "${t.tag}"; ${verdict.message}`;
    verdict.details = { ...verdict.details, ahead };
  }
  reasons.push(verdict);
  return why(...reasons);
}

const Group = z.object({
  status: z.string(), paused: z.boolean(), backing_off: z.boolean(), tag: z.string(),
  requirements: z.record(z.string(), z.unknown()).transform((r) => r as Requirements), docker: z.boolean(), n: z.number(),
});

export const STATUS_REASON: Record<string, Reason & { code: TaskWaitReason }> = {
  held: { code: 'held', message: 'release them to run them' },
  waiting: { code: 'dependencies', message: 'waiting for dependencies' },
  blocked: { code: 'blocked', message: 'a dependency will not succeed' },
};

/** A reason's messages as an answer lists them: the first few, and how many others. */
export const listed = (messages: readonly string[]) => ({
  messages: messages.slice(0, WAITING_MESSAGES_SAID),
  more_messages: Math.max(0, messages.length - WAITING_MESSAGES_SAID),
});

/**
 * Each not-started task that `where` selects under its main reason, from one grouped read of
 * them; most frequent first. With `sample`, only the oldest `limit` tasks of `status` are
 * read, their ids first from the index of (status, id) alone, then each row by its id:
 * asked for whole rows in id order, the planner walks the primary key, through every
 * older task, or scans the whole table.
 */
export async function waitingReasons(db: Db, where: FragmentSqlToken, sample?: { status: TaskStatus; limit: number }): Promise<WaitingReason[]> {
  const tasks = sample
    ? sql.fragment`(SELECT * FROM tasks WHERE id = ANY(ARRAY(SELECT id FROM tasks WHERE ${where} AND status = ${sample.status} ORDER BY id LIMIT ${sample.limit})))`
    : sql.fragment`(SELECT * FROM tasks WHERE ${where} AND status = ANY(${sql.array([...UNSTARTED_TASK_STATUSES], 'text')}))`;
  const groups = await db.any(sql.type(Group)`
    SELECT status, paused, coalesce(retry_at > now(), false) AS backing_off, tag, requirements, container IS NOT NULL AS docker,
           count(*)::int AS n
    FROM ${tasks} t GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY n DESC`);
  const workers = groups.some((g) => g.status === 'pending') ? await onlineWorkers(db) : [];
  const byCode = new Map<TaskWaitReason, { count: number; messages: string[] }>();
  for (const g of groups) {
    const reason = STATUS_REASON[g.status]
      ?? (g.paused ? { code: 'paused' as const, message: 'their step, workflow, tag or everything is paused' }
        : g.backing_off ? { code: 'backoff' as const, message: 'waiting to retry after a failure' }
        : workerVerdict(workers, { tag: g.tag, requirements: g.requirements, container: g.docker ? 'container' : null }));
    const seen = byCode.get(reason.code) ?? byCode.set(reason.code, { count: 0, messages: [] }).get(reason.code)!;
    seen.count += g.n;
    if (!seen.messages.includes(reason.message)) seen.messages.push(reason.message);
  }
  // The groups come largest first, so the messages listed are those of the most tasks.
  return [...byCode]
    .map(([code, r]) => ({ code, count: r.count, ...listed(r.messages) }))
    .sort((a, b) => b.count - a.count);
}

export async function stepWhy(db: Db, stepId: number): Promise<StepWhy> {
  const reasons = await waitingReasons(db, sql.fragment`step_id = ${stepId}`);
  return { step_id: stepId, waiting: reasons.reduce((n, r) => n + r.count, 0), reasons };
}

const PendingGroup = z.object({
  tag: z.string(), requirements: z.record(z.string(), z.unknown()).transform((r) => r as Requirements), docker: z.boolean(),
  paused: z.boolean(), backing_off: z.boolean(), n: z.number(),
});

/** Why a worker takes nothing now: its own state first, then the pending tasks of its tags. */
export async function workerWhy(db: Db, worker: WorkerRow): Promise<WorkerWhy> {
  const why = (...reasons: WorkerWhy['reasons']): WorkerWhy => ({ worker_id: worker.id, reasons });
  if (worker.status !== 'online') return why({ code: 'offline', message: `${worker.status === 'offline' ? '' : `${worker.status}: `}the server has not heard from it lately (is its daemon running?)` });
  if (worker.draining) {
    return why({ code: 'draining', message: `it takes no new task, and its daemon leaves once its ${plural(worker.live, 'live execution')} ${worker.live === 1 ? 'has' : 'have'} ended (labq workers set ${worker.id} --no-drain to keep it)` });
  }
  if (worker.paused) return why({ code: 'paused', message: 'it takes no new task (resume it)' });
  const slots = worker.concurrency + worker.prefetch;
  if (worker.live >= slots) return why({ code: 'full', message: `every slot is taken: ${worker.live} of ${slots} (concurrency ${worker.concurrency}, prefetch ${worker.prefetch})` });
  const mine = worker.tags.includes('*') ? sql.fragment`TRUE` : sql.fragment`tag = ANY(${sql.array(worker.tags, 'text')})`;
  const groups = await db.any(sql.type(PendingGroup)`
    SELECT tag, requirements, container IS NOT NULL AS docker, paused, coalesce(retry_at > now(), false) AS backing_off, count(*)::int AS n
    FROM tasks WHERE status = 'pending' AND ${mine} GROUP BY 1, 2, 3, 4, 5`);
  const open = groups.filter((g) => !g.paused && !g.backing_off && takesTag(worker, g.tag));
  const fit = open.filter((g) => unmet(worker, { requirements: g.requirements, container: g.docker ? 'container' : null }).length === 0);
  const count = (gs: typeof groups) => gs.reduce((n, g) => n + g.n, 0);
  if (fit.length) return why({ code: 'can_take', message: `${plural(count(fit), 'pending task')} it can take: it claims them at its next exchange` });
  const reasons: WorkerWhy['reasons'] = [];
  const unfit = open.filter((g) => !fit.includes(g));
  if (unfit.length) {
    const lacks = unmet(worker, { requirements: unfit[0]!.requirements, container: unfit[0]!.docker ? 'container' : null });
    reasons.push({ code: 'requirements', message: `${plural(count(unfit), 'pending task')} of its tags ${count(unfit) === 1 ? 'needs' : 'need'} more than it has (e.g. ${lacks.join('; ')})` });
  }
  const paused = groups.filter((g) => g.paused);
  if (paused.length) reasons.push({ code: 'paused_tasks', message: `${plural(count(paused), 'pending task')} of its tags ${count(paused) === 1 ? 'is' : 'are'} paused` });
  const backing = groups.filter((g) => !g.paused && g.backing_off);
  if (backing.length) reasons.push({ code: 'backoff', message: `${plural(count(backing), 'pending task')} of its tags ${count(backing) === 1 ? 'is' : 'are'} backing off after a failure` });
  if (reasons.length) return why(...reasons);
  const elsewhere = await db.any(sql.unsafe`
    SELECT tag, count(*)::int AS n FROM tasks WHERE status = 'pending' AND NOT paused GROUP BY tag ORDER BY n DESC LIMIT 5`);
  if (elsewhere.length) {
    return why({ code: 'other_tags', message: `no pending task has its tags (${worker.tags.join(', ')}); pending work has tags ${elsewhere.map((r) => `${r.tag} (${r.n})`).join(', ')}` });
  }
  return why({ code: 'no_tasks', message: 'no task is pending' });
}
