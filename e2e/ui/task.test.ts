// The task view in Chromium against a real server and a real worker daemon: the live log of
// a running task (colours, auto-scroll, search, stream switch, download), every steering
// button (its effect read through the API, and the event log naming the user who clicked),
// the edit form with the server's refusal by field, and a viewer who sees no controls.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, openUi, screenshot, type UiSession } from '../support/browser.js';
import { freePort, startTestServer, type TestServer } from '../support/server.js';
import { startTestWorker, taskEnded, until } from '../support/worker.js';
import { loggedBy } from './testBed.js';

let browser: Browser;
let ts: TestServer;
let dir: string;
const workers: { stop(): Promise<void> }[] = [];
const gates: string[] = [];

before(async () => {
  browser = await launchBrowser();
  ts = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'labq-ui-task-'));
  workers.push(await startTestWorker(ts, { concurrency: 4 }));
});
after(async () => {
  // A test that failed half-way may leave a task waiting at a gate: let it end.
  await Promise.all(gates.map((gate) => writeFile(gate, '').catch(() => undefined)));
  for (const w of workers) await w.stop();
  await browser?.close();
  await ts?.close();
});

function gate(name: string): string {
  const path = join(dir, name);
  gates.push(path);
  return path;
}

/** Waits until `path` exists (the test opens the gate), inside a task's shell. */
const waitFor = (path: string) => `while [ ! -e ${path} ]; do sleep 0.05; done`;

async function submit(body: Parameters<TestServer['client']['submitTasks']>[0]): Promise<number> {
  const answer = await ts.client.submitTasks(body);
  return answer.tasks[0]!.id;
}

/** The latest event of `type` about a stream by the UI's user, once the commit-safe log shows it. */
function eventBy(ui: UiSession, type: string, streamId: number) {
  return loggedBy(ts, ui.user.name, { type, stream_id: streamId });
}

const actions = (page: Page) => page.getByRole('group', { name: 'Task actions' });

async function click(page: Page, name: string, confirm?: string) {
  await actions(page).getByRole('button', { name, exact: true }).click();
  if (confirm) await page.getByRole('dialog').getByRole('button', { name: confirm }).click();
}

test('the log of a running task shows each coloured line as it comes, follows it until scrolled up, searches, filters and downloads', async () => {
  const [first, second] = [gate('log-1'), gate('log-2')];
  const id = await submit({
    name: 'coloured log',
    command: [
      `for i in $(seq 1 60); do printf '\\033[32mgreen line %s\\033[0m\\n' $i; done`,
      `printf '\\033[1;31mred warning\\033[0m\\n' >&2`,
      waitFor(first),
      `printf 'after the first gate\\n'`,
      waitFor(second),
      `for i in $(seq 61 120); do echo "plain line $i"; done`,
    ].join('\n'),
  });
  const ui = await openUi(browser, ts, { role: 'operator', path: `/tasks/${id}` });
  const log = ui.page.getByRole('log', { name: 'Output' });
  await log.locator('.line', { hasText: 'green line 60' }).waitFor();
  await log.locator('.line', { hasText: 'red warning' }).waitFor();
  assert.equal((await ts.client.getTask(id)).status, 'running', 'the lines came while the task ran');

  // Colours are spans with ANSI classes; stderr is marked.
  assert.equal(await log.locator('.line', { hasText: 'green line 7' }).first().locator('span.ansi-fg2').count(), 1);
  const warning = log.locator('.line', { hasText: 'red warning' });
  assert.equal(await warning.getAttribute('data-stream'), 'stderr');
  assert.equal(await warning.locator('span.ansi-fg1.ansi-bold').count(), 1);
  assert.equal(await log.locator('.line', { hasText: /\x1b|\[32m/ }).count(), 0, 'no escape sequence shows as text');

  // It follows: the newest line is in view, then a line that comes later too.
  assert.equal(await log.getAttribute('data-following'), 'true');
  await writeFile(first, '');
  await log.locator('.line', { hasText: 'after the first gate' }).waitFor();
  await until('the log to scroll to its end', async () => log.evaluate((el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 4));

  // Scrolled up, it stays where the user is while lines come; Follow resumes.
  await log.evaluate((el) => el.scrollTo(0, 0));
  await until('following to stop', async () => (await log.getAttribute('data-following')) === 'false');
  await writeFile(second, '');
  await log.locator('.line', { hasText: 'plain line 120' }).waitFor({ state: 'attached' });
  assert.equal(await log.evaluate((el) => el.scrollTop), 0, 'the view did not move');
  await ui.page.getByRole('button', { name: 'Follow' }).click();
  await until('the log to scroll to its end again', async () => log.evaluate((el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 4));
  await ui.page.locator('[role="log"][data-ended="succeeded"]').waitFor();
  assert.equal(await log.locator('.line').count(), 122, 'every line once, though the task was reloaded on each of its events');

  // Search marks the matching lines and jumps to them.
  await ui.page.getByLabel('Search the output').fill('plain line 9');
  assert.equal(await log.locator('[data-match]').count(), 10, 'plain line 90 to 99');
  await ui.page.getByLabel('Search the output').press('Enter');
  await log.locator('[data-current]', { hasText: 'plain line 90' }).waitFor();
  await ui.page.getByRole('button', { name: 'Next match' }).click();
  await log.locator('[data-current]', { hasText: 'plain line 91' }).waitFor();
  await log.focus();
  await ui.page.keyboard.press('Shift+N');
  await log.locator('[data-current]', { hasText: 'plain line 90' }).waitFor();
  assert.ok(await log.locator('[data-current]').isVisible(), 'the current match is scrolled into view');

  // One stream at a time, in the URL.
  await ui.page.getByRole('group', { name: 'Streams' }).getByRole('button', { name: 'stderr' }).click();
  await until('stderr alone', async () => (await log.locator('.line').count()) === 1);
  assert.match(ui.page.url(), /stream=stderr/);
  await ui.page.getByRole('group', { name: 'Streams' }).getByRole('button', { name: 'both' }).click();

  // The download is the whole output.
  const [download] = await Promise.all([ui.page.waitForEvent('download'), ui.page.getByRole('link', { name: 'Download' }).click()]);
  const task = await ts.client.getTask(id);
  assert.equal(await readFile((await download.path())!, 'utf8'), await ts.client.executionOutput(task.execution_id!));
  assert.equal(download.suggestedFilename(), `task-${id}-attempt-1.log`);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('when the output stream drops (a server restart), the log resumes after the last line it had, with nothing twice', async () => {
  const port = await freePort();
  const first = await startTestServer({ port });
  const worker = await startTestWorker(first, {});
  workers.push(worker);
  const open = gate('restart');
  const id = (await first.client.submitTasks({ command: `echo before the restart; ${waitFor(open)}; echo after the restart` })).tasks[0]!.id;
  const ui = await openUi(browser, first, { role: 'viewer', path: `/tasks/${id}` });
  const log = ui.page.getByRole('log', { name: 'Output' });
  await log.locator('.line', { hasText: 'before the restart' }).waitFor();
  await first.close();
  await log.getByText('Reconnecting…').waitFor();
  const again = await startTestServer({ databaseUrl: first.databaseUrl, port });
  try {
    await writeFile(open, '');
    await log.locator('.line', { hasText: 'after the restart' }).waitFor({ timeout: 60_000 });
    await ui.page.locator('[role="log"][data-ended="succeeded"]').waitFor({ timeout: 60_000 });
    assert.deepEqual(await log.locator('.line').allInnerTexts(), ['before the restart', 'after the restart']);
    assert.deepEqual(ui.errors, []);
  } finally {
    await ui.context.close();
    await again.close();
  }
});

test('with a token login the download is fetched with the token', async () => {
  const id = await submit({ command: 'echo downloaded with a token' });
  await taskEnded(ts, id);
  const ui = await openUi(browser, ts, { role: 'viewer', via: 'token', path: `/tasks/${id}` });
  await ui.page.getByRole('log', { name: 'Output' }).locator('.line', { hasText: 'downloaded with a token' }).waitFor();
  const [download] = await Promise.all([ui.page.waitForEvent('download'), ui.page.getByRole('button', { name: 'Download' }).click()]);
  assert.equal(await readFile((await download.path())!, 'utf8'), 'downloaded with a token\n');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('editing a held task shows the server refusal by field, then the new command runs once released', async () => {
  const id = await submit({ command: 'echo old command', held: true });
  const ui = await openUi(browser, ts, { role: 'operator', path: `/tasks/${id}` });
  await ui.page.getByRole('region', { name: 'Why it waits' }).locator('[data-reason="held"]').waitFor();
  await click(ui.page, 'Edit');
  const form = ui.page.getByRole('form', { name: 'Edit task' });
  await form.getByLabel('Command').fill('echo new command');
  await form.getByLabel('Shell').fill('not a shell!');
  await form.getByRole('button', { name: 'Save changes' }).click();
  await form.locator('[data-error-for="shell"]').waitFor();
  assert.equal((await ts.client.getTask(id)).command, 'echo old command', 'a refused edit changes nothing');
  await form.getByLabel('Shell').fill('sh');
  await form.getByRole('button', { name: 'Save changes' }).click();
  await form.waitFor({ state: 'detached' });
  assert.equal((await ts.client.getTask(id)).command, 'echo new command');
  const edited = await eventBy(ui, 'task.edited', id);
  assert.deepEqual(edited.data.after, { command: 'echo new command' });

  await click(ui.page, 'Release');
  await eventBy(ui, 'task.released', id);
  await ui.page.getByRole('log', { name: 'Output' }).locator('.line', { hasText: 'new command' }).waitFor();
  assert.equal((await taskEnded(ts, id)).status, 'succeeded');
  assert.equal(await ts.client.executionOutput((await ts.client.getTask(id)).execution_id!), 'new command\n');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('hold and release a waiting task, and cancel one, each recorded with the user', async () => {
  const blocker = await submit({ command: 'true', held: true });
  const id = await submit({ command: 'true', depends_on: [blocker] });
  const ui = await openUi(browser, ts, { role: 'operator', path: `/tasks/${id}` });
  await ui.page.locator('[data-reason="dependencies"]').getByRole('link', { name: `task ${blocker}` }).waitFor();
  await click(ui.page, 'Hold');
  await until('held', async () => (await ts.client.getTask(id)).status === 'held');
  await eventBy(ui, 'task.held', id);
  await ui.page.locator('h1 [data-status="held"]').waitFor();
  await click(ui.page, 'Release');
  await until('waiting again', async () => (await ts.client.getTask(id)).status === 'waiting');
  await eventBy(ui, 'task.released', id);
  await ui.page.locator('h1 [data-status="waiting"]').waitFor();

  // Backing out of the cancel leaves the task as it was; the way back is not a second "Cancel",
  // and it has the focus: an Enter pressed by habit does not cancel the task.
  await click(ui.page, 'Cancel');
  const dialog = ui.page.getByRole('dialog');
  assert.deepEqual(await dialog.getByRole('button').allInnerTexts(), ['Back', 'Cancel task']);
  await dialog.getByRole('button', { name: 'Back' }).and(ui.page.locator(':focus')).waitFor();
  await ui.page.keyboard.press('Enter');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal((await ts.client.getTask(id)).status, 'waiting');
  await click(ui.page, 'Cancel', 'Cancel task');
  await until('cancelled', async () => (await ts.client.getTask(id)).status === 'cancelled');
  await eventBy(ui, 'task.cancelled', id);
  await ui.page.locator('h1 [data-status="cancelled"]').waitFor();
  await actions(ui.page).getByRole('button', { name: 'Relaunch' }).waitFor();
  assert.equal(await actions(ui.page).getByRole('button', { name: 'Hold' }).count(), 0, 'no hold for an ended task');
  await ui.page.getByRole('tab', { name: 'Events' }).click();
  await ui.page.locator(`tr[data-event-type="task.cancelled"][data-actor="${ui.user.name}"]`).waitFor();
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('suspend and continue a running task, then kill it', async () => {
  const id = await submit({ command: 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done' });
  const ui = await openUi(browser, ts, { role: 'operator', path: `/tasks/${id}` });
  await ui.page.getByRole('log', { name: 'Output' }).locator('.line', { hasText: /^tick 1$/ }).waitFor();
  const execution = () => ts.client.getTask(id).then((t) => t.executions.at(-1)!);

  await click(ui.page, 'Suspend');
  await until('suspended', async () => (await execution()).suspended);
  await eventBy(ui, 'execution.suspend_requested', (await execution()).id);
  // Said as what it is: "paused" is what a pause of its workflow, step or tag shows.
  await ui.page.locator('h1').getByText('suspended', { exact: true }).waitFor();
  await ui.page.locator('tr[data-attempt="1"]').getByText('suspended', { exact: true }).waitFor();
  assert.equal(await ui.page.locator('h1').getByText('paused', { exact: true }).count(), 0);
  await click(ui.page, 'Continue');
  await until('continued', async () => !(await execution()).suspended);
  await eventBy(ui, 'execution.continue_requested', (await execution()).id);

  await click(ui.page, 'Kill', 'Kill');
  await until('killed', async () => (await execution()).status === 'killed');
  await eventBy(ui, 'execution.kill_requested', (await execution()).id);
  await ui.page.locator('tr[data-attempt="1"][data-status="killed"]').waitFor();
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('relaunching a failed task adds a second attempt to the time line', async () => {
  const marker = join(dir, 'relaunch-marker');
  const workflow = await ts.client.createWorkflow({ name: 'rnaseq-2024-06' });
  const step = await ts.client.createStep({ workflow_id: workflow.id, name: 'align' });
  await ts.client.putSecret('ncbi-key', 'not shown anywhere');
  const upstream = await submit({ command: 'echo fastq ready', workflow_id: workflow.id });
  await taskEnded(ts, upstream);
  const id = await submit({
    name: 'align sample S12',
    workflow_id: workflow.id, step_id: step.id, depends_on: [upstream], tag: 'default', priority: 5,
    env: { SAMPLE: 'S12', NCBI_KEY: { secret: 'ncbi-key' } }, requirements: { cpus: 1, memory_mb: 256 }, max_retries: 0,
    command: [
      `printf '\\033[1;34m==>\\033[0m aligning %s\\n' "$SAMPLE"`,
      `printf '\\033[32m[ok]\\033[0m reads: 1,204,332\\n'`,
      'sleep 1',
      `if [ ! -e ${marker} ]; then touch ${marker}; printf '\\033[1;31merror:\\033[0m reference index missing\\n' >&2; exit 3; fi`,
      `printf '\\033[32m[ok]\\033[0m aligned 98.2%%\\n'`,
    ].join('\n'),
  });
  assert.equal((await taskEnded(ts, id)).status, 'failed');
  const ui = await openUi(browser, ts, { role: 'operator', path: `/tasks/${id}` });
  await ui.page.locator('tr[data-attempt="1"][data-status="failed"]').waitFor();
  await ui.page.getByRole('log', { name: 'Output' }).locator('.line', { hasText: 'reference index missing' }).waitFor();
  await click(ui.page, 'Relaunch');
  await eventBy(ui, 'task.relaunched', id);
  await ui.page.locator('tr[data-attempt="2"][data-status="succeeded"]').waitFor();
  // The attempt names its worker, as the API says, with no read of the worker of its own.
  const second = (await ts.client.getTask(id)).executions.at(-1)!;
  assert.equal(second.worker_name, (await ts.client.getWorker(second.worker_id)).name);
  assert.equal(await ui.page.locator('tr[data-attempt="2"] a[href^="/workers/"]').innerText(), second.worker_name);
  assert.equal(await ui.page.getByRole('list', { name: 'Time line' }).getByRole('listitem').count(), 2);
  await ui.page.getByRole('log', { name: 'Output' }).locator('.line', { hasText: 'aligned 98.2%' }).waitFor();
  assert.equal(await ui.page.getByRole('log', { name: 'Output' }).locator('.line').count(), 3);
  await ui.page.getByRole('tab', { name: 'Definition' }).click();
  const secret = ui.page.locator('[data-env="NCBI_KEY"]');
  assert.match(await secret.innerText(), /secret: ncbi-key/);
  assert.equal(await ui.page.locator('dt:text-is("Retries") + dd').innerText(), 'none: its first failure is final', 'max_retries 0');
  assert.doesNotMatch(await ui.page.content(), /not shown anywhere/);
  await ui.page.getByRole('link', { name: `task ${upstream}` }).waitFor();
  await ui.page.getByRole('tab', { name: /Log/ }).click();
  await ui.page.getByRole('button', { name: 'Show attempt 1' }).click();
  await ui.page.getByRole('log', { name: 'Output' }).locator('.line', { hasText: 'reference index missing' }).waitFor();
  assert.match(ui.page.url(), /attempt=1/);
  for (const dismiss of await ui.page.getByRole('button', { name: 'Dismiss' }).all()) await dismiss.click();
  await screenshot(ui.page, 'task');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test("a long log read after its task ended opens at its end, the attempt's end in sight and still following", async () => {
  const id = await submit({ name: 'long log', command: 'for i in $(seq 1 400); do echo "line $i"; done; echo "last words" >&2' });
  assert.equal((await taskEnded(ts, id)).status, 'succeeded');
  const ui = await openUi(browser, ts, { role: 'operator', path: `/tasks/${id}` });
  const log = ui.page.getByRole('log', { name: 'Output' });
  await log.locator('.note.end').waitFor();
  // The scroll events of the opening have all come: they are what turns following off.
  await ui.page.waitForTimeout(500);
  assert.equal(await log.getAttribute('data-following'), 'true');
  assert.equal(await ui.page.getByRole('button', { name: 'Follow' }).count(), 0);
  const [top, height, client] = await log.evaluate((e) => [e.scrollTop, e.scrollHeight, e.clientHeight]);
  assert.ok(top + client >= height - 1, `scrolled to the end (${top} + ${client} of ${height})`);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('the time line of an ended task ends with its last attempt, however long after it is read', async () => {
  const id = await submit({ name: 'ended a while ago', command: 'sleep 1.5' });
  assert.equal((await taskEnded(ts, id)).status, 'succeeded');
  // Read well after the end: an axis running to now would leave the attempt a sliver at its left.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const ui = await openUi(browser, ts, { role: 'operator', path: `/tasks/${id}` });
  const row = ui.page.getByRole('list', { name: 'Time line' }).getByRole('listitem').first();
  await row.locator('.bar.status-succeeded').waitFor();
  const track = (await row.locator('.track').boundingBox())!;
  const last = (await row.locator('.bar.status-succeeded').boundingBox())!;
  assert.ok(Math.abs(last.x + last.width - (track.x + track.width)) <= 2, `the attempt ends at the axis's end (${last.x + last.width} of ${track.x + track.width})`);
  const execution = (await ts.client.getTask(id)).executions[0]!;
  const axis = await ui.page.locator('.axis span').last().innerText();
  assert.equal(axis, await ui.page.evaluate((at) => new Date(at).toLocaleTimeString(), execution.finished_at!));
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a viewer sees the task, its log and why it waits, and no button or edit form', async () => {
  const id = await submit({ command: 'echo for the viewer', held: true });
  const ui = await openUi(browser, ts, { role: 'viewer', path: `/tasks/${id}` });
  await ui.page.locator('[data-reason="held"]').waitFor();
  assert.equal(await actions(ui.page).count(), 0);
  for (const name of ['Edit', 'Hold', 'Release', 'Cancel', 'Kill', 'Suspend', 'Continue', 'Relaunch']) {
    assert.equal(await ui.page.getByRole('button', { name, exact: true }).count(), 0, name);
  }
  await ts.client.call('releaseTask', { params: { id }, body: {} });
  await ui.page.getByRole('log', { name: 'Output' }).locator('.line', { hasText: 'for the viewer' }).waitFor();
  assert.equal(await ui.page.getByRole('form', { name: 'Edit task' }).count(), 0);
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});
