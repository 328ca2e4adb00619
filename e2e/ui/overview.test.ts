// The overview in Chromium against a real server and real worker daemons running bare tasks:
// counts, the chart of finishes, the workers, the recent failures with their class and why
// work waits, all moving live. The last test fills a realistic queue (several workflows,
// dozens of tasks, several workers) and takes the pictures of the overview and the workflows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { openUi, screenshot } from '../support/browser.js';
import { until } from '../support/worker.js';
import { testBed } from './testBed.js';

const bed = testBed();

const tile = (page: Page, status: string) => page.locator(`[data-status-count="${status}"] .n`);

async function tileShows(page: Page, status: string, n: number) {
  await page.locator(`[data-status-count="${status}"]`).filter({ has: page.locator('.n', { hasText: new RegExp(`^${n}$`) }) }).waitFor();
}

test('counts, workers, the chart and the recent failures move live as a real worker runs the tasks', async () => {
  const ids = (await bed.ts.client.submitTasks({
    tasks: [
      { name: 'fine-1', command: 'true', tag: 'ov' },
      { name: 'fine-2', command: 'true', tag: 'ov' },
      { name: 'broken', command: 'echo nope >&2; exit 7', tag: 'ov' },
      { name: 'too-slow', command: 'sleep 30', tag: 'ov', timeouts: { run: 1 } },
    ],
  })).tasks.map((t) => t.id);
  const ui = await openUi(bed.browser, bed.ts, { role: 'viewer', path: '/' });
  await tileShows(ui.page, 'pending', 4);
  await ui.page.locator('[data-reason="no_worker_for_tag"]').filter({ hasText: '4' }).waitFor();
  assert.equal(await ui.page.locator('[data-workers="online"]').innerText(), '0');
  assert.equal(await ui.page.locator('figure.chart').getAttribute('data-succeeded'), '0');
  assert.equal(await ui.page.getByRole('link', { name: '4 pending' }).getAttribute('href'), '/tasks?status=pending');
  await ui.page.evaluate(() => ((globalThis as unknown as { loaded: boolean }).loaded = true));

  await bed.worker({ tags: ['ov'], concurrency: 2, prefetch: 1 });
  await ui.page.locator('[data-workers="online"]', { hasText: /^1$/ }).waitFor();
  assert.equal(await ui.page.locator('.slots').getAttribute('data-slots'), '3', 'concurrency + prefetch');
  await tileShows(ui.page, 'succeeded', 2);
  await tileShows(ui.page, 'failed', 2);
  assert.equal(await tile(ui.page, 'pending').innerText(), '0');

  const chart = ui.page.locator('figure.chart[data-succeeded="2"][data-failed="2"]');
  await chart.waitFor();
  // It counts attempts, as its title says: a retried task's failures are several bars, one tile.
  await ui.page.getByRole('heading', { name: 'Attempts finished per minute' }).waitFor();
  const bars = chart.getByRole('listbox', { name: /^Attempts finished per minute/ });
  const minute = ui.page.locator('g.minute[data-succeeded="2"]');
  assert.equal(await minute.count(), 1, 'both successes in one minute bar');

  // The keyboard reaches each minute's figures: Tab from the workers' link lands on the
  // current minute (one tab stop for all), the arrows move, and each says its figures.
  await ui.page.locator('#workers-title a').focus();
  await ui.page.keyboard.press('Tab');
  const focused = () => ui.page.locator(':focus').evaluate((bar) => ({
    minute: bar.getAttribute('data-minute'), label: bar.getAttribute('aria-label'), succeeded: bar.getAttribute('data-succeeded'),
  }));
  const options = bars.getByRole('option');
  assert.equal((await focused()).minute, await options.last().getAttribute('data-minute'), 'the current minute first');
  await ui.page.keyboard.press('Home');
  assert.equal((await focused()).minute, await options.first().getAttribute('data-minute'));
  let found = null;
  for (let i = 0; i < 60 && !found; i++) {
    const bar = await focused();
    assert.match(bar.label ?? '', /^.+: \d+ succeeded, \d+ failed$/);
    if (bar.succeeded === '2') found = bar;
    else await ui.page.keyboard.press('ArrowRight');
  }
  assert.match(found?.label ?? '', /: 2 succeeded, /, 'the minute of both successes, reached by the arrows');
  assert.equal(await chart.locator('[data-readout]').innerText(), found!.label, 'and shown under the chart');
  assert.equal(await ui.page.getByRole('option', { selected: true }).getAttribute('data-minute'), found!.minute);

  const broken = ui.page.locator(`[data-failure-task="${ids[2]}"]`);
  await broken.waitFor();
  assert.equal(await broken.getAttribute('data-failure-class'), 'exit');
  assert.match(await broken.innerText(), /broken[\s\S]*exit[\s\S]*exit 7/);
  assert.equal(await broken.getByRole('link', { name: 'broken' }).getAttribute('href'), `/tasks/${ids[2]}`);
  assert.equal(await ui.page.locator(`[data-failure-task="${ids[3]}"]`).getAttribute('data-failure-class'), 'timeout');
  await ui.page.getByText('No task waits').waitFor();

  assert.equal(await ui.page.evaluate(() => (globalThis as unknown as { loaded?: boolean }).loaded), true, 'no reload happened');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a realistic queue: the tiles add up to what the API counts; pictures of the overview and the workflows', async () => {
  const submit = (stepId: number, n: number, command: (i: number) => string, extra: Record<string, unknown> = {}) =>
    bed.ts.client.submitTasks({ tasks: Array.from({ length: n }, (_, i) => ({ name: `${stepId}-${i + 1}`, command: command(i), step_id: stepId, tag: 'lab', ...extra })) });
  const workflow = async (name: string, steps: string[]) => {
    const w = await bed.ts.client.createWorkflow({ name });
    return { id: w.id, steps: await Promise.all(steps.map(async (s) => (await bed.ts.client.createStep({ workflow_id: w.id, name: s })).id)) };
  };
  const ended = (counts: { succeeded?: number; failed?: number }) => (counts.succeeded ?? 0) + (counts.failed ?? 0);
  const endedBefore = ended((await bed.ts.client.call('stats', {})).counts);
  const rnaseq = await workflow('rnaseq-2026-11', ['align', 'quantify', 'report']);
  const variants = await workflow('variant-calling', ['call', 'joint-genotype']);
  const qc = await workflow('qc-nightly', ['fastqc']);
  await submit(rnaseq.steps[0]!, 16, (i) => (i === 5 || i === 11 ? 'echo "bwa: truncated file" >&2; exit 1' : 'sleep 0.2'));
  const long = (await submit(rnaseq.steps[1]!, 12, (i) => (i < 4 ? 'sleep 300' : 'sleep 0.2'))).tasks.slice(0, 4).map((t) => t.id);
  await submit(rnaseq.steps[2]!, 1, () => 'sleep 0.2', { priority: -1 });
  await submit(variants.steps[0]!, 10, (i) => (i === 2 ? 'exit 3' : 'sleep 0.2'));
  await submit(variants.steps[1]!, 2, () => 'sleep 1', { tag: 'gpu' });
  await bed.ts.client.call('pauseWorkflow', { params: { id: qc.id }, body: {} });
  await submit(qc.steps[0]!, 6, () => 'sleep 0.2');
  await bed.worker({ name: 'node-a', tags: ['lab'], concurrency: 3 });
  await bed.worker({ name: 'node-b', tags: ['lab'], concurrency: 2 });
  await bed.worker({ name: 'node-c', tags: ['lab'], concurrency: 1, prefetch: 1 });
  await until('the short tasks to end and the long ones to run', async () => {
    const longRunning = (await Promise.all(long.map((id) => bed.ts.client.getTask(id)))).filter((t) => t.status === 'running').length;
    const { counts } = await bed.ts.client.call('stats', {});
    // What node-c prefetched behind a long task (a short one, or a second long one) stays
    // assigned: settled means only long tasks run and every other one has ended or waits there.
    return longRunning >= 3 && counts.running === longRunning && ended(counts) + (counts.assigned ?? 0) + counts.running === endedBefore + 16 + 12 + 1 + 10;
  });

  const ui = await openUi(bed.browser, bed.ts, { role: 'operator', path: '/' });
  const stats = await bed.ts.client.call('stats', {});
  for (const status of ['succeeded', 'failed', 'running', 'pending'] as const) await tileShows(ui.page, status, stats.counts[status] ?? 0);
  await ui.page.locator('[data-workers="online"]', { hasText: new RegExp(`^${stats.workers.online}$`) }).waitFor();
  assert.ok(stats.workers.online >= 3);
  await ui.page.locator('[data-failure-class="exit"]').nth(2).waitFor();
  await ui.page.locator('[data-reason="paused"]').filter({ hasText: '6' }).waitFor();
  await ui.page.locator('[data-reason="no_worker_for_tag"]').filter({ hasText: '2' }).waitFor();
  await ui.page.mouse.move(0, 0);
  await screenshot(ui.page, 'overview');

  await ui.page.getByRole('link', { name: 'Workflows' }).click();
  await ui.page.locator(`[data-workflow-row="${variants.id}"] [data-flag="stuck"]`).waitFor();
  await ui.page.locator(`[data-workflow-row="${qc.id}"] [data-flag="paused"]`).waitFor();
  await screenshot(ui.page, 'workflows');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a tag paused from the CLI is shown on the overview with who paused it, and resumed there', async () => {
  await bed.ts.client.call('pauseQueue', { body: { tag: 'resume-me' } });
  const ui = await openUi(bed.browser, bed.ts, { role: 'operator', path: '/' });
  const paused = ui.page.locator('[data-pause="tag:resume-me"]');
  await paused.waitFor();
  assert.match(await paused.innerText(), /tag “resume-me” paused .* by /);
  await paused.getByRole('button', { name: 'Resume' }).click();
  const dialog = ui.page.getByRole('dialog');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Workers may take the tasks of tag “resume-me” again/);
  await dialog.getByRole('button', { name: 'Resume tag resume-me' }).click();
  await paused.waitFor({ state: 'detached' });
  assert.deepEqual((await bed.ts.client.call('listPauses', {})).items.filter((p) => p.tag === 'resume-me'), [], 'resumed on the server');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a waiting reason over several tags lists what each waits for, an item each', async () => {
  const ids = (await bed.ts.client.submitTasks({
    tasks: [{ command: 'true', tag: 'ov-none-a' }, { command: 'true', tag: 'ov-none-a' }, { command: 'true', tag: 'ov-none-b' }],
  })).tasks.map((t) => t.id);
  const ui = await openUi(bed.browser, bed.ts, { role: 'viewer', path: '/' });
  const reason = ui.page.locator('[data-reason="no_worker_for_tag"]');
  const messages = reason.getByRole('list', { name: 'What the no worker for tag tasks wait for' }).getByRole('listitem');
  await messages.filter({ hasText: 'ov-none-b' }).waitFor();
  const texts = await messages.allInnerTexts();
  for (const tag of ['ov-none-a', 'ov-none-b']) assert.equal(texts.filter((t) => t === `no online worker takes its tag "${tag}"`).length, 1, texts.join(' / '));

  // Its count links to those tasks: the list filtered by the reason, the filter shown.
  const shown = Number(await reason.locator('a.n').innerText());
  const held = (await bed.ts.client.submitTasks({ command: 'true', tag: 'ov-none-a', held: true })).tasks[0]!.id;
  await reason.locator('a.n').click();
  await ui.page.waitForURL('**/tasks?reason=no_worker_for_tag');
  await ui.page.locator(`[data-total="${shown}"]`).waitFor();
  // The count and the rows come in answers of their own: the rows are waited for each.
  for (const id of ids) await ui.page.locator(`[role="row"][data-task-id="${id}"]`).waitFor();
  const rows = (await ui.page.locator('[role="row"][data-task-id]').evaluateAll((r) => r.map((e) => Number(e.getAttribute('data-task-id')))));
  assert.ok(!rows.includes(held), 'one of the same tag, held, is not');
  assert.equal(await ui.page.getByRole('combobox', { name: 'Why it waits' }).inputValue(), 'no_worker_for_tag');
  await bed.ts.client.call('cancelTasks', { body: { filter: { ids: [...ids, held] } } });
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});
