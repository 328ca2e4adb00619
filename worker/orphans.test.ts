// Bare tasks left by an earlier run are found by the TEMP they were started with: those of
// this worker's work folder (of one execution, when asked), never another worker's. A group
// whose processes are all zombies no one reaps is gone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { until } from '../e2e/support/worker.js';
import { bareTaskGroups, bareTaskProcesses, groupExists, killOrphans, neverReaped, startedWithTemp } from './orphans.js';

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

test('the processes of one execution are found by their exact TEMP: not those of a folder below it or named alike', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labq-orphans-test-'));
  const temp = join(dir, 'work', '7', 'tmp');
  const mine = task(temp);
  const below = task(join(temp, 'sub'));
  const alike = task(`${temp}2`);
  t.after(async () => {
    for (const pid of [mine, below, alike]) if (groupAlive(pid)) process.kill(-pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  // The task's shell and the sleep it forked.
  await until('the task to start', async () => startedWithTemp(temp).length === 2);
  const found = startedWithTemp(temp);
  assert.ok(found.includes(mine), 'its leader is found');
  for (const pid of found) assert.equal(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2], String(mine), 'each found process is of its group');
});

/**
 * A process (Python) that forks a child leading a group of its own and never reaps it, as a
 * worker run as PID 1 never reaps the tasks of a dead launcher. With `keep`, the child
 * leaves a process of its group running when it exits.
 */
async function zombieLeader(keep: boolean): Promise<{ parent: number; leader: number }> {
  const script = [
    'import os, time',
    'p = os.fork()',
    'if p == 0:',
    '    os.setpgid(0, 0)',
    ...(keep ? ['    if os.fork() == 0:', '        os.close(1)', '        time.sleep(300)', '        os._exit(0)'] : []),
    '    os._exit(0)',
    'print(p, flush=True)',
    'time.sleep(300)',
  ].join('\n');
  const parent = spawn('python3', ['-I', '-S', '-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const leader = await new Promise<number>((resolve, reject) => {
    parent.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    parent.once('error', reject);
  });
  await until('the group leader to be a zombie', async () => readFileSync(`/proc/${leader}/stat`, 'utf8').split(') ')[1]!.startsWith('Z'));
  return { parent: parent.pid!, leader };
}

test('a group whose processes are all zombies no one will reap is gone; one with a live process, or zombies their parent will reap, is not', async (t) => {
  const alone = await zombieLeader(false);
  const kept = await zombieLeader(true);
  t.after(() => {
    if (groupAlive(kept.leader)) process.kill(-kept.leader, 'SIGKILL');
    for (const { parent } of [alone, kept]) process.kill(parent, 'SIGKILL');
  });
  assert.ok(groupAlive(alone.leader), 'signals still reach the zombie: counted so, the task would never end');
  assert.equal(groupExists(alone.leader, alone.parent), false, 'a zombie of a parent that never reaps is no live process');
  assert.equal(groupExists(alone.leader), true, 'this process is not PID 1: a zombie is its parent\'s to reap, and waited for');
  assert.deepEqual([neverReaped(1), neverReaped(process.pid)], [1, null], 'only a worker that is PID 1 leaves zombies unreaped: its own');
  assert.equal(groupExists(kept.leader, kept.parent), true, 'a live process of the group is left');
  const running = task(join(tmpdir(), 'labq-orphans-none'));
  t.after(() => process.kill(-running, 'SIGKILL'));
  assert.equal(groupExists(running, process.pid), true, 'a live leader');
  process.kill(-kept.leader, 'SIGKILL');
  await until('the kept process to be gone', async () => !groupExists(kept.leader, kept.parent));
});
