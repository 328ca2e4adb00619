// Schedules through the API on one server: refusals that name the field and change nothing,
// run now and run with a changed context (the tasks' commands), the events of every change
// and run, edit with old and new values, enable/disable, delete; a schedule's step, and a run
// refused at fire time recorded as failed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { until } from '../../e2e/support/worker.js';
import { API_PREFIX } from '../../shared/api.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const S = `${API_PREFIX}/schedules`;
const eventCount = async () => Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM events`));
const scheduleEvents = async (id: number) =>
  (await ts.server.pool.any(sql.unsafe`
    SELECT type, data, meta->>'actor' AS actor FROM events WHERE stream_type = 'schedule' AND stream_id = ${id} ORDER BY version`)) as any[];
/** Yearly at 02:00 on January 1st: the clock never fires it during a test. */
const YEARLY = '0 2 1 1 *';

test('bad input: 400 naming the field, nothing written', async () => {
  const before = await eventCount();
  const base = { name: 'bad', cron: YEARLY, submit: { tasks: [{ command: 'true' }] } };
  const cases: [unknown, string][] = [
    [{ ...base, cron: '61 * * * *' }, 'cron'],
    [{ ...base, cron: '* * *' }, 'cron'],
    [{ ...base, cron: '0 0 1 1 * 2030 x' }, 'cron'],
    [{ ...base, timezone: 'Mars/Olympus' }, 'timezone'],
    [{ ...base, submit: { tasks: [{ command: 'qc.sh {run}' }] } }, 'submit.tasks[0].command'],
    [{ ...base, context: { INPUT: 'x' } }, 'context.INPUT'],
    [{ ...base, catch_up: 'sometimes' }, 'catch_up'],
    [{ ...base, overlap: 'never' }, 'overlap'],
    [{ ...base, step_id: 999_999 }, 'step_id'],
    [{ ...base, submit: { sweep: { template: { command: 'x {a} {run}' }, parameters: { a: [1, 2] } } }, context: { run: 'r', a: '1' } }, 'context.a'],
    [{ ...base, submit: { jobs: [] } }, 'submit'],
    // A field of a task of `{"tasks": …}`, one of the two shapes of submit: named, not only `submit`.
    [{ ...base, submit: { tasks: [{ command: 'x', env: { A: 5 } }] } }, 'submit.tasks[0].env.A'],
    [{ ...base, submit: { tasks: [{ command: 'x', priority: 'high' }] } }, 'submit.tasks[0].priority'],
    [{ ...base, submit: { sweep: { template: { command: 'x {a}', tag: 'a b' }, parameters: { a: [1] } } } }, 'submit.sweep.template.tag'],
  ];
  for (const [body, field] of cases) {
    const answer = await http(ts, 'POST', S, body);
    assert.equal(answer.status, 400, `${field}: ${answer.text}`);
    assert.match(answer.type, /problem\+json/);
    assert.ok(answer.json.errors.some((e: any) => e.field === field), `${field} not named in ${answer.text}`);
  }
  assert.equal(await eventCount(), before);
});

test('a name of digits alone is refused, created or renamed: the CLI would read it as the id of another schedule', async () => {
  const base = { cron: YEARLY, submit: { tasks: [{ command: 'true' }] } };
  const before = await eventCount();
  const made = await http(ts, 'POST', S, { ...base, name: '42' });
  assert.equal(made.status, 400, made.text);
  assert.deepEqual(made.json.errors.map((e: any) => e.field), ['name']);
  assert.match(made.json.errors[0].message, /digits alone/);
  assert.equal(await eventCount(), before);
  const kept = await http(ts, 'POST', S, { ...base, name: 'run-2026' });
  assert.equal(kept.status, 201, kept.text);
  const renamed = await http(ts, 'PATCH', `${S}/${kept.json.id}`, { name: '2026' });
  assert.equal(renamed.status, 400, renamed.text);
  assert.equal(renamed.json.errors[0].field, 'name');
});

test('a cron nickname names its time (@daily at midnight in the time zone); @reboot and unknown ones are refused; enabled is not a PATCH', async () => {
  const base = { submit: { tasks: [{ command: 'true' }] }, timezone: 'Europe/Paris' };
  const daily = await http(ts, 'POST', S, { ...base, name: 'nickname-daily', cron: '@daily' });
  assert.equal(daily.status, 201, daily.text);
  const next = new Date(daily.json.next_due_at);
  assert.equal(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit', hour12: false }).format(next), '00:00');
  const patched = await http(ts, 'PATCH', `${S}/${daily.json.id}`, { enabled: false });
  assert.equal(patched.status, 400, patched.text);
  assert.deepEqual(patched.json.errors, [{ field: 'enabled', message: 'not changed here: POST /schedules/{id}/enable or /schedules/{id}/disable (labq schedule enable|disable)' }]);
  for (const cron of ['@reboot', '@fortnightly']) {
    const refused = await http(ts, 'POST', S, { ...base, name: `nickname-${cron.slice(1)}`, cron });
    assert.equal(refused.status, 400, refused.text);
    assert.deepEqual(refused.json.errors.map((e: any) => e.field), ['cron']);
    assert.match(refused.json.errors[0].message, /is not a nickname of a time: give one of @yearly.*@hourly, or five fields/);
  }
});

test('a cron that matches no date is refused, created or edited: the schedule would never fire', async () => {
  const base = { name: 'february-31', submit: { tasks: [{ command: 'true' }] } };
  const before = await eventCount();
  const made = await http(ts, 'POST', S, { ...base, cron: '0 2 31 2 *' });
  assert.equal(made.status, 400, made.text);
  assert.deepEqual(made.json.errors.map((e: any) => e.field), ['cron']);
  assert.match(made.json.errors[0].message, /matches no date/);
  assert.equal(await eventCount(), before);
  const kept = await http(ts, 'POST', S, { ...base, cron: '0 2 29 2 *' });
  assert.equal(kept.status, 201, 'a leap day comes');
  const edited = await http(ts, 'PATCH', `${S}/${kept.json.id}`, { cron: '0 2 31 4 *' });
  assert.equal(edited.status, 400, edited.text);
  assert.equal(edited.json.errors[0].field, 'cron');
});

test('a schedule whose tasks refer to a secret that does not exist is refused, created or edited: every run would fail', async () => {
  const before = await eventCount();
  const tasks = await http(ts, 'POST', S, { name: 'no-secret', cron: YEARLY, submit: { tasks: [{ command: 'true' }, { command: 'fetch', env: { KEY: { secret: 'absent-key' } } }] } });
  assert.equal(tasks.status, 400, tasks.text);
  assert.deepEqual(tasks.json.errors, [{ field: 'submit.tasks[1].env.KEY', message: 'secret "absent-key" does not exist (labq secret set absent-key)' }]);
  const sweep = await http(ts, 'POST', S, {
    name: 'no-secret', cron: YEARLY, submit: { sweep: { template: { command: 'fetch {n}', env: { KEY: { secret: 'absent-key' } } }, parameters: { n: [1, 2] } } },
  });
  assert.equal(sweep.status, 400, sweep.text);
  assert.equal(sweep.json.errors[0].field, 'submit.sweep.template.env.KEY');
  assert.equal(await eventCount(), before);
  const made = await http(ts, 'POST', S, { name: 'no-secret', cron: YEARLY, submit: { tasks: [{ command: 'true' }] } });
  const edited = await http(ts, 'PATCH', `${S}/${made.json.id}`, { submit: { tasks: [{ command: 'fetch', env: { KEY: { secret: 'absent-key' } } }] } });
  assert.equal(edited.status, 400, edited.text);
  assert.equal(edited.json.errors[0].field, 'submit.tasks[0].env.KEY');
});

test('a schedule whose tasks depend on a task that does not exist, or whose container options the Docker policy refuses or come without an image, is refused: every run would fail', async () => {
  const before = await eventCount();
  const cases: [unknown, string, RegExp][] = [
    [{ tasks: [{ command: 'true' }, { command: 'after', depends_on: [999_999] }] }, 'submit.tasks[1].depends_on[0]', /task 999999 does not exist/],
    [{ tasks: [{ command: 'after', depends_on_steps: [999_999] }] }, 'submit.tasks[0].depends_on_steps[0]', /step 999999 does not exist/],
    [{ tasks: [{ command: 'x', container: 'alpine:3', container_options: ['--privileged'] }] }, 'submit.tasks[0].container_options[0]', /refused by the Docker policy/],
    [{ sweep: { template: { command: 'x {n}', container: 'alpine:3', container_options: ['-v', '/:/host'] }, parameters: { n: [1, 2] } } }, 'submit.sweep.template.container_options[0]', /not under an allowed mount prefix/],
    [{ tasks: [{ command: 'x', container_options: ['--memory=1g'] }] }, 'submit.tasks[0].container_options', /need a container image/],
    [{ sweep: { template: { command: 'x {n}', container_options: ['--memory=1g'] }, parameters: { n: [1, 2] } } }, 'submit.sweep.template.container_options', /need a container image/],
  ];
  for (const [submit, field, message] of cases) {
    const answer = await http(ts, 'POST', S, { name: 'never-runs', cron: YEARLY, submit });
    assert.equal(answer.status, 400, answer.text);
    assert.equal(answer.json.errors.length, 1, answer.text);
    assert.equal(answer.json.errors[0].field, field);
    assert.match(answer.json.errors[0].message, message);
  }
  assert.equal(await eventCount(), before);
});

test('a submit of neither shape, or of both, is refused with the two shapes it may take', async () => {
  for (const submit of [{}, { jobs: [] }, { tasks: [{ command: 'true' }], sweep: { template: { command: 'x {a}' }, parameters: { a: [1] } } }]) {
    const answer = await http(ts, 'POST', S, { name: 'shapeless', cron: YEARLY, submit });
    assert.equal(answer.status, 400, answer.text);
    assert.deepEqual(answer.json.errors, [{ field: 'submit', message: 'give {"tasks": [task, …]} or {"sweep": {"template", "parameters"}}, one of the two' }]);
  }
});

test('run now and run with a changed context make tasks with the expected commands; an unknown parameter is refused', async () => {
  const created = await http(ts, 'POST', S, {
    name: 'nightly-qc', cron: '0 2 * * *', timezone: 'Europe/Paris', context: { run: 'latest', depth: 30 },
    submit: { tasks: [{ command: 'qc.sh {run} --depth {depth}', tag: 'qc' }, { command: 'report.sh {run}', tag: 'qc' }] },
    catch_up: 'skip', overlap: 'skip',
  });
  assert.equal(created.status, 201, created.text);
  const id = created.json.id;
  assert.deepEqual(created.json.context, { run: 'latest', depth: '30' });
  assert.equal(created.json.next_runs.length, 5);
  // 02:00 in Paris is 01:00 UTC in winter and 00:00 UTC in summer.
  assert.match(created.json.next_due_at, /T0[01]:00:00\.000Z$/);
  assert.equal(new Date(created.json.next_due_at).toLocaleString('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' }), '02:00');
  assert.equal((await http(ts, 'POST', S, { name: 'nightly-qc', cron: YEARLY, submit: { tasks: [{ command: 'true' }] } })).status, 409);

  const now = await http(ts, 'POST', `${S}/${id}/run`, {});
  assert.equal(now.status, 201, now.text);
  assert.equal(now.json.run, 1, 'the first run is run 1, whatever the versions of the schedule\'s events');
  assert.equal(now.json.task_ids.length, 2);
  const commands = async (ids: number[]) => Promise.all(ids.map(async (t) => (await ts.client.getTask(t)).command));
  assert.deepEqual(await commands(now.json.task_ids), ['qc.sh latest --depth 30', 'report.sh latest']);
  const task = await ts.client.getTask(now.json.task_ids[0]);
  assert.equal(task.env.run, 'latest');
  assert.equal(task.tag, 'qc');

  const changed = await http(ts, 'POST', `${S}/${id}/run`, { context: { run: '2026-11-29' } });
  assert.equal(changed.status, 201, changed.text);
  assert.deepEqual(changed.json.context, { run: '2026-11-29', depth: '30' });
  assert.deepEqual(await commands(changed.json.task_ids), ['qc.sh 2026-11-29 --depth 30', 'report.sh 2026-11-29']);
  // The change was for that run only.
  assert.deepEqual((await http(ts, 'GET', `${S}/${id}`)).json.context, { run: 'latest', depth: '30' });

  const before = await eventCount();
  const unknown = await http(ts, 'POST', `${S}/${id}/run`, { context: { sample: 'S1' } });
  assert.equal(unknown.status, 400, unknown.text);
  assert.equal(unknown.json.errors[0].field, 'context.sample');
  assert.equal(await eventCount(), before);

  const shown = await http(ts, 'GET', `${S}/${id}`);
  assert.deepEqual(shown.json.runs.map((r: any) => [r.run, r.status, r.context.run, r.tasks]), [
    [2, 'fired', '2026-11-29', { pending: 2 }],
    [1, 'fired', 'latest', { pending: 2 }],
  ]);
  assert.ok(shown.json.runs.every((r: any) => r.fired_by.startsWith('admin-')));
});

test('the list gives each schedule its latest run, as its own page gives it, and null before its first', async () => {
  const made = async (name: string) => (await http(ts, 'POST', S, { name, cron: YEARLY, submit: { tasks: [{ command: 'true' }] } })).json.id as number;
  const [ran, idle] = [await made('list-ran'), await made('list-idle')];
  for (let i = 0; i < 3; i++) assert.equal((await http(ts, 'POST', `${S}/${ran}/run`, {})).status, 201);
  const list = await http(ts, 'GET', S);
  assert.equal(list.status, 200, list.text);
  const item = (id: number) => list.json.items.find((s: any) => s.id === id);
  const newest = (await http(ts, 'GET', `${S}/${ran}`)).json.runs[0];
  assert.equal(newest.run, 3);
  assert.deepEqual(item(ran).last_run, newest);
  assert.deepEqual(item(ran).last_run.tasks, { pending: 1 });
  assert.equal(item(idle).last_run, null);
  assert.ok(list.json.items.every((s: any) => !('runs' in s)));
});

test('every change and run is an event: created, edited {old,new}, disabled, enabled, fired, deleted', async () => {
  const created = await http(ts, 'POST', S, { name: 'audited', cron: YEARLY, context: { x: 'a' }, submit: { sweep: { template: { command: 'echo {x} {n}' }, parameters: { n: [1, 2, 3] } } } });
  assert.equal(created.status, 201, created.text);
  const id = created.json.id;
  const edited = await http(ts, 'PATCH', `${S}/${id}`, { cron: '0 3 * * *', overlap: 'queue' });
  assert.equal(edited.status, 200, edited.text);
  assert.equal(edited.json.cron, '0 3 * * *');
  assert.match(edited.json.next_due_at, /T03:00:00\.000Z$/);
  assert.equal((await http(ts, 'PATCH', `${S}/${id}`, { cron: 'every day' })).status, 400);
  assert.equal((await http(ts, 'POST', `${S}/${id}/disable`)).json.next_due_at, null);
  assert.equal((await http(ts, 'POST', `${S}/${id}/enable`)).json.enabled, true);
  const run = await http(ts, 'POST', `${S}/${id}/run`, { context: { x: 'b' } });
  assert.equal(run.json.run, 1, 'edits, pauses and resumes are not runs');
  assert.deepEqual(await Promise.all(run.json.task_ids.map(async (t: number) => (await ts.client.getTask(t)).command)), ['echo b 1', 'echo b 2', 'echo b 3']);
  assert.equal((await http(ts, 'DELETE', `${S}/${id}`)).status, 200);
  assert.equal((await http(ts, 'GET', `${S}/${id}`)).status, 404);
  assert.equal((await http(ts, 'POST', `${S}/${id}/run`, {})).status, 404);

  const events = await scheduleEvents(id);
  assert.deepEqual(events.map((e) => e.type), ['schedule.created', 'schedule.edited', 'schedule.disabled', 'schedule.enabled', 'schedule.fired', 'schedule.deleted']);
  assert.deepEqual(events[1].data.old, { cron: YEARLY, overlap: 'allow' });
  assert.deepEqual(events[1].data.new, { cron: '0 3 * * *', overlap: 'queue' });
  assert.deepEqual({ ...events[4].data, due_at: 0, fired_at: 0 }, {
    due_at: 0, fired_at: 0, by: events[4].actor, context: { x: 'b' }, task_ids: run.json.task_ids, next_due_at: events[3].data.next_due_at,
  });
  assert.ok(events.every((e) => e.actor.startsWith('admin-')));
});

test('a schedule places its tasks in its step; a run whose submission is refused is recorded as failed and the clock goes on', async () => {
  const workflow = await ts.client.createWorkflow({ name: 'scheduled' });
  const step = await ts.client.createStep({ workflow_id: workflow.id, name: 'nightly' });
  await ts.client.putSecret('schedule-key', 'value');
  const created = await http(ts, 'POST', S, {
    name: 'with-secret', cron: '* * * * * *', step_id: step.id, submit: { tasks: [{ command: 'fetch', env: { KEY: { secret: 'schedule-key' } }, tag: 'nobody' }] },
  });
  assert.equal(created.status, 201, created.text);
  const id = created.json.id;
  const fired = await until('a run by the clock', async () => (await http(ts, 'GET', `${S}/${id}`)).json.runs.find((r: any) => r.status === 'fired'));
  const task = await ts.client.getTask(fired.task_ids[0]);
  assert.deepEqual([task.step_id, task.workflow_id, task.command], [step.id, workflow.id, 'fetch']);

  await ts.client.removeSecret('schedule-key');
  const refused = await http(ts, 'POST', `${S}/${id}/run`, {});
  assert.equal(refused.status, 400, refused.text);
  assert.match(refused.json.errors[0].message, /secret "schedule-key" does not exist/);
  assert.equal(refused.json.errors[0].field, 'submit.tasks[0].env.KEY', 'named where it sits in the schedule');
  const failed = await until('two failed runs', async () => {
    const runs = (await http(ts, 'GET', `${S}/${id}`)).json.runs.filter((r: any) => r.status === 'failed');
    return runs.length >= 2 && runs;
  });
  await http(ts, 'POST', `${S}/${id}/disable`);
  assert.match(failed[0].reason, /^failed: submit\.tasks\[0\]\.env\.KEY: secret "schedule-key" does not exist/);
  assert.deepEqual(failed[0].task_ids, []);
});
