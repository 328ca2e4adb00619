// Bare tasks left by an earlier run are found by the TEMP they were started with: those of
// this worker's work folder (of one execution, when asked), never another worker's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { until } from '../e2e/support/worker.js';
import { bareTaskGroups, bareTaskProcesses, killOrphans } from './orphans.js';

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

test('the processes started since a pid are read, each with its execution; older ones are not', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labq-orphans-test-'));
  const work = join(dir, 'work');
  const older = task(join(work, '8', 'tmp'));
  // Its shell and the sleep it forks, both started before the pid the look starts from.
  await until('the older task to start', async () => bareTaskProcesses(work).length === 2);
  const before = spawn('/bin/true');
  await new Promise((resolve) => before.once('exit', resolve));
  const stray = task(join(work, '9', 'tmp'));
  const elsewhere = task(join(dir, 'work-other', '9', 'tmp'));
  t.after(async () => {
    for (const pid of [older, stray, elsewhere]) if (groupAlive(pid)) process.kill(-pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  const executions = (...since: number[]) => [...new Set(bareTaskProcesses(work, since).map((p) => p.executionId))].sort();
  await until('the tasks to start', async () => executions().length === 2);
  assert.deepEqual(executions(), [8, 9]);
  // Unless the pids came round meanwhile (pid_max may be 32768): then all are read.
  assert.deepEqual(executions(before.pid!), stray > before.pid! ? [9] : [8, 9], 'only those started since');
  assert.ok(bareTaskProcesses(work, [before.pid!]).some((p) => p.pid === stray));
  // A pid above the last one given was given before the pids came round: everything is read.
  const last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  assert.deepEqual(executions(before.pid!, last + 1000), [8, 9], 'after a wrap, all are read');
  process.kill(-stray, 'SIGKILL');
  await until('the stray to be gone', async () => executions(before.pid!).length === 0);
});
