// The workers views in Chromium against a real server and real worker daemons: host figures
// that change on the page without a reload, concurrency, prefetch and tags edited in place
// (the worker runs more at once; a refused value is shown under its field and changes
// nothing), pause and resume, drain of a daemon with a running task (it finishes, the daemon
// exits, the page shows it offline), delete of the offline worker, the time line of a
// worker's executions (a bar per attempt); each action in the event log with the user who
// clicked; a viewer sees no button or edit field.
import assert from 'node:assert/strict';
import pg from 'pg';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import type { TaskInput } from '../../shared/schemas/task.js';
import { openUi, screenshot } from '../support/browser.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startTestWorker, taskEnded, until } from '../support/worker.js';
import { loggedBy, testBed } from './testBed.js';

const fixture = testBed();

/** Tasks that run until `open()` is called; open at the end of the test whatever happens. */
async function gate(t: TestContext) {
  const file = join(await mkdtemp(join(tmpdir(), 'labq-ui-gate-')), 'open');
  const open = () => writeFile(file, '');
  t.after(open);
  return { command: `while [ ! -e ${file} ]; do sleep 0.05; done`, open };
}

/** A worker daemon stopped at the end of the test whatever happens. */
async function daemonFor(t: TestContext, ts: TestServer, options: Parameters<typeof startTestWorker>[1]) {
  const daemon = await startTestWorker(ts, options);
  t.after(() => daemon.stop());
  return daemon;
}

async function submit(ts: TestServer, tasks: TaskInput[]): Promise<number[]> {
  return (await ts.client.submitTasks({ tasks })).tasks.map((t) => t.id);
}

function row(page: Page, id: number) {
  return page.locator(`tr[data-worker="${id}"]`);
}

test("a daemon's host figures show on the list and change without a reload", async (t) => {
  const daemon = await daemonFor(t, fixture.ts, { tags: ['ui-metrics'], pollWaitSeconds: 1 });
  const ui = await openUi(fixture.browser, fixture.ts, { role: 'viewer', path: '/workers' });
  await ui.page.evaluate(() => ((globalThis as unknown as { loaded: boolean }).loaded = true));
  const cpu = row(ui.page, daemon.id).locator('[data-metrics-updated]');
  await cpu.waitFor({ timeout: 30_000 });
  const first = await cpu.getAttribute('data-metrics-updated');
  const api = (await fixture.ts.client.getWorker(daemon.id)).metrics!;
  assert.ok(Number(await row(ui.page, daemon.id).locator('[data-memory-used]').getAttribute('data-memory-used')) > 0);
  assert.ok(Date.parse(first!) <= Date.parse(api.updated_at));
  await ui.page.locator(`tr[data-worker="${daemon.id}"] [data-metrics-updated]:not([data-metrics-updated="${first}"])`).waitFor({ timeout: 30_000 });
  assert.equal(await ui.page.evaluate(() => (globalThis as unknown as { loaded?: boolean }).loaded), true, 'no reload happened');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('concurrency, prefetch and tags edited in place change the worker, and it runs more at once', async (t) => {
  const blocker = await gate(t);
  const daemon = await daemonFor(t, fixture.ts, { tags: ['ui-conc'], concurrency: 1 });
  const ids = await submit(fixture.ts, [1, 2, 3].map((i) => ({ name: `blocked-${i}`, command: blocker.command, tag: 'ui-conc' })));
  const ui = await openUi(fixture.browser, fixture.ts, { role: 'operator', path: '/workers' });
  const name = (await fixture.ts.client.getWorker(daemon.id)).name;
  await row(ui.page, daemon.id).locator('[data-running="1"]').waitFor();

  await ui.page.getByRole('button', { name: `Concurrency of ${name}: 1, edit` }).click();
  await ui.page.getByLabel(`Concurrency of ${name}`).fill('3');
  await ui.page.getByLabel(`Concurrency of ${name}`).press('Enter');
  await row(ui.page, daemon.id).locator('[data-running="3"]').waitFor();
  const widened = await fixture.ts.client.getWorker(daemon.id);
  assert.equal(widened.concurrency, 3);
  assert.equal(widened.live_executions, 3);
  const changed = await loggedBy(fixture.ts, ui.user.name, { stream_type: 'worker', stream_id: daemon.id, type: 'worker.settings_changed' }, { concurrency: 3 });
  assert.equal((changed.data as { concurrency?: number }).concurrency, 3);

  await ui.page.getByRole('button', { name: `Prefetch of ${name}: 0, edit` }).click();
  await ui.page.getByLabel(`Prefetch of ${name}`).fill('2');
  await ui.page.getByLabel(`Prefetch of ${name}`).press('Enter');
  await until('prefetch 2', async () => (await fixture.ts.client.getWorker(daemon.id)).prefetch === 2);
  await ui.page.getByRole('button', { name: `Tags of ${name}: ui-conc, edit` }).click();
  await ui.page.getByLabel(`Tags of ${name}`).fill('ui-conc, gpu');
  await ui.page.getByLabel(`Tags of ${name}`).blur();
  await ui.page.getByRole('button', { name: `Tags of ${name}: ui-conc, gpu, edit` }).waitFor();
  assert.deepEqual((await fixture.ts.client.getWorker(daemon.id)).tags, ['ui-conc', 'gpu']);
  const tagged = await loggedBy(fixture.ts, ui.user.name, { stream_type: 'worker', stream_id: daemon.id, type: 'worker.settings_changed' }, { tags: ['ui-conc', 'gpu'] });
  assert.deepEqual((tagged.data as { tags?: string[] }).tags, ['ui-conc', 'gpu']);

  await blocker.open();
  for (const id of ids) assert.equal((await taskEnded(fixture.ts, id)).status, 'succeeded');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a refused setting shows its reason under the field, which stays open, and changes nothing', async (t) => {
  const daemon = await daemonFor(t, fixture.ts, { tags: ['ui-refused'], concurrency: 2 });
  const before = await fixture.ts.client.getWorker(daemon.id);
  const ui = await openUi(fixture.browser, fixture.ts, { role: 'operator', path: '/workers' });
  const field = (setting: string) => ui.page.getByLabel(`${setting} of ${before.name}`);
  const reason = (setting: string) => row(ui.page, daemon.id).locator(`.field-error[role="alert"][data-error-for="${setting}"]`);

  /** The reason stands below its open field, in the field's own cell. */
  async function refusedBelow(setting: string, key: string, says: RegExp): Promise<void> {
    const shown = reason(key);
    await shown.waitFor();
    assert.match(await shown.innerText(), says);
    assert.ok(await field(setting).isEditable(), 'the field stays open and usable');
    const [input, text] = [await field(setting).boundingBox(), await shown.boundingBox()];
    assert.ok(input && text && text.y >= input.y + input.height - 1, 'the reason is under the field');
    assert.equal(await row(ui.page, daemon.id).locator('td', { has: field(setting) }).locator(`[data-error-for="${key}"]`).count(), 1);
  }

  await ui.page.getByRole('button', { name: `Concurrency of ${before.name}: 2, edit` }).click();
  await field('Concurrency').fill('5000');
  await field('Concurrency').press('Enter');
  await refusedBelow('Concurrency', 'concurrency', /1024/);
  // Typing again clears the reason; an empty field is refused on the page, with what to give.
  await field('Concurrency').fill('');
  await reason('concurrency').waitFor({ state: 'detached' });
  await field('Concurrency').press('Enter');
  await refusedBelow('Concurrency', 'concurrency', /give a whole number, 0 or more/);
  await field('Concurrency').press('Escape');
  await ui.page.getByRole('button', { name: `Concurrency of ${before.name}: 2, edit` }).waitFor();
  assert.equal(await reason('concurrency').count(), 0, 'cancelling clears the reason');

  // A tag the server refuses is named by its place in the list.
  const patches: string[] = [];
  ui.page.on('request', (r) => {
    if (r.method() === 'PATCH') patches.push(r.url());
  });
  await ui.page.getByRole('button', { name: `Tags of ${before.name}: ui-refused, edit` }).click();
  await field('Tags').fill('bad tag!');
  await field('Tags').press('Enter');
  await refusedBelow('Tags', 'tags', /^entry 2: a tag is/);
  // Leaving the field does not send the refused value again (nor pull the focus back).
  await field('Tags').blur();
  await refusedBelow('Tags', 'tags', /^entry 2: a tag is/);
  await field('Tags').fill('ui-refused, ok');
  await field('Tags').press('Enter');
  await ui.page.getByRole('button', { name: `Tags of ${before.name}: ui-refused, ok, edit` }).waitFor();
  assert.equal(await reason('tags').count(), 0, 'saving clears the reason');
  assert.equal(patches.length, 2, `the refused value and the accepted one, once each: ${patches.join(' ')}`);

  const after = await fixture.ts.client.getWorker(daemon.id);
  assert.equal(after.concurrency, 2);
  assert.deepEqual(after.tags, ['ui-refused', 'ok']);
  assert.equal(after.settings_version, before.settings_version + 1, 'only the accepted change reached the server');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('pause and resume on the worker page; why it takes nothing says so', async (t) => {
  const daemon = await daemonFor(t, fixture.ts, { tags: ['ui-pause'] });
  const name = (await fixture.ts.client.getWorker(daemon.id)).name;
  const ui = await openUi(fixture.browser, fixture.ts, { role: 'operator', path: `/workers/${daemon.id}` });
  await ui.page.locator('[data-why]').first().waitFor();
  await ui.page.getByRole('button', { name: `Pause ${name}` }).click();
  await ui.page.locator('.page-head [data-status="paused"]').waitFor();
  await ui.page.locator('[data-why="paused"]').waitFor();
  assert.equal((await fixture.ts.client.getWorker(daemon.id)).paused, true);
  const paused = await loggedBy(fixture.ts, ui.user.name, { stream_type: 'worker', stream_id: daemon.id, type: 'worker.settings_changed' }, { paused: true });
  assert.equal((paused.data as { paused?: boolean }).paused, true);

  await ui.page.getByRole('button', { name: `Resume ${name}` }).click();
  await ui.page.getByRole('button', { name: `Pause ${name}` }).waitFor();
  assert.equal((await fixture.ts.client.getWorker(daemon.id)).paused, false);
  const resumed = await loggedBy(fixture.ts, ui.user.name, { stream_type: 'worker', stream_id: daemon.id, type: 'worker.settings_changed' }, { paused: false });
  assert.equal((resumed.data as { paused?: boolean }).paused, false);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a drained daemon finishes its running task and exits, the page shows it offline; delete removes it', async (t) => {
  const blocker = await gate(t);
  const daemon = await daemonFor(t, fixture.ts, { tags: ['ui-drain'], concurrency: 1 });
  const name = (await fixture.ts.client.getWorker(daemon.id)).name;
  const [running, next] = await submit(fixture.ts, [
    { name: 'long', command: blocker.command, tag: 'ui-drain', priority: 1 }, { name: 'next', command: 'true', tag: 'ui-drain' },
  ]);
  const ui = await openUi(fixture.browser, fixture.ts, { role: 'operator', path: `/workers/${daemon.id}` });
  await ui.page.getByRole('list', { name: 'Running tasks' }).getByRole('link', { name: `#${running} long` }).waitFor();

  await ui.page.getByRole('button', { name: `Drain ${name}` }).click();
  await ui.page.getByRole('dialog').getByRole('button', { name: 'Drain' }).click();
  await ui.page.locator('.page-head [data-status="draining"]').waitFor();
  assert.equal((await fixture.ts.client.getWorker(daemon.id)).draining, true);
  const drained = await loggedBy(fixture.ts, ui.user.name, { stream_type: 'worker', stream_id: daemon.id, type: 'worker.settings_changed' }, { draining: true });
  assert.equal((drained.data as { draining?: boolean }).draining, true);
  await ui.page.locator('[data-why="draining"]').waitFor();

  await blocker.open();
  await daemon.finished();
  assert.equal((await fixture.ts.client.getTask(running!)).status, 'succeeded');
  assert.equal((await fixture.ts.client.getTask(next!)).status, 'pending', 'the drained worker took no other task');
  await ui.page.locator('.page-head [data-status="offline"]').waitFor();

  await ui.page.getByRole('link', { name: 'Workers', exact: true }).first().click();
  await row(ui.page, daemon.id).waitFor();
  await ui.page.getByRole('button', { name: `Delete ${name}` }).click();
  await ui.page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await row(ui.page, daemon.id).waitFor({ state: 'detached' });
  assert.ok(!(await fixture.ts.client.listWorkers({ limit: 500 })).items.some((w) => w.id === daemon.id));
  await loggedBy(fixture.ts, ui.user.name, { stream_type: 'worker', stream_id: daemon.id, type: 'worker.deleted' });
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test("the worker page's time line and table show its executions, new ones live", async (t) => {
  const daemon = await daemonFor(t, fixture.ts, { tags: ['ui-timeline'], concurrency: 2 });
  const ids = await submit(fixture.ts, [
    { name: 'ok', command: 'true' }, { name: 'bad', command: 'exit 7' },
    { name: 'flaky-alignment-S12', command: 'exit 3', max_retries: 1, backoff: { base_seconds: 0, cap_seconds: 0 } },
  ].map((t) => ({ ...t, tag: 'ui-timeline' })));
  for (const id of ids) await taskEnded(fixture.ts, id);
  const ui = await openUi(fixture.browser, fixture.ts, { role: 'viewer', path: `/workers/${daemon.id}` });
  const timeline = ui.page.locator('[data-worker-timeline]');
  await timeline.getByRole('link', { name: `#${ids[0]} ok · attempt 1`, exact: true }).waitFor();
  await timeline.locator('[role="listitem"][data-status="failed"]').getByRole('link', { name: `#${ids[1]} bad · attempt 1`, exact: true }).waitFor();
  // A task retried on this worker has a bar per attempt, each with its number in view however long the task's name.
  for (const attempt of [1, 2]) {
    const bar = timeline.getByRole('link', { name: `#${ids[2]} flaky-alignment-S12 · attempt ${attempt}`, exact: true });
    await bar.waitFor();
    const [label, number] = [await bar.locator('..').boundingBox(), await bar.getByText(`attempt ${attempt}`).boundingBox()];
    assert.ok(label && number && number.width > 0 && number.x + number.width <= label.x + label.width + 1, 'the attempt is not cut off');
    assert.ok(await bar.locator('.name').evaluate((e) => e.scrollWidth > e.clientWidth), 'while the name is');
  }

  const [later] = await submit(fixture.ts, [{ name: 'later', command: 'true', tag: 'ui-timeline' }]);
  await taskEnded(fixture.ts, later!);
  await timeline.locator('[role="listitem"][data-status="succeeded"]').getByRole('link', { name: `#${later} later · attempt 1`, exact: true }).waitFor();
  const { items } = await fixture.ts.client.workerExecutions(daemon.id);
  assert.equal(await timeline.getByRole('listitem').count(), items.length);

  await ui.page.getByRole('tab', { name: 'Table' }).click();
  const failed = ui.page.locator('tr[data-execution]').filter({ hasText: `#${ids[1]} bad` });
  await failed.waitFor();
  assert.match(await failed.innerText(), /failed\s+.*\b7\b.*exit/s);
  const retried = ui.page.locator('tr[data-execution]').filter({ hasText: `#${ids[2]} flaky-alignment-S12` });
  assert.deepEqual((await retried.locator('td:nth-child(2)').allInnerTexts()).sort(), ['1', '2']);
  assert.match(ui.page.url(), /executions=table/);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('an execution that ends while the page reloads the list that brings it is shown ended', async (t) => {
  const daemon = await daemonFor(t, fixture.ts, { tags: ['ui-reload'] });
  const blocker = await gate(t);
  const ui = await openUi(fixture.browser, fixture.ts, { role: 'viewer', path: `/workers/${daemon.id}` });
  await ui.page.getByText('This worker has run nothing yet.').waitFor();
  // The reload its assignment causes reads the list at once, and its answer is held until
  // the task has ended and its end has reached the page: the end came during the reload.
  let read!: () => void;
  const wasRead = new Promise<void>((resolve) => (read = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  t.after(() => release());
  await ui.page.route(`**/api/v1/workers/${daemon.id}/executions**`, async (route) => {
    const response = await route.fetch();
    read();
    await released;
    await route.fulfill({ response });
  }, { times: 1 });
  const db = new pg.Client({ connectionString: fixture.ts.databaseUrl });
  await db.connect();
  t.after(() => db.end());
  const received = async () => Number(await ui.page.locator('[data-live]').getAttribute('data-events'));
  const logEnd = Number((await db.query('SELECT coalesce(max(position), 0) AS p FROM events')).rows[0].p);
  const seen = await received();
  const [id] = await submit(fixture.ts, [{ name: 'ends-meanwhile', command: blocker.command, tag: 'ui-reload' }]);
  await wasRead;
  await blocker.open();
  await taskEnded(fixture.ts, id!);
  // The page follows the whole log: once it has received as many events as were written
  // since, it has the execution's end, still during the held reload.
  const written = Number((await db.query('SELECT count(*) AS n FROM events WHERE position > $1', [logEnd])).rows[0].n);
  await until('the page to receive the end', async () => (await received()) >= seen + written);
  release();
  const timeline = ui.page.locator('[data-worker-timeline]');
  await timeline.locator('[role="listitem"][data-status="succeeded"]').getByRole('link', { name: `#${id} ends-meanwhile · attempt 1`, exact: true }).waitFor();
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a viewer sees workers and their figures, but no button or edit field', async (t) => {
  const daemon = await daemonFor(t, fixture.ts, { tags: ['ui-viewer'] });
  const ui = await openUi(fixture.browser, fixture.ts, { role: 'viewer', path: '/workers' });
  await row(ui.page, daemon.id).waitFor();
  assert.equal(await ui.page.locator('main button').count(), 0);
  await ui.page.getByRole('link', { name: (await fixture.ts.client.getWorker(daemon.id)).name, exact: true }).click();
  await ui.page.locator('[data-why]').first().waitFor();
  assert.equal(await ui.page.locator('main button').count(), 0);
  assert.equal(await ui.page.locator('main :is(input, select, textarea)').count(), 0);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('screenshot: a small fleet at work', async (t) => {
  const shot: TestServer = await startTestServer();
  const blocker = await gate(t);
  const fleet = [
    { name: 'gpu-node-01', tags: ['gpu', 'default'], concurrency: 4 },
    { name: 'gpu-node-02', tags: ['gpu', 'default'], concurrency: 4 },
    { name: 'cpu-big-01', tags: ['default', 'bigmem'], concurrency: 8, prefetch: 2 },
    { name: 'cpu-small-03', tags: ['default'], concurrency: 2 },
    { name: 'lab-desktop', tags: ['lab'], concurrency: 1 },
  ];
  const daemons = [];
  for (const w of fleet) daemons.push(await daemonFor(t, shot, { ...w, pollWaitSeconds: 1 }));
  t.after(() => shot.close());
  const workflow = await shot.client.createWorkflow({ name: 'rnaseq-batch-12' });
  await submit(shot, Array.from({ length: 24 }, (_, i) => ({ name: `align-S${i + 1}`, command: i % 7 === 6 ? 'exit 1' : blocker.command, tag: i % 3 ? 'default' : 'gpu', workflow_id: workflow.id })));
  await shot.client.updateWorker(daemons[3]!.id, { paused: true });
  const ui = await openUi(fixture.browser, shot, { role: 'operator', path: '/workers' });
  for (const d of daemons) await row(ui.page, d.id).locator('[data-metrics-updated]').waitFor({ timeout: 30_000 });
  await shot.client.updateWorker(daemons[4]!.id, { draining: true });
  await daemons[4]!.finished();
  await row(ui.page, daemons[4]!.id).locator('[data-status="offline"]').waitFor();
  await screenshot(ui.page, 'workers');
  await blocker.open();
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});
