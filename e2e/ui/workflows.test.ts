// The workflows views in Chromium against a real server and real worker daemons running bare
// tasks: progress bars that move live, every steering button (its confirmation, its effect
// through the API, its event with the operator's name), the deep link to a step and what a
// viewer sees.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { openUi, type UiSession } from '../support/browser.js';
import { until } from '../support/worker.js';
import { loggedBy, testBed } from './testBed.js';

const bed = testBed();

async function workflowWithSteps(name: string, ...steps: string[]) {
  const workflow = await bed.ts.client.createWorkflow({ name });
  const ids: number[] = [];
  for (const step of steps) ids.push((await bed.ts.client.createStep({ workflow_id: workflow.id, name: step })).id);
  return { id: workflow.id, steps: ids };
}

async function submit(stepId: number, commands: string[], extra: Record<string, unknown> = {}) {
  const answer = await bed.ts.client.submitTasks({ tasks: commands.map((command, i) => ({ command, step_id: stepId, name: `t${i}`, ...extra })) });
  return answer.tasks.map((t) => t.id);
}

/** Clicks a steering button, checks that its confirmation names how many tasks, and confirms. */
async function steer(page: Page, scope: string, action: string, says: RegExp, confirm: string) {
  await page.locator(`${scope} [data-action="${action}"]`).first().click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), says);
  await dialog.getByRole('button', { name: confirm }).click();
  await dialog.waitFor({ state: 'hidden' });
}

/** The event of `type` on a stream, done by the UI's user, once the commit-safe log shows it. */
function eventBy(ui: UiSession, type: string, streamType: 'task' | 'execution' | 'step' | 'workflow', streamId: number) {
  return loggedBy(bed.ts, ui.user.name, { type, stream_type: streamType, stream_id: streamId });
}

const countText = (page: Page, scope: string, status: string) => page.locator(`${scope} [data-count-status="${status}"]`).first();

test('the list and a workflow show progress by status that moves live as a real worker runs the tasks', async () => {
  const run = await workflowWithSteps('rnaseq-2026-11', 'align', 'count');
  await submit(run.steps[0]!, ['true', 'true', 'true', 'exit 3']);
  await submit(run.steps[1]!, ['true', 'true']);
  const ui = await openUi(bed.browser, bed.ts, { role: 'operator', path: '/workflows' });
  const row = `[data-workflow-row="${run.id}"]`;
  await ui.page.locator(row).getByRole('link', { name: 'rnaseq-2026-11' }).waitFor();
  assert.equal(await countText(ui.page, row, 'pending').innerText(), '6 pending');
  await ui.page.evaluate(() => ((globalThis as unknown as { loaded: boolean }).loaded = true));

  await bed.worker({ concurrency: 2 });
  // A new worker's start and six tasks, on a machine the other test files load: longer than
  // a page's default wait (a fresh-clone CI took 34 s here, against 6 s alone).
  await countText(ui.page, row, 'succeeded').filter({ hasText: '5 succeeded' }).waitFor({ timeout: 90_000 });
  await countText(ui.page, row, 'failed').filter({ hasText: '1 failed' }).waitFor();
  assert.equal(await ui.page.locator(`${row} [data-count-status="pending"]`).count(), 0);
  const segment = ui.page.locator(`${row} .segment[data-status="succeeded"]`);
  assert.equal(await segment.getAttribute('data-count'), '5');
  assert.match((await segment.getAttribute('title')) ?? '', /5 succeeded \(83 %\)/);
  assert.equal(await countText(ui.page, row, 'failed').getAttribute('href'), `/tasks?workflow_id=${run.id}&status=failed`);

  await ui.page.locator(row).getByRole('link', { name: 'rnaseq-2026-11' }).click();
  const step = `[data-step-id="${run.steps[0]}"]`;
  await countText(ui.page, step, 'failed').waitFor();
  assert.equal(await countText(ui.page, step, 'failed').getAttribute('href'), `/tasks?workflow_id=${run.id}&step_id=${run.steps[0]}&status=failed`);
  await submit(run.steps[1]!, ['true']);
  await countText(ui.page, `[data-step-id="${run.steps[1]}"]`, 'succeeded').filter({ hasText: '3 succeeded' }).waitFor();
  assert.equal(await ui.page.evaluate(() => (globalThis as unknown as { loaded?: boolean }).loaded), true, 'no reload happened');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('pause a step: workers stop taking its tasks while another step runs; resume: they run', async () => {
  const run = await workflowWithSteps('pause-step', 'held back', 'goes on');
  const tag = { tag: 'pausing' };
  const held = await submit(run.steps[0]!, ['true', 'true', 'true'], tag);
  const ui = await openUi(bed.browser, bed.ts, { role: 'operator', path: `/workflows/${run.id}` });
  const step = `[data-step-id="${run.steps[0]}"]`;
  await steer(ui.page, step, 'pause', /3 unfinished tasks/, 'Pause step');
  await ui.page.locator(`${step} [data-flag="paused"]`).waitFor();
  await eventBy(ui, 'step.paused', 'step', run.steps[0]!);

  const control = await submit(run.steps[1]!, ['true'], tag);
  await bed.worker({ tags: ['pausing'] });
  await until('the other step to run', async () => (await bed.ts.client.getTask(control[0]!)).status === 'succeeded');
  for (const id of held) assert.equal((await bed.ts.client.getTask(id)).status, 'pending', 'a paused step is not claimed');

  await steer(ui.page, step, 'resume', /3 unfinished tasks/, 'Resume step');
  await countText(ui.page, step, 'succeeded').filter({ hasText: '3 succeeded' }).waitFor();
  assert.equal(await ui.page.locator(`${step} [data-flag="paused"]`).count(), 0);
  await eventBy(ui, 'step.resumed', 'step', run.steps[0]!);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('pause a workflow and suspend what runs, resume it, then cancel it: each confirmed with its count and logged with the operator', async () => {
  const run = await workflowWithSteps('long-runs', 'simulate');
  await bed.worker({ tags: ['long'], concurrency: 2 });
  const ids = await submit(run.steps[0]!, ['sleep 60', 'sleep 60', 'sleep 60'], { tag: 'long' });
  await until('two tasks running', async () => (await bed.ts.client.listTasks({ ids: ids.join(','), status: 'running' })).items.length === 2);
  const ui = await openUi(bed.browser, bed.ts, { role: 'operator', path: `/workflows/${run.id}` });
  const head = `[data-workflow-id="${run.id}"]`;
  await countText(ui.page, head, 'running').filter({ hasText: '2 running' }).waitFor();

  await steer(ui.page, head, 'pause-suspend', /3 unfinished tasks.*2 running tasks are suspended/s, 'Pause and suspend workflow');
  await ui.page.getByRole('status').filter({ hasText: /Paused workflow .*3 tasks, 2 signalled/ }).waitFor();
  await ui.page.locator(`${head} [data-flag="paused"]`).waitFor();
  await ui.page.locator(`[data-step-id="${run.steps[0]}"] [data-flag="workflow-paused"]`).waitFor();
  const paused = await eventBy(ui, 'workflow.paused', 'workflow', run.id);
  assert.equal(paused.data.signal, 'suspend');

  await steer(ui.page, head, 'resume', /3 unfinished tasks/, 'Resume workflow');
  await ui.page.locator(`${head} [data-action="pause"]`).waitFor();
  await eventBy(ui, 'workflow.resumed', 'workflow', run.id);

  await steer(ui.page, head, 'cancel', /Cancel the 3 unfinished tasks.*2 running tasks get TERM/s, 'Cancel workflow');
  await countText(ui.page, head, 'cancelled').filter({ hasText: '3 cancelled' }).waitFor();
  for (const id of ids) {
    const task = await bed.ts.client.getTask(id);
    assert.equal(task.status, 'cancelled');
    // A running task is cancelled through a kill order for its execution; one not started, at once.
    const execution = task.executions.at(-1);
    if (execution) await eventBy(ui, 'execution.kill_requested', 'execution', execution.id);
    else await eventBy(ui, 'task.cancelled', 'task', id);
  }
  assert.equal(await ui.page.locator(`${head} [data-action="cancel"]`).count(), 0, 'nothing left to cancel');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('relaunch failed: the failed tasks of a step get a new attempt, and the button says how many', async () => {
  const run = await workflowWithSteps('flaky', 'fit');
  await bed.worker({ tags: ['flaky'] });
  const ids = await submit(run.steps[0]!, ['exit 4', 'exit 4', 'true'], { tag: 'flaky', max_retries: 0 });
  const ui = await openUi(bed.browser, bed.ts, { role: 'operator', path: `/workflows/${run.id}` });
  const step = `[data-step-id="${run.steps[0]}"]`;
  await countText(ui.page, step, 'failed').filter({ hasText: '2 failed' }).waitFor();
  assert.equal(await ui.page.locator(`${step} [data-action="relaunch-failed"]`).innerText(), 'Relaunch 2 failed');

  await steer(ui.page, step, 'relaunch-failed', /Relaunch the 2 failed tasks/, 'Relaunch failed');
  await ui.page.getByRole('status').filter({ hasText: /Relaunched 2 tasks/ }).waitFor();
  for (const id of ids.slice(0, 2)) {
    await until(`task ${id} to fail again`, async () => {
      const task = await bed.ts.client.getTask(id);
      return task.executions.length === 2 && task.status === 'failed';
    });
    await eventBy(ui, 'task.relaunched', 'task', id);
  }
  assert.equal((await bed.ts.client.getTask(ids[2]!)).executions.length, 1, 'the succeeded task is left alone');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a step whose tag no worker serves is flagged stuck, and unflagged when a worker with that tag starts', async () => {
  const run = await workflowWithSteps('stuck-work', 'gpu', 'cpu');
  await submit(run.steps[0]!, ['true', 'true'], { tag: 'gpu-nobody' });
  const ui = await openUi(bed.browser, bed.ts, { role: 'operator', path: '/workflows' });
  const row = ui.page.locator(`[data-workflow-row="${run.id}"]`);
  await row.locator('[data-flag="stuck"]').waitFor();
  await row.getByRole('link', { name: 'stuck-work' }).click();
  const step = ui.page.locator(`[data-step-id="${run.steps[0]}"]`);
  await step.locator('[data-flag="stuck"]').filter({ hasText: 'pending work, no worker can take it' }).waitFor();
  assert.equal(await ui.page.locator(`[data-step-id="${run.steps[1]}"][data-stuck="false"]`).count(), 1, 'an empty step is not stuck');
  await step.getByRole('button', { name: 'Why?' }).click();
  await step.locator('[data-reason="no_worker_for_tag"]').filter({ hasText: '2' }).waitFor();

  await bed.worker({ tags: ['gpu-nobody'] });
  await ui.page.locator(`[data-step-id="${run.steps[0]}"][data-stuck="false"]`).waitFor();
  await countText(ui.page, `[data-step-id="${run.steps[0]}"]`, 'succeeded').filter({ hasText: '2 succeeded' }).waitFor();
  assert.equal(await ui.page.locator('[data-flag="stuck"]').count(), 0, 'neither the step nor the workflow is flagged');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a workflow with tasks blocked by a failed dependency is flagged blocked, in the list, on its page and on its step', async () => {
  const run = await workflowWithSteps('blocked-work', 'build', 'test');
  await bed.worker({ tags: ['blocking'] });
  const [failing] = await submit(run.steps[0]!, ['exit 1'], { tag: 'blocking' });
  await submit(run.steps[1]!, ['true', 'true'], { tag: 'blocking', depends_on: [failing!] });
  await until('the dependents to be blocked', async () => (await bed.ts.client.getWorkflow(run.id)).counts.blocked === 2);
  const ui = await openUi(bed.browser, bed.ts, { role: 'viewer', path: '/workflows' });
  const flag = ui.page.locator(`[data-workflow-row="${run.id}"] [data-flag="blocked"]`);
  await flag.filter({ hasText: '2 blocked: a dependency failed or was cancelled' }).waitFor();
  assert.equal(await flag.getAttribute('href'), `/tasks?workflow_id=${run.id}&status=blocked`);

  await ui.page.locator(`[data-workflow-row="${run.id}"]`).getByRole('link', { name: 'blocked-work' }).click();
  await ui.page.locator(`.workflow header [data-flag="blocked"]`).filter({ hasText: '2 blocked' }).waitFor();
  const step = ui.page.locator(`[data-step-id="${run.steps[1]}"] [data-flag="blocked"]`);
  assert.equal(await step.getAttribute('href'), `/tasks?workflow_id=${run.id}&step_id=${run.steps[1]}&status=blocked`);
  assert.equal(await ui.page.locator(`[data-step-id="${run.steps[0]}"] [data-flag="blocked"]`).count(), 0, 'the failed step has nothing blocked');

  // The flag follows the counts live: once the blocked tasks are cancelled, it goes.
  await bed.ts.client.call('cancelTasks', { body: { filter: { workflow_id: run.id, status: ['blocked'] } } });
  await ui.page.locator(`.workflow header [data-flag="blocked"]`).waitFor({ state: 'detached' });
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('?step=ID opens and highlights the step with why its tasks wait; a viewer sees no button; j/k and Enter in the list', async () => {
  const run = await workflowWithSteps('deep-link', 'first', 'second');
  await submit(run.steps[1]!, ['true', 'true'], { tag: 'nobody-serves-this' });
  await submit(run.steps[1]!, ['true'], { tag: 'nor-this' });
  const ui = await openUi(bed.browser, bed.ts, { role: 'viewer', path: `/workflows/${run.id}?step=${run.steps[1]}` });
  const step = ui.page.locator(`[data-step-id="${run.steps[1]}"]`);
  await step.locator('[data-reason]').first().waitFor();
  assert.match(await step.getAttribute('class') ?? '', /highlighted/);
  assert.match(await step.getByRole('region').innerText(), /3 no_worker_for_tag/);
  // One reason, two tags: an item each, the tag of more tasks first.
  assert.deepEqual(await step.locator('[data-reason="no_worker_for_tag"]').getByRole('listitem').allInnerTexts(), [
    'no online worker takes its tag "nobody-serves-this"', 'no online worker takes its tag "nor-this"',
  ]);
  assert.equal(await ui.page.locator(`[data-step-id="${run.steps[0]}"] [data-reason]`).count(), 0, 'only that step is open');

  await ui.page.locator(`[data-step-id="${run.steps[0]}"]`).getByRole('button', { name: 'first' }).click();
  await ui.page.waitForURL(`**/workflows/${run.id}?step=${run.steps[0]}`);
  assert.equal(await ui.page.locator('[data-action]').count(), 0, 'a viewer sees no steering button');
  assert.equal(await ui.page.getByRole('group', { name: /Actions on/ }).count(), 0);
  await ui.page.goto(`${bed.ts.url}/workflows`);
  await ui.page.locator(`[data-workflow-row="${run.id}"]`).waitFor();
  assert.equal(await ui.page.locator('[data-action]').count(), 0);
  // The keyboard: j twice selects the second row, k goes back to the first, Enter opens it.
  const first = await ui.page.locator('[data-workflow-row]').first().getAttribute('data-workflow-row');
  for (const key of ['j', 'j', 'k']) await ui.page.keyboard.press(key);
  assert.equal(await ui.page.locator('[data-workflow-row][aria-selected="true"]').getAttribute('data-workflow-row'), first);
  await ui.page.keyboard.press('Enter');
  await ui.page.waitForURL(`**/workflows/${first}`);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});
