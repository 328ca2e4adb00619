// Bare tasks left by an earlier run are found by the TEMP they were started with: those of
// this worker's work folder (of one execution, when asked), never another worker's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { until } from '../e2e/support/worker.js';
import { bareTaskGroups, killOrphans, strayProcess } from './orphans.js';

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A task-like process group: a shell leading a child, started with TEMP in `temp`. */
function task(temp: string): number {
  const child = spawn('/bin/sh', ['-c', 'sleep 300 & wait'], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH, TEMP: temp } });
  child.unref();
  return child.pid!;
}

test('the groups of bare tasks under a work folder are found and killed; another worker\'s are not', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labq-orphans-test-'));
  const work = join(dir, 'work');
  const mine = [task(join(work, '7', 'tmp')), task(join(work, '8', 'tmp'))];
  const other = task(join(dir, 'work-other', '7', 'tmp'));
  const prefixOnly = task(join(dir, 'work7', 'tmp'));
  t.after(async () => {
    for (const pid of [...mine, other, prefixOnly]) if (groupAlive(pid)) process.kill(-pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  await until('the tasks to start', async () => (await bareTaskGroups(work)).length === 2);
  assert.deepEqual((await bareTaskGroups(work)).sort(), [...mine].sort());
  assert.deepEqual(await bareTaskGroups(work, 7), [mine[0]]);
  assert.equal(await killOrphans(work), 2);
  await until('the orphans to be gone', async () => mine.every((pid) => !groupAlive(pid)));
  assert.ok(groupAlive(other), 'a task of another work folder lives on');
  assert.ok(groupAlive(prefixOnly), 'a folder whose name merely starts alike is another one');
});

test('a process a task left running is seen as using its folders until it is gone', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labq-orphans-test-'));
  const base = join(dir, 'work', '9');
  const before = spawn('/bin/true');
  await new Promise((resolve) => before.once('exit', resolve));
  assert.equal(strayProcess(base, before.pid!), false);
  const stray = task(join(base, 'tmp'));
  t.after(async () => {
    if (groupAlive(stray)) process.kill(-stray, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  assert.equal(strayProcess(base, before.pid!), true);
  assert.equal(strayProcess(join(dir, 'work', '90'), before.pid!), false, 'another execution\'s folders');
  process.kill(-stray, 'SIGKILL');
  await until('the stray to be gone', async () => !strayProcess(base, before.pid!));
});
