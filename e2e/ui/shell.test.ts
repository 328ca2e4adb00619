// The UI's shell in Chromium against a real server: logins, deep links, the live event
// stream, its reconnection after a server restart with nothing missed, and what a viewer sees.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openUi, screenshot, type UiSession } from '../support/browser.js';
import { freePort, startTestServer } from '../support/server.js';
import { testBed } from './testBed.js';

const bed = testBed();

test('a password login opens the overview; the session survives a reload; logging out ends it', async () => {
  const ui = await openUi(bed.browser, bed.ts, { role: 'operator' });
  await ui.page.getByText(`${ui.user.name} · operator`).waitFor();
  await ui.page.reload();
  await ui.page.getByText(`${ui.user.name} · operator`).waitFor();
  await ui.page.getByRole('button', { name: 'Log out' }).click();
  await ui.page.getByRole('button', { name: 'Log in' }).waitFor();
  await ui.page.reload();
  await ui.page.getByRole('button', { name: 'Log in' }).waitFor();
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('a wrong password is refused with the reason, and the page stays on the login', async () => {
  const context = await bed.browser.newContext();
  const page = await context.newPage();
  await page.goto(bed.ts.url + '/');
  await page.getByLabel('Name').fill('nobody');
  await page.getByLabel('Password').fill('wrong password here');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Unauthorized' }).waitFor();
  await context.close();
});

test('a deep link keeps its filters through the login, and the events view shows new events live, with who did them', async () => {
  const ui = await openUi(bed.browser, bed.ts, { role: 'operator', via: 'token', path: '/events?stream_type=workflow' });
  await ui.page.locator('[aria-current="page"]', { hasText: 'Events' }).waitFor();
  assert.equal(await ui.page.getByLabel('Stream type').inputValue(), 'workflow');
  await bed.ts.client.createWorkflow({ name: 'seen live' });
  const row = ui.page.locator('tr[data-event-type="workflow.created"]').first();
  await row.waitFor();
  assert.match(await row.innerText(), /admin-/);
  await bed.ts.client.submitTasks({ command: 'echo not a workflow event' });
  await bed.ts.client.createWorkflow({ name: 'second' });
  await ui.page.locator('tr[data-event-type="workflow.created"]').nth(1).waitFor();
  assert.equal(await ui.page.locator('tr[data-event-type="task.submitted"]').count(), 0, 'the filter holds for live events too');
  await screenshot(ui.page, 'events');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('after a server restart the page says it is reconnecting, then catches up on what it missed without a reload', async () => {
  const port = await freePort();
  const first = await startTestServer({ port });
  // A second server on the same database writes while the first is down: the page must get those events.
  const other = await startTestServer({ databaseUrl: first.databaseUrl });
  const ui = await openUi(bed.browser, first, { role: 'viewer', path: '/events' });
  await ui.page.evaluate(() => ((globalThis as any).loaded = true));
  await first.close();
  await ui.page.locator('[data-live="reconnecting"]').waitFor();
  await ui.page.getByRole('status').filter({ hasText: 'reconnecting' }).waitFor();
  const missed = [];
  for (let i = 0; i < 3; i++) missed.push((await other.client.createWorkflow({ name: `while down ${i}` })).id);
  const again = await startTestServer({ databaseUrl: first.databaseUrl, port });
  await ui.page.locator('[data-live="live"]').waitFor({ timeout: 30_000 });
  for (const id of missed) await ui.page.getByRole('link', { name: `workflow #${id}`, exact: true }).waitFor({ timeout: 30_000 });
  assert.equal(await ui.page.evaluate(() => (globalThis as any).loaded), true, 'no reload happened');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
  await again.close();
  await other.close();
});

test('a viewer sees no action buttons, and the server refuses the action anyway, for its role and not for want of the CSRF token', async () => {
  const workflow = (await bed.ts.client.createWorkflow({ name: 'roles' })).id;
  await bed.ts.client.submitTasks({ command: 'true', workflow_id: workflow, tag: 'nobody-serves-this' });
  /** A request the page makes through its own session: with the session's CSRF token, and without. */
  const create = (ui: UiSession) => ui.page.evaluate(async () => {
    const me = (await (await fetch('/api/v1/auth/me')).json()) as { csrf_token: string };
    const post = (headers: Record<string, string>) =>
      fetch('/api/v1/workflows', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"name":"from the page"}' });
    const withToken = await post({ 'x-csrf-token': me.csrf_token });
    return { without: (await post({})).status, with: withToken.status, detail: ((await withToken.json()) as { detail?: string }).detail };
  });
  const operator = await openUi(bed.browser, bed.ts, { role: 'operator', path: `/workflows/${workflow}` });
  await operator.page.getByRole('button', { name: /^Cancel/ }).first().waitFor();
  assert.deepEqual(await create(operator), { without: 403, with: 201, detail: undefined });
  const viewer = await openUi(bed.browser, bed.ts, { role: 'viewer', path: `/workflows/${workflow}` });
  await viewer.page.getByText('· viewer').waitFor();
  await viewer.page.getByText('1 pending').first().waitFor();
  assert.equal(await viewer.page.getByRole('button', { name: /^(Cancel|Pause|Resume|Relaunch)/ }).count(), 0);
  const refused = await create(viewer);
  assert.equal(refused.without, 403);
  assert.equal(refused.with, 403);
  assert.match(refused.detail ?? '', /operator/, 'refused for its role');
  assert.deepEqual([...operator.errors, ...viewer.errors], []);
  await operator.context.close();
  await viewer.context.close();
});

test('the keyboard moves between views, ? lists the keys, and the theme follows the system until chosen', async () => {
  const ui = await openUi(bed.browser, bed.ts, { role: 'viewer', colorScheme: 'dark' });
  const theme = () => ui.page.evaluate(() => (globalThis as any).document.documentElement.dataset.theme);
  assert.equal(await theme(), 'dark', 'the system prefers dark');
  await ui.page.keyboard.press('g');
  await ui.page.keyboard.press('e');
  await ui.page.waitForURL(/\/events$/);
  await ui.page.keyboard.press('g');
  await ui.page.keyboard.press('k');
  await ui.page.waitForURL(/\/workers$/);
  await ui.page.keyboard.press('?');
  await ui.page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
  await ui.page.keyboard.press('Escape');
  await ui.page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor({ state: 'detached' });
  await ui.page.goBack();
  await ui.page.waitForURL(/\/events$/);
  const background = () => ui.page.evaluate(() => (globalThis as any).getComputedStyle((globalThis as any).document.body).backgroundColor);
  const dark = await background();
  await ui.page.getByRole('button', { name: /^Theme:/ }).click(); // system → dark (chosen)
  await ui.page.getByRole('button', { name: /^Theme:/ }).click(); // dark → light
  assert.equal(await theme(), 'light');
  assert.notEqual(await background(), dark);
  await ui.page.reload();
  await ui.page.locator('[data-live="live"]').waitFor();
  assert.equal(await theme(), 'light', 'the choice is kept');
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('in a window 800 px wide every view is in the navigation, in sight, and no page scrolls sideways', async () => {
  // A schedule that has run, with a name that cannot wrap: a row as wide as its list gets.
  const schedule = await bed.ts.client.call('createSchedule', {
    body: { name: 'nightly_quality_control_of_the_run', cron: '0 3 * * *', timezone: 'Europe/Paris', context: {}, submit: { tasks: [{ command: 'true', tag: 'nobody-serves-this' }] } },
  });
  await bed.ts.client.call('runSchedule', { params: { id: schedule.id }, body: {} });
  const ui = await openUi(bed.browser, bed.ts, { role: 'operator' });
  await ui.page.setViewportSize({ width: 800, height: 800 });
  const nav = ui.page.getByRole('navigation', { name: 'Views' });
  const box = (await nav.boundingBox())!;
  const links = await nav.getByRole('link').all();
  assert.equal(links.length, 6);
  for (const link of links) {
    const at = (await link.boundingBox())!;
    assert.ok(at.x >= box.x && at.x + at.width <= box.x + box.width, `${await link.innerText()} is in sight (${at.x}–${at.x + at.width} of ${box.x}–${box.x + box.width})`);
  }
  for (const [path, ready] of [['/', '[data-status-count]'], ['/workflows', 'h1'], ['/tasks', '[data-total]'], ['/workers', 'h1'], ['/schedules', '[data-schedule]'], ['/events', 'tr[data-event-type]']] as const) {
    await ui.page.goto(bed.ts.url + path);
    await ui.page.locator(ready).first().waitFor();
    const [scroll, client] = await ui.page.evaluate(() => [(globalThis as any).document.documentElement.scrollWidth, (globalThis as any).document.documentElement.clientWidth]);
    assert.ok(scroll <= client, `${path} fits the window (${scroll} > ${client})`);
  }
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});

test('pages are served with a strict content security policy, and unknown pages load the app', async () => {
  const page = await fetch(bed.ts.url + '/tasks/12345?status=failed');
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<div id="app">/);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const missing = await fetch(bed.ts.url + '/assets/nope.js');
  assert.equal(missing.status, 404);
  const api = await fetch(bed.ts.url + '/api/v1/nope');
  assert.equal(api.status, 401);
});
