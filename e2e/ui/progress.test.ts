// A download's figures in the task view, in Chromium: a real worker daemon downloads a 30 MB
// S3 object over a slowed link, and the attempt's row shows the bytes done growing while
// the task downloads. The figures are not events (nothing else about the task changes
// meanwhile), so only the page reading them again as the worker sends them moves them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openUi } from '../support/browser.js';
import { slowS3Object, type SlowS3Object } from '../support/slowS3.js';
import { taskEnded, until } from '../support/worker.js';
import { testBed } from './testBed.js';

const SIZE = 30 * 2 ** 20;
/** About ten seconds for the whole object: several of the worker's one-a-second figures. */
const LINK_BYTES_PER_SECOND = 3 * 2 ** 20;

const fixture = testBed();
let object: SlowS3Object;

before(async () => {
  object = await slowS3Object('big', 'reads.bin', SIZE, LINK_BYTES_PER_SECOND);
});

after(async () => object.stop());

test('while a task downloads, its attempt row shows the bytes done growing, without an event or a reload', async () => {
  const { ts } = fixture;
  const ui = await openUi(fixture.browser, ts, { role: 'viewer', path: '/tasks' });
  await fixture.worker({ tags: ['ui-progress'] });
  const { tasks: [task] } = await ts.client.submitTasks({
    tag: 'ui-progress', inputs: [object.url], command: 'wc -c < "$INPUT/reads.bin"', timeouts: { download: 600 },
  });
  await ui.page.goto(`${ts.url}/tasks/${task!.id}`);
  const figures = ui.page.locator('tr[data-attempt="1"] [data-progress="downloading"]');
  await figures.waitFor();
  const first = await figures.innerText();
  const versionThen = (await ts.client.getTask(task!.id)).version;
  const moved = await until('the figures on the page to move while the task still downloads', async () => {
    const now = await figures.innerText().catch(() => null);
    return now !== null && now !== first && now;
  }, 30_000);
  const { status, version } = await ts.client.getTask(task!.id);
  assert.equal(status, 'downloading', 'the figures moved during the download');
  assert.equal(version, versionThen, 'no event of the task came meanwhile');
  assert.match(moved as string, /^downloading [\d.]+ MiB of 30 MiB/);
  assert.equal((await taskEnded(ts, task!.id)).status, 'succeeded');
  await figures.waitFor({ state: 'detached' });
  assert.deepEqual(ui.errors, []);
  await ui.context.close();
});
