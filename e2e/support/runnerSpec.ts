// What both runner test files need: scratch execution folders, removed after the file, an
// output collector that keeps the streams apart and remembers their order, and the checks
// every runner must pass.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { after } from 'node:test';
import type { ExecutionDirs, OutputStream, RunHandle } from '../../worker/runners/types.js';

const scratch: string[] = [];
after(() => Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true }))));

export async function makeDirs(prefix: string): Promise<ExecutionDirs> {
  const base = await mkdtemp(join(tmpdir(), prefix));
  scratch.push(base);
  const dirs = { input: join(base, 'input'), output: join(base, 'output'), temp: join(base, 'temp'), resource: join(base, 'resource') };
  for (const dir of Object.values(dirs)) await mkdir(dir);
  return dirs;
}

export function collector() {
  const chunks: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  const order: OutputStream[] = [];
  return {
    onOutput(stream: OutputStream, chunk: Buffer) {
      chunks[stream].push(chunk);
      order.push(stream);
    },
    text: (stream: OutputStream) => Buffer.concat(chunks[stream]).toString(),
    order,
  };
}

/** Every runner keeps stdout and stderr apart, each in order, and tells which came last. */
export async function assertStreamsApart(run: (command: string) => Promise<{ out: ReturnType<typeof collector> }>): Promise<void> {
  const { out } = await run('echo out1; echo err1 >&2; sleep 0.2; echo out2; sleep 0.2; echo err2 >&2');
  assert.equal(out.text('stdout'), 'out1\nout2\n');
  assert.equal(out.text('stderr'), 'err1\nerr2\n');
  assert.deepEqual(out.order.slice(-2), ['stdout', 'stderr']);
}

/** Every runner delivers a burst of 5 MB on each stream whole, each stream apart. */
export async function assertBurstsWhole(run: (command: string) => Promise<{ result: { exitCode: number | null }; out: ReturnType<typeof collector> }>): Promise<void> {
  const size = 5 * 1024 * 1024;
  const { result, out } = await run(`yes 0123456789 | head -c ${size} & yes abc | head -c ${size} >&2; wait`);
  assert.equal(result.exitCode, 0);
  const expected = (line: string) => line.repeat(Math.ceil(size / line.length)).slice(0, size);
  assert.equal(out.text('stdout').length, size);
  assert.equal(out.text('stdout'), expected('0123456789\n'));
  assert.equal(out.text('stderr'), expected('abc\n'));
}

/**
 * A kill with no grace is KILL alone: the task's busy loop would run its TERM trap in the
 * moment between a TERM and a KILL sent after it. `dir` is the task's temp folder as the task
 * names it; `start` starts the script and resolves once `ready` is in that folder, with the
 * handle and the folder's path here.
 */
export async function assertNoGraceIsKillAlone(dir: string, start: (script: string) => Promise<{ handle: RunHandle; temp: string }>): Promise<RunHandle> {
  const { handle, temp } = await start(`trap 'echo > ${dir}/termed; exit 7' TERM\necho ready > ${dir}/ready\nwhile :; do :; done`);
  await handle.kill(0);
  const result = await handle.wait();
  assert.deepEqual([result.exitCode, result.signal], [null, 'SIGKILL']);
  assert.ok(!existsSync(join(temp, 'termed')), 'the task got a TERM');
  return handle;
}
