// The schedules views in Chromium against a real server: run now (the run and its tasks
// show on the page), run with a changed context (the task gets the new value), enable and
// disable, edit of the cron (the page shows the new next runs), delete; each in the event
// log with the user who clicked; changes made elsewhere show without a reload; a viewer
// sees no button or edit field.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import type { ScheduleInput } from '../../shared/schemas/schedule.js';
import { openUi, screenshot } from '../support/browser.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startTestWorker, until } from '../support/worker.js';
import { loggedBy, testBed } from './testBed.js';

const fixture = testBed();

function createSchedule(fields: Partial<ScheduleInput> = {}, on: TestServer = fixture.ts) {
  return on.client.call('createSchedule', {
    body: {
      name: `nightly-${randomUUID().slice(0, 6)}`, cron: '0 3 * * *', timezone: 'UTC', context: { sample: 'S1' },
      submit: { tasks: [{ command: 'echo sample {sample}', tag: 'ui-schedules' }] }, ...fields,
    },
  });
}

/** The task ids the page shows for run `run`. */
async function runTaskIds(page: Page, run: number): Promise<number[]> {
  const row = page.locator(`tr[data-run="${run}"]`);
  await row.getByRole('link').first().waitFor();
  return (await row.getByRole('link').allInnerTexts()).map((t) => Number(t.replace('#', '')));
}

test('run now makes tasks that show in the runs list; run with a changed context uses the new value', async () => {
  const schedule = await createSchedule();
  const ui = await openUi(fixture.browser, fixture.ts, { role: 'operator', path: `/schedules/${schedule.id}` });
  await ui.page.getByRole('button', { name: `Run ${schedule.name} now` }).click();
  const fired = await loggedBy(fixture.ts, ui.user.name, { stream_type: 'schedule', stream_id: schedule.id, type: 'schedule.fired' });
  const firstRun = (await fixture.ts.client.call('getSchedule', { params: { id: schedule.id } })).runs[0]!;
  assert.equal(firstRun.fired_by, ui.user.name);
  assert.deepEqual(firstRun.task_ids, (fired.data as { task_ids: number[] }).task_ids);
  assert.deepEqual(await runTaskIds(ui.page, firstRun.run), firstRun.task_ids);
  assert.equal((await fixture.ts.client.getTask(firstRun.task_ids[0]!)).command, 'echo sample S1');
  // The run moved the schedule's updated_at: the page names it for what it is, not a change of the schedule.
  assert.equal(await ui.page.locator('dt:text-is("Changed")').count(), 0);
  assert.match(await ui.page.locator('dt:text-is("Last event") + dd').innerText(), /history/);

  await ui.page.getByLabel('Context sample').fill('S42');
  await ui.page.getByRole('button', { name: 'Run with these values' }).click();
  const row = ui.page.locator('tr[data-run]').filter({ hasText: 'sample=S42' });
  await row.waitFor();
  const run = Number(await row.getAttribute('data-run'));
  const [task] = await runTaskIds(ui.page, run);
  const made = await fixture.ts.client.getTask(task!);
  assert.equal(made.command, 'echo sample S42');
  assert.equal(made.env.sample, 'S42');
  const withContext = await loggedBy(fixture.ts, ui.user.name, { stream_type: 'schedule', stream_id: schedule.id, type: 'schedule.fired' }, { context: { sample: 'S42' } });
  assert.deepEqual((withContext.data as { context: unknown }).context, { sample: 'S42' });
  assert.equal((await fixture.ts.client.call('getSchedule', { params: { id: schedule.id } })).context.sample, 'S1', 'the default stays');

  // A run fired elsewhere shows without a reload, and so does how its task ends.
  const other = await fixture.ts.client.call('runSchedule', { params: { id: schedule.id }, body: { context: { sample: 'elsewhere' } } });
  await ui.page.locator(`tr[data-run="${other.run}"]`).filter({ hasText: 'sample=elsewhere' }).waitFor();
  const worker = await startTestWorker(fixture.ts, { tags: ['ui-schedules'] });
  await ui.page.locator(`tr[data-run="${other.run}"] [data-status="succeeded"]`).waitFor();
  await worker.stop();
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('disable and enable from the list, with the user in the event log', async () => {
  const schedule = await createSchedule();
  const ui = await openUi(fixture.browser, fixture.ts, { role: 'operator', path: '/schedules' });
  const row = ui.page.locator(`tr[data-schedule="${schedule.id}"]`);
  await ui.page.getByRole('button', { name: `Disable ${schedule.name}` }).click();
  await row.locator('[data-status="disabled"]').waitFor();
  assert.equal((await fixture.ts.client.call('getSchedule', { params: { id: schedule.id } })).enabled, false);
  await loggedBy(fixture.ts, ui.user.name, { stream_type: 'schedule', stream_id: schedule.id, type: 'schedule.disabled' });

  await ui.page.getByRole('button', { name: `Enable ${schedule.name}` }).click();
  await row.locator('[data-status="enabled"]').waitFor();
  assert.equal((await fixture.ts.client.call('getSchedule', { params: { id: schedule.id } })).enabled, true);
  await loggedBy(fixture.ts, ui.user.name, { stream_type: 'schedule', stream_id: schedule.id, type: 'schedule.enabled' });

  // A schedule made elsewhere joins the list live.
  const later = await createSchedule();
  await ui.page.locator(`tr[data-schedule="${later.id}"]`).waitFor();
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('an edit of the cron, time zone, policy and context shows the new next runs; delete removes the schedule', async () => {
  const schedule = await createSchedule();
  const ui = await openUi(fixture.browser, fixture.ts, { role: 'operator', path: `/schedules/${schedule.id}` });
  await ui.page.getByRole('button', { name: 'Edit' }).click();
  await ui.page.getByLabel('Cron').fill('30 4 * * 1');
  await ui.page.getByLabel('Time zone').fill('Europe/Paris');
  await ui.page.getByLabel('Overlap').selectOption('skip');
  await ui.page.getByRole('button', { name: 'Add parameter' }).click();
  await ui.page.getByLabel('Parameter name 2').fill('lane');
  await ui.page.getByLabel('Parameter value 2').fill('7');
  await ui.page.getByRole('button', { name: 'Save' }).click();
  await ui.page.locator('[data-cron]', { hasText: '30 4 * * 1' }).waitFor();
  await ui.page.locator('[data-context="lane"]').waitFor();

  const edited = await fixture.ts.client.call('getSchedule', { params: { id: schedule.id } });
  assert.equal(edited.cron, '30 4 * * 1');
  assert.equal(edited.timezone, 'Europe/Paris');
  assert.equal(edited.overlap, 'skip');
  assert.deepEqual(edited.context, { sample: 'S1', lane: '7' });
  const shown = await ui.page.locator('[data-next-run]').evaluateAll((items) => items.map((i) => i.getAttribute('data-next-run')));
  assert.deepEqual(shown, edited.next_runs);
  for (const at of edited.next_runs) {
    const paris = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', weekday: 'short', hour: '2-digit', minute: '2-digit' }).format(new Date(at));
    assert.equal(paris, 'Mon 04:30');
  }
  const event = await loggedBy(fixture.ts, ui.user.name, { stream_type: 'schedule', stream_id: schedule.id, type: 'schedule.edited' });
  assert.deepEqual((event.data as { new: { cron: string } }).new.cron, '30 4 * * 1');

  // A refused edit names the field and changes nothing.
  await ui.page.getByRole('button', { name: 'Edit' }).click();
  await ui.page.getByLabel('Cron').fill('0 25 * * *');
  await ui.page.getByRole('button', { name: 'Save' }).click();
  // Under the field, not in a passing notice.
  await ui.page.locator('[data-error-for="cron"]').waitFor();
  assert.match(await ui.page.locator('[data-error-for="cron"]').innerText(), /25/);
  assert.equal((await fixture.ts.client.call('getSchedule', { params: { id: schedule.id } })).cron, '30 4 * * 1');
  await ui.page.getByRole('button', { name: 'Cancel' }).click();

  await ui.page.getByRole('button', { name: `Delete ${schedule.name}` }).click();
  await ui.page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await ui.page.waitForURL(/\/schedules$/);
  await loggedBy(fixture.ts, ui.user.name, { stream_type: 'schedule', stream_id: schedule.id, type: 'schedule.deleted' });
  await assert.rejects(fixture.ts.client.call('getSchedule', { params: { id: schedule.id } }), /404/);
  assert.equal(await ui.page.locator(`tr[data-schedule="${schedule.id}"]`).count(), 0);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a viewer sees schedules and their runs, but no button or edit field', async () => {
  const schedule = await createSchedule();
  await fixture.ts.client.call('runSchedule', { params: { id: schedule.id }, body: {} });
  const ui = await openUi(fixture.browser, fixture.ts, { role: 'viewer', path: '/schedules' });
  await ui.page.locator(`tr[data-schedule="${schedule.id}"] [data-run]`).waitFor();
  assert.equal(await ui.page.locator('main button').count(), 0);
  await ui.page.goto(`${fixture.ts.url}/schedules/${schedule.id}?edit=1`);
  await ui.page.locator('tr[data-run]').first().waitFor();
  assert.equal(await ui.page.locator('main button').count(), 0);
  assert.equal(await ui.page.locator('main :is(input, select, textarea)').count(), 0);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('screenshot: several schedules with their last runs, which the list brings without a request per schedule', async () => {
  const shot = await startTestServer();
  const worker = await startTestWorker(shot, { tags: ['ui-schedules'], concurrency: 4 });
  const specs: Partial<ScheduleInput>[] = [
    { name: 'nightly-qc', cron: '0 2 * * *', timezone: 'Europe/Paris', context: { run: 'latest' }, submit: { tasks: [{ command: 'echo qc {run}', tag: 'ui-schedules' }] }, overlap: 'skip' },
    { name: 'hourly-index', cron: '0 * * * *', context: {}, submit: { tasks: [{ command: 'echo index', tag: 'ui-schedules' }, { command: 'echo stats', tag: 'ui-schedules' }] } },
    { name: 'weekly-db-sync', cron: '0 6 * * 1', context: { db: 'prod' }, submit: { tasks: [{ command: 'exit 3', tag: 'ui-schedules' }] }, catch_up: 'run_once' },
    { name: 'sweep-calibration', cron: '*/15 8-18 * * 1-5', context: {}, submit: { sweep: { template: { command: 'echo {gain}', tag: 'ui-schedules' }, parameters: { gain: [1, 2, 4, 8] } } } },
    { name: 'monthly-archive', cron: '0 0 1 * *', enabled: false, context: {}, submit: { tasks: [{ command: 'echo archive', tag: 'ui-schedules' }] } },
  ];
  const made = [];
  for (const spec of specs) made.push(await createSchedule(spec, shot));
  for (const s of made.slice(0, 4)) await shot.client.call('runSchedule', { params: { id: s.id }, body: {} });
  await until('the runs to end', async () => (await shot.client.listTasks({ status: ['pending', 'assigned', 'running'], limit: 1 })).items.length === 0);
  await worker.stop();
  const ui = await openUi(fixture.browser, shot, { role: 'operator', path: '/schedules' });
  await ui.page.locator(`tr[data-schedule="${made[2]!.id}"] [data-status="failed"]`).waitFor();
  const perSchedule: string[] = [];
  ui.page.on('request', (r) => {
    if (/\/schedules\/\d+/.test(new URL(r.url()).pathname)) perSchedule.push(r.url());
  });
  await ui.page.reload();
  await ui.page.locator(`tr[data-schedule="${made[2]!.id}"] [data-status="failed"]`).waitFor();
  // Any run: two of these crons fire in working hours (every 15 minutes, every hour), and one
  // that fired during the test is the last run shown.
  for (const s of made.slice(0, 4)) await ui.page.locator(`tr[data-schedule="${s.id}"] [data-run]`).first().waitFor();
  assert.deepEqual(perSchedule, []);
  await screenshot(ui.page, 'schedules');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
  await shot.close();
});
