// The task list in Chromium against a real server and real workers: rows that change live,
// a list of 100,000 tasks that scrolls to its end with a screenful of rows in the page,
// filters and order in the URL, selections and bulk actions (on the selection and on the
// whole filter) that land in the event log with the user who did them, live updates that
// hold still during a selection, and a viewer who is shown no action at all.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import type { TaskStatus } from '../../shared/schemas/task.js';
import { openUi, screenshot, type UiSession } from '../support/browser.js';
import { startTestServer } from '../support/server.js';
import { testBed } from './testBed.js';
import { startTestWorker, taskEnded, until } from '../support/worker.js';

const bed = testBed();

/** A workflow of `n` tasks that stay pending (their tag has no worker), to scope a test's list. */
async function workflowOf(n: number, name: string): Promise<{ workflow: number; ids: number[] }> {
  const workflow = (await bed.ts.client.createWorkflow({ name })).id;
  const tag = `idle-${randomUUID().slice(0, 8)}`;
  const tasks = Array.from({ length: n }, (_, i) => ({ command: `echo ${name} ${i}`, name: `${name}-${i}`, workflow_id: workflow, tag }));
  const { tasks: made } = await bed.ts.client.submitTasks({ tasks });
  return { workflow, ids: made.map((t) => t.id) };
}

function row(page: Page, id: number, status?: TaskStatus) {
  return page.locator(`[role="row"][data-task-id="${id}"]${status ? `[data-status="${status}"]` : ''}`);
}

async function statuses(ids: number[]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => (await bed.ts.client.getTask(id)).status));
}

/** Waits until the event log holds an event of `type` for each task, done by `actor`. */
async function logged(type: string, ids: number[], actor: string): Promise<void> {
  await until(`${type} of ${ids.join(',')} by ${actor}`, async () => {
    const { items } = await bed.ts.client.call('latestEvents', { query: { type, actor, stream_type: 'task', limit: 1000 } });
    const seen = new Set(items.map((e) => e.stream_id));
    return ids.every((id) => seen.has(id));
  });
}

/** Clicks a bulk action, checks the confirmation names how many tasks, confirms, and waits for the notice. */
async function bulk(ui: UiSession, label: string, done: string, n: number): Promise<void> {
  const bar = ui.page.getByRole('region', { name: 'Bulk actions' });
  await bar.getByRole('button', { name: label, exact: true }).click();
  const dialog = ui.page.getByRole('dialog');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), new RegExp(`${label} ${n} tasks?\\?`));
  await dialog.getByRole('button', { name: `${label} ${n} task${n === 1 ? '' : 's'}` }).click();
  await ui.page.getByRole('status').filter({ hasText: new RegExp(`^${done} \\d+ of ${n} matching task`) }).first().waitFor();
}

test("a task's row goes pending, running, succeeded as a real worker runs it, without a reload", async () => {
  const tag = `live-${randomUUID().slice(0, 8)}`;
  const flag = join(tmpdir(), `labq-ui-${randomUUID()}`);
  const workflow = (await bed.ts.client.createWorkflow({ name: 'live rows' })).id;
  const [task] = (await bed.ts.client.submitTasks({ command: `while [ ! -e ${flag} ]; do sleep 0.1; done`, workflow_id: workflow, tag })).tasks;
  const ui = await openUi(bed.browser, bed.ts, { role: 'viewer', path: `/tasks?workflow_id=${workflow}` });
  await ui.page.evaluate(() => ((globalThis as unknown as { loaded: boolean }).loaded = true));
  await row(ui.page, task!.id, 'pending').waitFor();
  const worker = await startTestWorker(bed.ts, { tags: [tag] });
  try {
    await row(ui.page, task!.id, 'running').waitFor();
    assert.equal(await row(ui.page, task!.id).locator('[data-col="worker"]').innerText(), worker.name);
    await writeFile(flag, '');
    await row(ui.page, task!.id, 'succeeded').waitFor();
    assert.equal(await row(ui.page, task!.id).locator('[data-col="exit"]').innerText(), '0');
  } finally {
    await worker.stop();
  }
  assert.equal(await ui.page.evaluate(() => (globalThis as unknown as { loaded?: boolean }).loaded), true, 'no reload happened');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('100,000 tasks: the list scrolls to the last one with few rows in the page; the order and filters narrow it', async () => {
  const big = await startTestServer();
  try {
    // In batches of 1,000: one sweep of 100,000 is one long transaction, which holds back every reader of the log.
    const ids: number[] = [];
    for (let batch = 0; batch < 100; batch++) {
      const tasks = Array.from({ length: 1000 }, (_, i) => ({ command: `echo item-${batch * 1000 + i + 1}`, tag: 'bulk' }));
      ids.push(...(await big.client.submitTasks({ tasks })).tasks.map((t) => t.id));
    }
    const last = ids[ids.length - 1]!;
    // The last four: items 99997 to 100000.
    await big.client.call('holdTasks', { body: { filter: { ids: ids.slice(-4) } } });

    const ui = await openUi(bed.browser, big, { role: 'operator', path: '/tasks' });
    await ui.page.locator('[data-total="100000"]').waitFor();
    await row(ui.page, ids[0]!).waitFor();
    const table = ui.page.getByRole('table', { name: 'Tasks' });
    await table.evaluate((element) => (element.scrollTop = element.scrollHeight));
    await row(ui.page, last, 'held').waitFor();
    const rows = await ui.page.locator('[role="row"][data-task-id]').count();
    assert.ok(rows > 10 && rows < 200, `${rows} rows in the page`);
    assert.ok(await table.evaluate((e) => e.scrollHeight > 100_000 * 30), 'the scroll area is as tall as the whole list');

    await ui.page.getByRole('button', { name: /^ID/ }).click();
    await ui.page.waitForURL(/sort=-id/);
    await row(ui.page, last).waitFor();
    assert.equal(await ui.page.locator('[role="row"][data-task-id]').first().getAttribute('data-task-id'), String(last));

    await ui.page.keyboard.press('/');
    await ui.page.keyboard.type('item-9999');
    await ui.page.locator('[data-total="11"]').waitFor();
    await ui.page.waitForURL(/q=item-9999/);
    await ui.page.locator('details[data-pick="Status"] summary').click();
    await ui.page.getByRole('group', { name: 'Status' }).getByLabel('held').check();
    await ui.page.locator('[data-total="3"]').waitFor();
    await ui.page.waitForURL(/status=held/);
    // The count and the page are two requests: wait for the page's rows too.
    await ui.page.locator('[role="row"][data-task-id]').nth(2).waitFor();
    assert.equal(await ui.page.locator('[role="row"][data-task-id]').count(), 3);

    await ui.page.reload();
    await ui.page.locator('[data-total="3"]').waitFor();
    assert.equal(await ui.page.getByLabel('Text in the command').inputValue(), 'item-9999', 'the filter is a deep link');
    assert.deepEqual(ui.errors, []);
    await ui.context.close();
  } finally {
    await big.close();
  }
});

test('bulk actions on a selection (a shift-click range, x on a row) change those tasks, say how many, and are logged with the user', async () => {
  const { workflow, ids } = await workflowOf(6, 'picked');
  const ui = await openUi(bed.browser, bed.ts, { role: 'operator', path: `/tasks?workflow_id=${workflow}` });
  const { page } = ui;
  await row(page, ids[5]!).waitFor();

  await page.getByLabel(`Select task ${ids[0]}`).click();
  await page.getByLabel(`Select task ${ids[2]}`).click({ modifiers: ['Shift'] });
  await page.locator('[data-selected="3"]').waitFor();
  const three = ids.slice(0, 3);
  await bulk(ui, 'Hold', 'Held', 3);
  assert.deepEqual(await statuses(ids), ['held', 'held', 'held', 'pending', 'pending', 'pending']);
  await logged('task.held', three, ui.user.name);
  await page.getByRole('region', { name: 'Bulk actions' }).waitFor({ state: 'detached' });

  await row(page, ids[2]!, 'held').waitFor();
  for (const id of three) await page.getByLabel(`Select task ${id}`).check();
  await bulk(ui, 'Release', 'Released', 3);
  await logged('task.released', three, ui.user.name);
  assert.deepEqual(await statuses(three), ['pending', 'pending', 'pending']);

  // The keyboard: j moves to the first row, x selects it; the second by its box.
  await row(page, ids[0]!, 'pending').waitFor();
  await page.keyboard.press('j');
  await page.keyboard.press('x');
  await page.getByLabel(`Select task ${ids[1]}`).check();
  await page.locator('[data-selected="2"]').waitFor();
  await bulk(ui, 'Cancel', 'Cancelled', 2);
  await logged('task.cancelled', ids.slice(0, 2), ui.user.name);
  assert.deepEqual(await statuses(ids.slice(0, 3)), ['cancelled', 'cancelled', 'pending']);

  await row(page, ids[1]!, 'cancelled').waitFor();
  await page.getByLabel(`Select task ${ids[0]}`).check();
  await page.getByLabel(`Select task ${ids[1]}`).check();
  await bulk(ui, 'Relaunch', 'Relaunched', 2);
  await logged('task.relaunched', ids.slice(0, 2), ui.user.name);
  assert.deepEqual(await statuses(ids.slice(0, 2)), ['pending', 'pending']);

  // What was left alone is said, with why.
  await row(page, ids[1]!, 'pending').waitFor();
  await page.getByLabel(`Select task ${ids[0]}`).check();
  await page.getByRole('region', { name: 'Bulk actions' }).getByRole('button', { name: 'Relaunch', exact: true }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Relaunch 1 task' }).click();
  await page.getByRole('status').filter({ hasText: /Relaunched 0 of 1 matching task\. Left alone: 1 pending: it has not ended/ }).waitFor();
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('bulk actions on everything the filter matches say the count of the filter, act on it, and are logged with the user', async () => {
  const { workflow, ids } = await workflowOf(5, 'filtered');
  const other = await workflowOf(2, 'untouched');
  const ui = await openUi(bed.browser, bed.ts, { role: 'admin', path: `/tasks?workflow_id=${workflow}` });
  const { page } = ui;
  await row(page, ids[4]!).waitFor();

  const steps: [string, string, TaskStatus, string][] = [
    ['Hold', 'Held', 'held', 'task.held'],
    ['Release', 'Released', 'pending', 'task.released'],
    ['Cancel', 'Cancelled', 'cancelled', 'task.cancelled'],
    ['Relaunch', 'Relaunched', 'pending', 'task.relaunched'],
  ];
  for (const [label, done, status, type] of steps) {
    await page.getByLabel(`Select task ${ids[0]}`).check();
    await page.getByRole('radio', { name: /all 5 matching the filter/ }).check();
    await bulk(ui, label, done, 5);
    assert.deepEqual(await statuses(ids), Array(5).fill(status));
    await logged(type, ids, ui.user.name);
    await row(page, ids[4]!, status).waitFor();
  }
  assert.deepEqual(await statuses(other.ids), ['pending', 'pending'], 'tasks outside the filter are left alone');

  await page.getByLabel('Select all loaded').check();
  await page.locator('[data-selected="5"]').waitFor();
  await page.getByRole('button', { name: 'Clear selection' }).click();
  assert.equal(await page.getByLabel(`Select task ${ids[3]}`).isChecked(), false);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('with no filter, "all matching" is every task, and the confirmation says so', async () => {
  const alone = await startTestServer();
  try {
    const { tasks } = await alone.client.submitTasks({ tasks: [1, 2, 3].map((i) => ({ command: `echo ${i}` })) });
    const ui = await openUi(bed.browser, alone, { role: 'operator', path: '/tasks' });
    await row(ui.page, tasks[2]!.id).waitFor();
    await ui.page.getByLabel(`Select task ${tasks[0]!.id}`).check();
    await ui.page.getByRole('radio', { name: /all 3 matching the filter/ }).check();
    await ui.page.getByRole('region', { name: 'Bulk actions' }).getByRole('button', { name: 'Cancel', exact: true }).click();
    assert.match(await ui.page.getByRole('dialog').innerText(), /Cancel all 3 tasks matching the filter \(no criterion: every task\)/);
    await ui.page.getByRole('dialog').getByRole('button', { name: 'Cancel 3 tasks' }).click();
    await ui.page.getByRole('status').filter({ hasText: 'Cancelled 3 of 3 matching tasks.' }).waitFor();
    for (const t of tasks) assert.equal((await alone.client.getTask(t.id)).status, 'cancelled');
    assert.deepEqual(ui.errors, []);
    await ui.context.close();
  } finally {
    await alone.close();
  }
});

test('live updates pause while a selection exists, say how many changes wait, and catch up on refresh or when it is cleared', async () => {
  const { workflow, ids } = await workflowOf(3, 'paused');
  const ui = await openUi(bed.browser, bed.ts, { role: 'operator', path: `/tasks?workflow_id=${workflow}` });
  const { page } = ui;
  await row(page, ids[2]!, 'pending').waitFor();

  await page.getByLabel(`Select task ${ids[0]}`).check();
  await page.getByRole('status').filter({ hasText: 'Live updates paused while you select' }).waitFor();
  await bed.ts.client.call('holdTask', { params: { id: ids[2]! }, body: {} });
  await page.locator('[data-live-paused="1"]').waitFor();
  assert.match(await page.locator('[data-live-paused]').innerText(), /1 change waiting/);
  assert.equal(await row(page, ids[2]!, 'pending').count(), 1, 'the list held still');

  await page.getByRole('button', { name: 'refresh', exact: true }).click();
  await row(page, ids[2]!, 'held').waitFor();
  assert.equal(await page.getByLabel(`Select task ${ids[0]}`).isChecked(), true, 'a refresh keeps the selection');

  await bed.ts.client.call('releaseTask', { params: { id: ids[2]! }, body: {} });
  await page.locator('[data-live-paused="1"]').waitFor();
  await page.getByRole('button', { name: 'Clear selection' }).click();
  await row(page, ids[2]!, 'pending').waitFor();
  assert.equal(await page.locator('[data-live-paused]').count(), 0);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('the status drop-down opens and picks with the keyboard alone, and Escape closes it', async () => {
  const { workflow } = await workflowOf(2, 'keyboard-pick');
  const ui = await openUi(bed.browser, bed.ts, { role: 'viewer', path: `/tasks?workflow_id=${workflow}` });
  await ui.page.locator('[data-total="2"]').waitFor();
  const pick = ui.page.locator('details[data-pick="Status"]');
  await pick.locator('summary').focus();
  await ui.page.keyboard.press('Enter');
  await ui.page.getByRole('group', { name: 'Status' }).getByLabel('pending').focus();
  await ui.page.keyboard.press('Space');
  await ui.page.waitForURL(/status=pending/);
  await ui.page.keyboard.press('Escape');
  assert.equal(await pick.evaluate((e) => (e as { open: boolean }).open), false, 'Escape closed the drop-down');
  assert.equal(await pick.locator('summary').evaluate((e) => e === (globalThis as any).document.activeElement), true, 'the focus is back on its button');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a viewer sees the list with no check boxes and no bulk action; j/k and Enter open a task', async () => {
  const { workflow, ids } = await workflowOf(3, 'viewed');
  const ui = await openUi(bed.browser, bed.ts, { role: 'viewer', path: `/tasks?workflow_id=${workflow}` });
  const { page } = ui;
  await row(page, ids[2]!).waitFor();
  assert.equal(await page.getByRole('table', { name: 'Tasks' }).locator('input[type="checkbox"]').count(), 0);
  await page.keyboard.press('j');
  await page.keyboard.press('x');
  assert.equal(await page.getByRole('region', { name: 'Bulk actions' }).count(), 0);
  for (const name of ['Hold', 'Release', 'Relaunch', 'Cancel']) {
    assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, `no ${name} button`);
  }
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  await page.keyboard.press('k');
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`/tasks/${ids[1]}$`));
  await page.goBack();
  await row(page, ids[0]!).waitFor();
  await row(page, ids[0]!).locator('.clip').first().click();
  await page.waitForURL(new RegExp(`/tasks/${ids[0]}$`));
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a realistic list: several workflows and workers; the failure class and worker filters narrow it (screenshot)', async () => {
  const tag = `demo-${randomUUID().slice(0, 8)}`;
  const align = (await bed.ts.client.createWorkflow({ name: 'rna-seq align' })).id;
  const qc = (await bed.ts.client.createWorkflow({ name: 'nightly qc' })).id;
  const submitted = await bed.ts.client.submitTasks({
    tasks: [
      ...Array.from({ length: 14 }, (_, i) => ({
        name: `align-S${String(i + 1).padStart(2, '0')}`, workflow_id: align, tag, priority: i % 3,
        command: `echo aligning sample S${i + 1} against GRCh38 && ${i % 5 === 4 ? 'exit 3' : 'true'}`,
      })),
      ...Array.from({ length: 10 }, (_, i) => ({
        name: `qc-run-${i + 1}`, workflow_id: qc, tag, command: `echo fastqc lane ${i + 1}; ${i === 7 ? 'exit 1' : 'true'}`,
      })),
    ],
  });
  const workers = await Promise.all(['gpu-node-1', 'cpu-node-2', 'cpu-node-3'].map((name) => startTestWorker(bed.ts, { name, tags: [tag] })));
  try {
    for (const t of submitted.tasks) await taskEnded(bed.ts, t.id);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  const reports = await bed.ts.client.submitTasks({
    tasks: Array.from({ length: 12 }, (_, i) => ({
      name: `report-${i + 1}`, workflow_id: qc, tag, held: i < 3, command: `python3 make_report.py --lane ${i + 1} --out /data/reports/lane${i + 1}.html`,
    })),
  });
  const failed = (await Promise.all(submitted.tasks.map((t) => bed.ts.client.getTask(t.id)))).filter((t) => t.status === 'failed').map((t) => t.id);
  assert.equal(failed.length, 3);

  const ui = await openUi(bed.browser, bed.ts, { role: 'operator', path: `/tasks?tag=${tag}&sort=-id` });
  const { page } = ui;
  await page.locator('[data-total="36"]').waitFor();
  await page.locator('details[data-pick="Failure"] summary').click();
  await page.getByRole('group', { name: 'Failure' }).getByLabel('exit').check();
  await page.locator('[data-total="3"]').waitFor();
  for (const id of failed) await row(page, id, 'failed').waitFor();
  await page.getByRole('group', { name: 'Failure' }).getByRole('button', { name: 'any' }).click();
  await page.locator('[data-total="36"]').waitFor();
  const worker = workers[1]!;
  const ran = (await bed.ts.client.listTasks({ tag, limit: 100 })).items.filter((t) => t.latest?.worker_name === worker.name).length;
  await page.getByLabel('Worker').selectOption({ label: worker.name });
  await page.locator(`[data-total="${ran}"]`).waitFor();
  await page.getByLabel('Worker').selectOption('');
  await page.locator('[data-total="36"]').waitFor();
  for (const t of reports.tasks.slice(0, 3)) await page.getByLabel(`Select task ${t.id}`).check();
  await page.locator('[data-selected="3"]').waitFor();
  await screenshot(page, 'tasks');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a link to some tasks by id (/tasks?ids=…, as a schedule run gives) lists those, says so, and a bulk action acts on them only', async () => {
  const { ids } = await workflowOf(4, 'by-ids');
  const chosen = [ids[0]!, ids[2]!];
  const ui = await openUi(bed.browser, bed.ts, { role: 'operator', path: `/tasks?ids=${chosen.join(',')}` });
  await ui.page.locator('[data-total="2"]').waitFor();
  assert.match(await ui.page.locator('[data-filter="ids"]').innerText(), new RegExp(`#${chosen[0]}, #${chosen[1]}`));
  await ui.page.getByLabel(`Select task ${chosen[0]}`).check();
  await ui.page.getByRole('radio', { name: /all 2 matching the filter/ }).check();
  await bulk(ui, 'Hold', 'Held', 2);
  assert.deepEqual(await statuses(ids), ['held', 'pending', 'held', 'pending']);
  await logged('task.held', chosen, ui.user.name);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});
