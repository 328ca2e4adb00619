// An execution whose kill fails: the real bare runner, behind a handle that refuses its
// first kill as a Docker engine in trouble would. The failure is logged, never thrown where
// nobody awaits it (which would crash the worker and, under `labq up`, the server), and the
// kill is tried again once the server's standing order comes back.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TaskInput, type Task } from '../shared/schemas/task.js';
import { until } from '../e2e/support/worker.js';
import { Execution, KILL_RETRY_MS, type Attach } from './execution.js';
import { NO_GRANT } from './grant.js';
import { ProgressBoard } from './progress.js';
import { ResourceCache } from './resourceCache.js';
import { ShellRunner } from './runners/shell.js';
import type { RunHandle, Runner, RunSpec } from './runners/types.js';
import { Slots } from './slots.js';
import { Spool, type Report } from './spool.js';
import { StateStore } from './state.js';
import { WorkFolders } from './workFolders.js';

function task(command: string): Task {
  return {
    ...TaskInput.parse({ command }), id: 1, name: null, container: null, output: null, workflow_id: null, step_id: null,
    key: null, parameters: null, status: 'assigned', paused: false, attempts: 1, execution_id: 1, submitted_at: new Date().toISOString(), submitted_by: null,
    updated_at: new Date().toISOString(), version: 1, memory_curve: null, retry_at: null, retry_base: 0,
  } as Task;
}

/** The real shell runner, whose handles refuse their first kill. */
class RefusingFirstKill implements Runner {
  readonly refused: string[] = [];
  private readonly shell = new ShellRunner();

  async start(spec: RunSpec): Promise<RunHandle> {
    const handle = await this.shell.start(spec);
    let first = true;
    return {
      ref: handle.ref,
      wait: () => handle.wait(),
      get suspended() {
        return handle.suspended;
      },
      suspend: () => handle.suspend(),
      resume: () => handle.resume(),
      kill: async (graceMs) => {
        if (first) {
          first = false;
          this.refused.push(handle.ref);
          throw new Error('(HTTP code 500) server error - cannot kill container: tried to kill container, but did not receive an exit event');
        }
        return handle.kill(graceMs);
      },
    };
  }
}

/** An execution's surroundings as the daemon makes them, in a temporary folder; `delivered` gets its reports. */
async function surroundings(t: { after: (fn: () => unknown) => void }, runner: Runner) {
  const dir = await mkdtemp(join(tmpdir(), 'labq-execution-test-'));
  const delivered: Report[] = [];
  const spool = new Spool(join(dir, 'spool'), async (_id, reports) => void delivered.push(...reports));
  await spool.open();
  // After-hooks run in the order they were added: the spool closes before its folder goes.
  t.after(() => spool.close());
  t.after(() => rm(dir, { recursive: true, force: true }));
  const state = new StateStore(join(dir, 'executions'));
  await state.open();
  const folders = new WorkFolders(join(dir, 'work'));
  folders.open();
  const logs: string[] = [];
  const context = {
    spool, progress: new ProgressBoard(), slots: new Slots(1), state, workDir: join(dir, 'work'), folders, resources: new ResourceCache({ dir: join(dir, 'cache'), log: () => undefined }), transfers: new Slots(8), cpus: 1, outputCapBytes: () => Infinity,
    runnerFor: () => runner, freed: () => undefined, log: (line: string) => logs.push(line),
  };
  return { dir, delivered, logs, context };
}

test('a kill that fails is logged and tried again; nothing is left unhandled', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));

  const runner = new RefusingFirstKill();
  const { dir, delivered, logs, context } = await surroundings(t, runner);
  const execution = new Execution(context, 7, 1, task('echo started; sleep 300'), NO_GRANT);

  await until('the task to run', async () => delivered.some((r) => r.kind === 'phase' && r.phase === 'running'));
  execution.kill(0);
  await until('the refused kill to be logged', async () => logs.some((l) => l.includes('execution 7: the kill failed: (HTTP code 500)')));
  assert.equal(runner.refused.length, 1);
  assert.ok(execution.killing, 'still counted as being killed for a while: polls do not spin on the order');

  // The server's order is still there at the next poll: the daemon calls kill() again.
  await until('the execution to take kill orders again', async () => !execution.killing, KILL_RETRY_MS * 3);
  execution.kill(0);
  await execution.done;
  const finish = delivered.find((r) => r.kind === 'finish');
  assert.equal(finish?.kind === 'finish' && finish.status, 'killed');
  assert.deepEqual(unhandled, []);
  // A bare execution's folders go back to the worker's pool, emptied, for the next one.
  assert.deepEqual(readdirSync(join(dir, 'work')), ['.free']);
  assert.equal(readdirSync(join(dir, 'work', '.free')).length, 1);
});

test('a failed download stops the others: none goes on writing into folders given back for another execution', async (t) => {
  let started: () => void;
  const endless = new Promise<void>((resolve) => (started = resolve));
  let aborted = false;
  // One input never ends; the other fails, but only once the first is under way.
  const slow = createServer((req, res) => {
    if (req.url === '/endless') {
      res.writeHead(200, { 'content-length': String(10 ** 9) });
      res.write('x');
      req.socket.on('close', () => (aborted = true));
      started();
    } else void endless.then(() => res.writeHead(404).end());
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    slow.closeAllConnections();
    return new Promise((resolve) => slow.close(resolve));
  });
  const { delivered, context } = await surroundings(t, new ShellRunner());
  const port = (slow.address() as { port: number }).port;
  const inputs = [`http://127.0.0.1:${port}/endless`, `http://127.0.0.1:${port}/missing`];
  const execution = new Execution(context, 8, 1, { ...task('true'), inputs }, NO_GRANT);
  await execution.done;
  const finish = delivered.find((r) => r.kind === 'finish');
  assert.equal(finish?.kind === 'finish' && finish.failureClass, 'download');
  await until('the endless download to be stopped', async () => aborted, 10_000);
});

test('a failed listing of the inputs stops the other listings: none goes on for an execution that has ended', async (t) => {
  let aborted = false;
  // Its HEAD never gets an answer; the folder input beside it fails at once (nothing there).
  const silent = createServer((req) => req.socket.on('close', () => (aborted = true)));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    silent.closeAllConnections();
    return new Promise((resolve) => silent.close(resolve));
  });
  const { dir, delivered, context } = await surroundings(t, new ShellRunner());
  const hanging = `http://127.0.0.1:${(silent.address() as { port: number }).port}/reads.fq`;
  const missing = pathToFileURL(join(dir, 'no-such-run')).href + '/';
  const execution = new Execution(context, 12, 1, { ...task('true'), inputs: [hanging, missing] }, NO_GRANT);
  await execution.done;
  const finish = delivered.find((r) => r.kind === 'finish');
  assert.equal(finish?.kind === 'finish' && finish.failureClass, 'download');
  await until('the hanging listing to be stopped', async () => aborted, 10_000);
});

test('a folder input whose content holds a name that another input delivers fails the task, naming both', async (t) => {
  const { dir, delivered, context } = await surroundings(t, new ShellRunner());
  const run = join(dir, 'run');
  await mkdir(join(run, 'idx'), { recursive: true });
  await writeFile(join(run, 'S1.fq'), 'from the run folder');
  await writeFile(join(run, 'idx', 'ref.fai'), 'index');
  await mkdir(join(dir, 'mirror'));
  await writeFile(join(dir, 'mirror', 'S1.fq'), 'from the mirror');
  await writeFile(join(dir, 'mirror', 'idx'), 'a file where the run folder has a folder');
  const folder = pathToFileURL(run).href + '/';
  const cases: [number, string, string, string][] = [
    [20, pathToFileURL(join(dir, 'mirror', 'S1.fq')).href, folder, 'inputs[1] ($1) delivers S1.fq to the input folder, as inputs[0] ($0) does'],
    [21, folder, pathToFileURL(join(dir, 'mirror', 'idx')).href, 'inputs[1] ($1) delivers idx to the input folder, as inputs[0] ($0) does'],
  ];
  for (const [id, first, second, why] of cases) {
    const execution = new Execution(context, id, 1, { ...task('true'), inputs: [first, second] }, NO_GRANT);
    await execution.done;
    const finish = delivered.find((r) => r.kind === 'finish' && r.executionId === id);
    assert.equal(finish?.kind === 'finish' && finish.failureClass, 'download');
    assert.equal(finish?.kind === 'finish' && finish.error, `${why.replace('$0', first).replace('$1', second)}: one would replace the other (rename one at its source, or take it as a resource with |mv:DIR)`);
  }
  // Folders that two inputs fill merge: nothing is replaced.
  await mkdir(join(dir, 'more', 'idx'), { recursive: true });
  await writeFile(join(dir, 'more', 'idx', 'ref.dict'), 'dict');
  const merging = new Execution(context, 22, 1, { ...task('ls "$INPUT/idx" > "$OUTPUT/listing"'), inputs: [folder, pathToFileURL(join(dir, 'more')).href + '/'] }, NO_GRANT);
  await merging.done;
  const finish = delivered.find((r) => r.kind === 'finish' && r.executionId === 22);
  assert.equal(finish?.kind === 'finish' && finish.status, 'succeeded', JSON.stringify(finish));
});

test('a download timeout fires though garbage is collected while the transfer waits', async (t) => {
  // A transfer allocates: collections come while it runs, which under Node 20 dropped a timeout
  // signal combined by AbortSignal.any, and the timeout with it.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const stalled = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(10 ** 9) });
    res.write('x');
  });
  await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    stalled.closeAllConnections();
    return new Promise((resolve) => stalled.close(resolve));
  });
  const { delivered, context } = await surroundings(t, new ShellRunner());
  const uri = `http://127.0.0.1:${(stalled.address() as { port: number }).port}/reads.fq`;
  const execution = new Execution(context, 9, 1, { ...task('true'), inputs: [uri], timeouts: { download: 1 } }, NO_GRANT);
  const collecting = setInterval(gc, 50);
  t.after(() => clearInterval(collecting));
  const ended = await Promise.race([execution.done.then(() => true), sleep(8000).then(() => false)]);
  assert.ok(ended, 'the download timeout never fired');
  const finish = delivered.find((r) => r.kind === 'finish');
  assert.equal(finish?.kind === 'finish' && finish.failureClass, 'download');
  assert.equal(finish?.kind === 'finish' && finish.error, `download of ${uri} timed out after 1 s`);
});

test('a re-attached container counts what the server already stored toward the output cap', async (t) => {
  const spooled = async (stored: number) => {
    const { delivered, context } = await surroundings(t, new ShellRunner());
    const capped = { ...context, outputCapBytes: () => 1000 };
    const handle: RunHandle = {
      ref: 'container', suspended: false, suspend: async () => undefined, resume: async () => undefined, kill: async () => undefined,
      wait: async () => ({ exitCode: 0, signal: null, peakMemoryBytes: null, cpuSeconds: null, oomKilled: false, error: null }),
    };
    const attach: Attach = async (onOutput, storedBytes) => {
      storedBytes(stored);
      onOutput('stdout', Buffer.from('more of the log\n'));
      return handle;
    };
    const x = { ...task('true'), container: 'alpine' };
    const execution = new Execution(capped, 9, 1, x, NO_GRANT, { state: { executionId: 9, attempt: 1, task: x, container: true }, attach });
    await execution.done;
    return delivered.filter((r) => r.kind === 'output').length;
  };
  assert.equal(await spooled(500), 1, 'under the cap: sent');
  assert.equal(await spooled(1001), 0, 'past the cap already: nothing more');
});


test('a task claimed ahead of a free slot counts as begun while it waits for one, and runs once a slot frees', async (t) => {
  const { delivered, context } = await surroundings(t, new ShellRunner());
  // Another task holds the worker's one slot.
  await context.slots.acquire();
  const execution = new Execution(context, 10, 1, task('true'), NO_GRANT);
  const first = await Promise.race([execution.begun.then(() => 'begun'), execution.done.then(() => 'ended'), sleep(10_000, 'still waiting', { ref: false })]);
  assert.equal(first, 'begun', 'the exchange that brought it need not wait for a slot to free');
  assert.ok(!delivered.some((r) => r.kind === 'phase'), 'nothing has run yet: no phase reported');
  context.slots.release();
  await execution.done;
  const finish = delivered.find((r) => r.kind === 'finish');
  assert.equal(finish?.kind === 'finish' && finish.status, 'succeeded');
  assert.ok(delivered.some((r) => r.kind === 'phase' && r.phase === 'running'));
});

test('with a slot free, a task counts as begun only once it has started', async (t) => {
  let startCalled!: () => void;
  const called = new Promise<void>((resolve) => (startCalled = resolve));
  let refuse!: (error: Error) => void;
  const starting: Runner = {
    start: () => {
      startCalled();
      return new Promise<RunHandle>((_resolve, reject) => (refuse = reject));
    },
  };
  const { delivered, context } = await surroundings(t, starting);
  const execution = new Execution(context, 11, 1, task('true'), NO_GRANT);
  let begun = false;
  void execution.begun.then(() => (begun = true));
  await called;
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(begun, false, 'it took its slot and is being started, not begun');
  refuse(new Error('no such program'));
  await execution.done;
  await execution.begun; // an execution that ended without a phase counts as begun
  const finish = delivered.find((r) => r.kind === 'finish');
  assert.equal(finish?.kind === 'finish' && finish.status, 'refused', 'a task that could not be started');
});

test('output that comes while the runner is still starting reaches the server after the running phase', async (t) => {
  // The real shell runner, whose start returns late, as Docker's may: the task has printed by then.
  const shell = new ShellRunner();
  const slowStart: Runner = {
    start: async (spec) => {
      const handle = await shell.start(spec);
      await sleep(300);
      return handle;
    },
  };
  const { delivered, context } = await surroundings(t, slowStart);
  const execution = new Execution(context, 12, 1, task('echo early'), NO_GRANT);
  await execution.done;
  const kinds = delivered.map((r) => (r.kind === 'phase' ? r.phase : r.kind));
  assert.ok(kinds.includes('output'), `its output is delivered: ${kinds}`);
  assert.ok(kinds.indexOf('running') < kinds.indexOf('output'), `running first, then the output: ${kinds}`);
  assert.equal(delivered.filter((r) => r.kind === 'output').map((r) => (r.kind === 'output' ? Buffer.from(r.data, 'base64').toString() : '')).join(''), 'early\n');
});
