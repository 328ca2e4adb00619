// `labq schedule …` against a test server: add from the task options, list with the next run
// times, run with a changed context, edit, disable/enable, show the runs, refusals naming
// the field, rm; and add from a JSON file; --overlap and --catch-up refused before any request.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI } from '../e2e/support/worker.js';
import { startTestServer, type TestServer } from '../e2e/support/server.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

function labq(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--server', ts.url, '--token', ts.token, ...args], (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
}

test('add, list, run with a changed context, edit, disable, enable, show, rm', async () => {
  const added = await labq(['schedule', 'add', 'nightly-qc', '0 2 * * *', '--timezone', 'Europe/Paris', '--context', 'run=latest',
    '--overlap', 'skip', '--tag', 'qc', '--', 'qc.sh', '{run}']);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /^schedule \d+: nightly-qc\ncron: +0 2 \* \* \* \(Europe\/Paris\)\nenabled: +yes; catch_up skip; overlap skip\ncontext: +run=latest\n/);
  assert.match(added.stdout, /runs: +none yet\n$/);

  const listed = await labq(['schedule', 'list']);
  assert.match(listed.stdout, /^ID +NAME +CRON +TIMEZONE +ENABLED +OVERLAP +NEXT_RUNS +LAST_RUN\n\d+ +nightly-qc +0 2 \* \* \* +Europe\/Paris +yes +skip +\S+Z \S+Z +none yet\n$/);

  const run = await labq(['--json', 'schedule', 'run', 'nightly-qc', '--context', 'run=2026-11-29']);
  assert.equal(run.code, 0, run.stderr);
  const { task_ids } = JSON.parse(run.stdout);
  assert.equal((await ts.client.getTask(task_ids[0])).command, 'qc.sh 2026-11-29');
  const again = await labq(['schedule', 'run', 'nightly-qc']);
  assert.match(again.stdout, /^run 2 fired at \S+Z with run=latest\ntask ids: \d+\n$/);
  assert.match((await labq(['schedule', 'list'])).stdout, /\n\d+ +nightly-qc .* +run 2: pending=1\n$/);
  // --json gives the API's answer, as every list does.
  const json = JSON.parse((await labq(['--json', 'schedule', 'list'])).stdout);
  assert.deepEqual(Object.keys(json), ['items']);
  assert.equal(json.items[0].last_run.run, 2);

  const unknown = await labq(['schedule', 'run', 'nightly-qc', '--context', 'sample=S1']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /\n {2}--context sample: is not a parameter of schedule nightly-qc \(its parameters: run\)/);
  const badCron = await labq(['schedule', 'edit', 'nightly-qc', '--cron', '0 25 * * *']);
  assert.equal(badCron.code, 1);
  assert.match(badCron.stderr, /^labq: 400 Invalid request\n {2}--cron: .*hour/i);
  // A refused field is named by the flag typed, a task's field too (the schedule holds it at submit.tasks[0]).
  const badTask = await labq(['schedule', 'add', 'refused', '0 2 * * *', '-p', '5000', '--', 'echo']);
  assert.equal(badTask.code, 1);
  assert.equal(badTask.stderr, 'labq: 400 Invalid request\n  --priority: Too big: expected number to be <=1000\n');
  const badZone = await labq(['schedule', 'add', 'refused', '0 2 * * *', '--timezone', 'Mars/Olympus', '--', 'echo']);
  assert.match(badZone.stderr, /^labq: 400 Invalid request\n {2}--timezone: /);

  const nothing = await labq(['schedule', 'edit', 'nightly-qc']);
  assert.equal(nothing.code, 1, 'an edit that names no change is refused, as labq task edit refuses one');
  assert.equal(nothing.stderr, 'labq: nothing to change: give --name, --cron, --timezone, --context, --catch-up, --overlap, or -f FILE\n');
  const edited = await labq(['schedule', 'edit', 'nightly-qc', '--cron', '30 3 * * *']);
  assert.match(edited.stdout, /cron: +30 3 \* \* \* \(Europe\/Paris\)/);
  assert.match((await labq(['schedule', 'disable', 'nightly-qc'])).stdout, /enabled: +no;[^]*next runs: \(none: disabled\)/);
  assert.match((await labq(['schedule', 'enable', 'nightly-qc'])).stdout, /enabled: +yes;/);
  const shown = await labq(['schedule', 'show', 'nightly-qc']);
  // The times of the schedule itself: the last change (here the enable) is the API's updated_at.
  const { created_at, updated_at } = await ts.client.call('getSchedule', { params: { id: json.items[0].id } });
  assert.match(shown.stdout, new RegExp(`\ncreated: +${created_at} by admin-\\S+; last changed ${updated_at}\n`));
  assert.match(shown.stdout, /\nRUN +DUE_AT +FIRED_AT +FIRED_BY +STATUS +CONTEXT +TASKS\n2 +\S+ +\S+ +admin-\S+ +fired +run=latest +1: pending=1\n1 +\S+ +\S+ +admin-\S+ +fired +run=2026-11-29 +1: pending=1\n$/);
  assert.equal((await labq(['schedule', 'rm', 'nightly-qc'])).stdout, 'schedule nightly-qc deleted\n');
  assert.match((await labq(['schedule', 'show', 'nightly-qc'])).stderr, /no schedule named "nightly-qc"/);
});

test('add a sweep schedule from a JSON file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labq-schedule-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'weekly.json');
  await writeFile(file, JSON.stringify({
    name: 'weekly-sync', cron: '0 6 * * 1', context: { db: 'uniprot' },
    submit: { sweep: { template: { command: 'sync {db} {part}' }, parameters: { part: [1, 2] } } },
  }));
  const added = await labq(['--json', 'schedule', 'add', '-f', file]);
  assert.equal(added.code, 0, added.stderr);
  const { id } = JSON.parse(added.stdout);
  const run = JSON.parse((await labq(['--json', 'schedule', 'run', String(id)])).stdout);
  assert.deepEqual(await Promise.all(run.task_ids.map(async (t: number) => (await ts.client.getTask(t)).command)), ['sync uniprot 1', 'sync uniprot 2']);

  // The fields of a file are named as the file spells them: no flag set them.
  const bad = join(dir, 'bad.json');
  await writeFile(bad, JSON.stringify({ name: 'bad', cron: '0 6 * * 1', overlap: 'sometimes', submit: { tasks: [{ command: 'x' }] } }));
  assert.match((await labq(['schedule', 'add', '-f', bad])).stderr, /^labq: 400 Invalid request\n {2}overlap: /);
});

test('--overlap and --catch-up are checked before any request, naming the valid values', async () => {
  // A server that does not answer: a request sent would fail as unreachable, not as the value.
  const offline = (args: string[]) => new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, '--server', 'http://127.0.0.1:1', '--token', 'none', ...args], (error, _stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }));
  });
  const overlap = await offline(['schedule', 'add', 'checked', '0 2 * * *', '--overlap', 'sometimes', '--', 'echo']);
  assert.notEqual(overlap.code, 0);
  assert.match(overlap.stderr, /option '--overlap <policy>' argument 'sometimes' is invalid\. Allowed choices are allow, skip, queue\./);
  const catchUp = await offline(['schedule', 'edit', 'checked', '--catch-up', 'all']);
  assert.notEqual(catchUp.code, 0);
  assert.match(catchUp.stderr, /option '--catch-up <policy>' argument 'all' is invalid\. Allowed choices are skip, run_once\./);
  assert.doesNotMatch(overlap.stderr + catchUp.stderr, /cannot reach/);
});
