// The pool of bare executions' folders: a set comes back empty and as it was made, whatever
// the task did to it, and nothing outside it is ever touched through a link it left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { until } from '../e2e/support/worker.js';
import { COMMAND_FILE, writeScript } from './runners/types.js';
import { PID_MAX } from './orphans.js';
import { SUBFOLDERS, WorkFolders } from './workFolders.js';

async function pool(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'labq-folders-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const work = join(dir, 'work');
  const folders = new WorkFolders(work);
  folders.open();
  return { dir, work, folders };
}

const names = (dir: string) => readdirSync(dir).sort();

/** A process that has ended, whose pid stands for a task's first. */
async function ended(): Promise<number> {
  const first = spawn('/bin/true');
  await new Promise((resolve) => first.once('exit', resolve));
  return first.pid!;
}

/** As a task's process that left its group and runs on, with the TEMP of execution `id`; `killedBy` resolves with the signal it dies of. */
async function strayOf(t: { after: (fn: () => void) => void }, work: string, id: string) {
  const stray = spawn('/bin/sh', ['-c', 'sleep 300'], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH, TEMP: join(work, id, 'tmp') } });
  t.after(() => void stray.kill('SIGKILL'));
  await new Promise((resolve) => stray.once('spawn', resolve));
  return { killedBy: new Promise((resolve) => stray.once('exit', (_code, signal) => resolve(signal))) };
}

test('a set given back is reused by the next execution, emptied, with its command file overwritten in place', async (t) => {
  const { work, folders } = await pool(t);
  const first = join(work, '1');
  folders.take(first);
  assert.deepEqual(names(first), Object.values(SUBFOLDERS).sort());
  const script = writeScript(join(first, SUBFOLDERS.temp), 'echo first');
  writeFileSync(join(first, SUBFOLDERS.output, 'result.txt'), 'data');
  mkdirSync(join(first, SUBFOLDERS.temp, 'deep', 'er'), { recursive: true });
  writeFileSync(join(first, SUBFOLDERS.temp, 'deep', 'er', 'f'), 'x');
  writeFileSync(join(first, 'beside'), 'x');
  const inode = statSync(first).ino;
  const scriptInode = statSync(script).ino;
  await folders.give(first, null);
  assert.deepEqual(readdirSync(work), ['.free'], 'the execution\'s own name is free again');

  const second = join(work, '2');
  folders.take(second);
  assert.equal(statSync(second).ino, inode, 'the same folder, renamed: no new inode');
  assert.deepEqual(names(second), Object.values(SUBFOLDERS).sort());
  for (const name of [SUBFOLDERS.input, SUBFOLDERS.output, SUBFOLDERS.resource]) assert.deepEqual(names(join(second, name)), []);
  assert.deepEqual(names(join(second, SUBFOLDERS.temp)), [COMMAND_FILE]);
  const again = writeScript(join(second, SUBFOLDERS.temp), 'echo second');
  assert.equal(statSync(again).ino, scriptInode, 'the command file is overwritten, not made anew');
  assert.equal(readFileSync(again, 'utf8'), 'echo second\n');
});

test('links a task left are removed, never followed: their targets are untouched', async (t) => {
  const { dir, work, folders } = await pool(t);
  const outside = join(dir, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'precious'), 'keep me');
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'unchanged');
  const base = join(work, '1');
  folders.take(base);
  await rm(join(base, SUBFOLDERS.output), { recursive: true });
  symlinkSync(outside, join(base, SUBFOLDERS.output));
  symlinkSync(victim, join(base, SUBFOLDERS.temp, COMMAND_FILE));
  await folders.give(base, null);
  assert.equal(readFileSync(join(outside, 'precious'), 'utf8'), 'keep me');

  const next = join(work, '2');
  folders.take(next);
  assert.ok(lstatSync(join(next, SUBFOLDERS.output)).isDirectory(), 'the output folder is a folder again');
  writeScript(join(next, SUBFOLDERS.temp), 'echo hello');
  assert.equal(readFileSync(victim, 'utf8'), 'unchanged');
  assert.equal(readFileSync(join(next, SUBFOLDERS.temp, COMMAND_FILE), 'utf8'), 'echo hello\n');
});

test('a command file with a second link is made anew, so the other name keeps its content', async (t) => {
  const { dir, work, folders } = await pool(t);
  const base = join(work, '1');
  folders.take(base);
  const script = writeScript(join(base, SUBFOLDERS.temp), 'echo one');
  const other = join(dir, 'other');
  linkSync(script, other);
  // As one planted after the set went back to the pool (by a process that left its task's group).
  assert.equal(writeScript(join(base, SUBFOLDERS.temp), 'echo two'), script);
  assert.equal(readFileSync(other, 'utf8'), 'echo one\n', 'written to a new file, not through the link');
  assert.equal(readFileSync(script, 'utf8'), 'echo two\n');
});

test('a folder whose mode the task changed, or that it removed, is made anew', async (t) => {
  const { work, folders } = await pool(t);
  const base = join(work, '1');
  folders.take(base);
  const mode = statSync(join(base, SUBFOLDERS.input)).mode;
  chmodSync(join(base, SUBFOLDERS.input), 0o777);
  await rm(join(base, SUBFOLDERS.resource), { recursive: true });
  await folders.give(base, null);
  const next = join(work, '2');
  folders.take(next);
  assert.equal(statSync(join(next, SUBFOLDERS.input)).mode, mode);
  assert.ok(statSync(join(next, SUBFOLDERS.resource)).isDirectory());
});

test('a set whose base the task changed is not kept; a new one is made', async (t) => {
  const { work, folders } = await pool(t);
  const base = join(work, '1');
  folders.take(base);
  const mode = statSync(base).mode;
  chmodSync(base, 0o700);
  await folders.give(base, null);
  assert.deepEqual(readdirSync(join(work, '.free')), []);
  const next = join(work, '2');
  folders.take(next);
  assert.equal(statSync(next).mode, mode);
  assert.deepEqual(names(next), Object.values(SUBFOLDERS).sort());
});

test('opening the pool again removes what an earlier run left in it', async (t) => {
  const { work, folders } = await pool(t);
  folders.take(join(work, '1'));
  await folders.give(join(work, '1'), null);
  assert.equal(readdirSync(join(work, '.free')).length, 1);
  new WorkFolders(work).open();
  assert.deepEqual(readdirSync(join(work, '.free')), []);
});

test('a restarted worker removes the folders its earlier run left, but those of the containers it re-attaches to', async (t) => {
  const { work, folders } = await pool(t);
  folders.take(join(work, '5'));
  folders.take(join(work, '6'));
  writeFileSync(join(work, '6', SUBFOLDERS.output, 'partial'), 'x');
  folders.take(join(work, '7'));
  await folders.give(join(work, '7'), null);
  await folders.removeLeftovers(new Set([5]), () => undefined);
  assert.deepEqual(names(work), ['.free', '5']);
  assert.equal(readdirSync(join(work, '.free')).length, 1, 'the pool is kept');
});

test('a set a process of its task still uses is removed at the next look; one whose processes are gone is kept', async (t) => {
  const { work, folders } = await pool(t);
  const first = await ended();
  // Started after the task's first.
  const stray = await strayOf(t, work, '1');
  for (const id of ['1', '2', '12']) folders.take(join(work, id));
  await folders.give(join(work, '1'), first);
  await folders.give(join(work, '2'), first);
  await folders.give(join(work, '12'), first);
  assert.equal(readdirSync(join(work, '.free')).length, 3, 'given back, waiting for the look');
  folders.take(join(work, '3'));
  assert.equal(readdirSync(join(work, '.free')).length, 3, 'a set waiting for the look is not given out');
  await folders.settle();
  // The stray is killed, its set removed (off the event loop), the others kept.
  assert.equal(await stray.killedBy, 'SIGKILL');
  await until('the stray\'s set to be removed', async () => readdirSync(join(work, '.free')).length === 2);
  folders.take(join(work, '4'));
  folders.take(join(work, '5'));
  assert.deepEqual(readdirSync(join(work, '.free')), [], 'both kept sets serve again');
  assert.deepEqual(names(work), ['.free', '3', '4', '5']);
});

test('a set taken half a turn of the pids ago is looked for among all processes, not only those since its first pid', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labq-folders-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const work = join(dir, 'work');
  let forks = 1000;
  const folders = new WorkFolders(work, () => forks);
  folders.open();
  // A stray of execution 1 started before the pid given as the task's first: as if the pids had come round since.
  await strayOf(t, work, '1');
  const later = await ended();
  for (const id of ['1', '2']) folders.take(join(work, id));
  await folders.give(join(work, '2'), later);
  forks += 10;
  await folders.give(join(work, '1'), later);
  forks += PID_MAX / 2;
  await folders.settle();
  await until('the stray\'s set to be removed', async () => readdirSync(join(work, '.free')).length === 1);
});

test('what a process of the task wrote before the look is gone when the set serves again', async (t) => {
  const { work, folders } = await pool(t);
  const first = await ended();
  for (const id of ['1', '2']) folders.take(join(work, id));
  await folders.give(join(work, '1'), first);
  await folders.give(join(work, '2'), first);
  // As a stray that left the task's group, wrote through its working folder and ended before the look.
  const [written] = readdirSync(join(work, '.free'));
  writeFileSync(join(work, '.free', written!, 'output', 'left-behind'), 'stale');
  await folders.settle();
  folders.take(join(work, '3'));
  folders.take(join(work, '4'));
  assert.deepEqual(readdirSync(join(work, '.free')), [], 'both sets serve again');
  for (const id of ['3', '4']) assert.deepEqual(readdirSync(join(work, id, 'output')), []);
});

test('a stray of a task whose set is not kept (it changed its folders) is killed all the same', async (t) => {
  const { work, folders } = await pool(t);
  const first = await ended();
  const stray = await strayOf(t, work, '1');
  folders.take(join(work, '1'));
  chmodSync(join(work, '1'), 0o700);
  await folders.give(join(work, '1'), first);
  assert.deepEqual(readdirSync(join(work, '.free')), [], 'not kept');
  await folders.settle();
  assert.equal(await stray.killedBy, 'SIGKILL');
});

test('sets given back are looked at within a tick, without a call', async (t) => {
  const { work, folders } = await pool(t);
  const first = await ended();
  folders.take(join(work, '1'));
  await folders.give(join(work, '1'), first);
  await until('the set to be kept', async () => {
    folders.take(join(work, '2'));
    if (readdirSync(join(work, '.free')).length === 0) return true;
    // Still waiting for the look: take made a new set.
    rmSync(join(work, '2'), { recursive: true });
    return false;
  });
});

test('a command file whose mode the task changed is made anew', async (t) => {
  const { work, folders } = await pool(t);
  const base = join(work, '1');
  folders.take(base);
  const script = writeScript(join(base, SUBFOLDERS.temp), 'echo one');
  const mode = statSync(script).mode;
  chmodSync(script, 0o666);
  await folders.give(base, null);
  const next = join(work, '2');
  folders.take(next);
  assert.deepEqual(names(join(next, SUBFOLDERS.temp)), []);
  assert.equal(statSync(writeScript(join(next, SUBFOLDERS.temp), 'echo two')).mode, mode);
});

test('close settles the sets given back at once and resolves only when nothing is being emptied or removed', async (t) => {
  const { work, folders } = await pool(t);
  const first = await ended();
  const stray = await strayOf(t, work, '1');
  for (const id of ['1', '2']) folders.take(join(work, id));
  // Enough for the removal of the stray's set to outlast the other's emptying.
  writeFileSync(join(work, '2', SUBFOLDERS.output, 'f'), 'x');
  mkdirSync(join(work, '1', SUBFOLDERS.output, 'deep'));
  for (let i = 0; i < 2000; i++) writeFileSync(join(work, '1', SUBFOLDERS.output, 'deep', `f${i}`), 'x');
  await folders.give(join(work, '1'), first);
  await folders.give(join(work, '2'), first);
  await folders.close();
  const free = readdirSync(join(work, '.free'));
  assert.equal(free.length, 1, 'the stray\'s set removed, the other kept');
  assert.deepEqual(readdirSync(join(work, '.free', free[0]!, SUBFOLDERS.output)), [], 'and emptied');
  // What close leaves is still: a plain removal, without retries, succeeds.
  rmSync(work, { recursive: true });
  assert.equal(await stray.killedBy, 'SIGKILL', 'the look was made without waiting for its tick');
});
