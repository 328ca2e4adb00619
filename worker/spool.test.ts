// The spool against real files: order and batching, a 5 MB burst to a slow server, an
// outage, a restart with and without partial delivery, a crash-torn last line, independent
// executions, flush/pending and drop. `deliver` is a fake: it stands for our own call to the
// server, which is what the spool is handed in production.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { settles, until } from '../e2e/support/worker.js';
import { ShellRunner } from './runners/shell.js';
import type { ExecutionDirs } from './runners/types.js';
import { OUTPUT_REPORT_BYTES, Spool, type Report, type SpoolOptions } from './spool.js';

const scratch: string[] = [];
after(() => Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'labq-spool-test-'));
  scratch.push(dir);
  return dir;
}

/**
 * No linger here: these tests decide when each delivery starts; the linger has its own test.
 * Reports are written after 50 ms, the interval of output, as the tests of the disk expect.
 */
const fast: SpoolOptions = { retry: { initialMs: 5, maxMs: 20 }, lingerMs: 0, writeAfterMs: 50 };

/** A fake server: records every call, fails while `failing` says so. */
function server(failing: (executionId: number, reports: Report[]) => boolean = () => false) {
  const calls: { executionId: number; reports: Report[] }[] = [];
  const deliver = async (executionId: number, reports: Report[]) => {
    await sleep(1);
    if (failing(executionId, reports)) throw new Error('server unreachable');
    calls.push({ executionId, reports });
  };
  const received = (executionId?: number) =>
    calls.filter((c) => executionId === undefined || c.executionId === executionId).flatMap((c) => c.reports);
  return { calls, deliver, received };
}

async function openSpool(dir: string, deliver: (id: number, reports: Report[]) => Promise<void>, options: SpoolOptions = fast) {
  const spool = new Spool(dir, deliver, options);
  await spool.open();
  return spool;
}

const phase = (executionId: number, p: 'downloading' | 'running' | 'uploading'): Report => ({ kind: 'phase', executionId, phase: p });
const finish = (executionId: number): Report => ({
  kind: 'finish', executionId, status: 'succeeded', exitCode: 0, peakMemoryBytes: null, error: null,
});

function reassemble(reports: Report[], stream: 'stdout' | 'stderr'): Buffer {
  const parts = reports.filter((r) => r.kind === 'output' && r.stream === stream) as Extract<Report, { kind: 'output' }>[];
  parts.forEach((part, i) => assert.equal(part.seq, i, `${stream} seq ${part.seq} at position ${i}`));
  return Buffer.concat(parts.map((part) => Buffer.from(part.data, 'base64')));
}

test('reports are delivered in push order, pending ones batched into one call', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const fake = server();
  const spool = await openSpool(await tempDir(), async (id, reports) => {
    await gate;
    await fake.deliver(id, reports);
  });
  spool.push(phase(1, 'downloading'));
  await sleep(20); // the first call is now in flight, held at the gate
  spool.push(phase(1, 'running'));
  spool.output(1, 'stdout', Buffer.from('hello '));
  spool.output(1, 'stdout', Buffer.from('world\n'));
  spool.output(1, 'stderr', Buffer.from('warning\n'));
  spool.output(1, 'stdout', Buffer.from('more\n'));
  spool.push(phase(1, 'uploading'));
  spool.push(finish(1));
  release();
  await spool.flush(1);

  assert.deepEqual(fake.calls.map((c) => c.reports.length), [1, 6]);
  assert.deepEqual(fake.received().map((r) => (r.kind === 'output' ? `${r.stream}#${r.seq}` : r.kind === 'phase' ? r.phase : r.kind)),
    ['downloading', 'running', 'stdout#0', 'stderr#0', 'stdout#1', 'uploading', 'finish']);
  assert.equal(reassemble(fake.received(), 'stdout').toString(), 'hello world\nmore\n');
  assert.equal(spool.pending(), 0);
  await spool.close();
});

test('batches respect maxBatchBytes, a larger report still goes alone', async () => {
  const fake = server();
  const dir = await tempDir();
  const spool = await openSpool(dir, fake.deliver, { ...fast, maxBatchBytes: 10_000 });
  spool.output(1, 'stdout', Buffer.alloc(20_000, 'a'));
  for (let i = 0; i < 20; i++) spool.output(1, i % 2 ? 'stderr' : 'stdout', Buffer.alloc(1000, 'b'));
  await spool.flush();
  for (const call of fake.calls) {
    const bytes = call.reports.reduce((sum, r) => sum + Buffer.byteLength(JSON.stringify(r)) + 1, 0);
    assert.ok(call.reports.length === 1 || bytes <= 10_000, `a batch of ${call.reports.length} reports has ${bytes} bytes`);
  }
  assert.equal(fake.received().length, 20, 'the 20 kB chunk and the next one, both stdout, make one report');
  await spool.close();
});

test('a 5 MB burst to a slow server arrives complete and in order', async () => {
  const fake = server();
  const dir = await tempDir();
  // The backlog that builds up is read back from the log batch by batch, and compacted on the way.
  const spool = await openSpool(dir, async (id, reports) => {
    await sleep(20);
    await fake.deliver(id, reports);
  }, { ...fast, maxBatchBytes: 600 * 1024 });
  const sent = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  let total = 0;
  while (total < 5 * 1024 * 1024) {
    const stream = Math.random() < 0.8 ? 'stdout' : 'stderr';
    const chunk = randomBytes(1 + Math.floor(Math.random() * 100_000));
    sent[stream].push(chunk);
    spool.output(7, stream, chunk);
    total += chunk.length;
  }
  spool.push(finish(7));
  await spool.flush(7);

  const received = fake.received(7);
  for (const report of received) {
    if (report.kind === 'output') assert.ok(Buffer.from(report.data, 'base64').length <= OUTPUT_REPORT_BYTES);
  }
  assert.ok(reassemble(received, 'stdout').equals(Buffer.concat(sent.stdout)), 'stdout intact');
  assert.ok(reassemble(received, 'stderr').equals(Buffer.concat(sent.stderr)), 'stderr intact');
  assert.equal(received.at(-1)?.kind, 'finish');
  assert.ok(fake.calls.length > 1);
  assert.deepEqual(await readdir(dir), [], 'files are deleted once the finish report is delivered');
  await spool.close();
});

test('an outage delays delivery; afterwards everything arrives once, in order', async () => {
  let down = true;
  const errors: unknown[] = [];
  const fake = server(() => down);
  const spool = await openSpool(await tempDir(), fake.deliver, { ...fast, onError: (e) => errors.push(e) });
  spool.push(phase(3, 'running'));
  for (let i = 0; i < 50; i++) {
    spool.output(3, 'stdout', Buffer.from(`line ${i}\n`));
    if (i % 10 === 0) await sleep(60); // several sealed reports pile up during the outage
  }
  await sleep(100);
  assert.equal(fake.calls.length, 0);
  assert.ok(spool.pending(3) > 3);
  assert.ok(errors.length > 2, 'failed deliveries are reported and retried');
  down = false;
  spool.push(finish(3));
  await spool.flush(3);

  const received = fake.received(3);
  assert.equal(received[0].kind, 'phase');
  assert.equal(received.at(-1)?.kind, 'finish');
  assert.equal(reassemble(received, 'stdout').toString(), Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join(''));
  assert.equal(spool.pending(), 0);
  await spool.close();
});

test('a restart delivers what the previous process could not, and sequence numbers continue', async () => {
  const dir = await tempDir();
  const first = await openSpool(dir, server(() => true).deliver);
  first.push(phase(5, 'running'));
  first.output(5, 'stdout', Buffer.from('before '));
  first.output(5, 'stderr', Buffer.from('oops '));
  first.output(5, 'stdout', Buffer.from('restart '));
  await first.close();

  const fake = server();
  const second = await openSpool(dir, fake.deliver);
  assert.equal(second.nextSeq(5, 'stdout'), 2);
  assert.equal(second.nextSeq(5, 'stderr'), 1);
  second.output(5, 'stdout', Buffer.from('after'));
  second.push(finish(5));
  await second.flush();
  const received = fake.received(5);
  assert.equal(received[0].kind, 'phase');
  assert.equal(reassemble(received, 'stdout').toString(), 'before restart after');
  assert.equal(reassemble(received, 'stderr').toString(), 'oops ');
  await second.close();
  assert.deepEqual(await readdir(dir), []);
});

test('after a partial delivery, a restart sends only the rest, even past a compaction', async () => {
  const dir = await tempDir();
  const before = server();
  let budget = 10; // deliveries that succeed before the server goes away
  const first = await openSpool(dir, async (id, reports) => {
    if (budget-- <= 0) throw new Error('server unreachable');
    await before.deliver(id, reports);
  }, { ...fast, maxBatchBytes: 400 * 1024 });
  const sent: Buffer[] = [];
  for (let i = 0; i < 40; i++) sent.push(randomBytes(100_000));
  for (const chunk of sent) first.output(9, 'stdout', chunk);
  while (budget > 0) await sleep(10);
  first.output(9, 'stdout', Buffer.from('tail'));
  await sleep(100);
  await first.close();

  const afterwards = server();
  const second = await openSpool(dir, afterwards.deliver);
  await second.flush();
  const all = [...before.received(9), ...afterwards.received(9)];
  assert.ok(afterwards.received(9).length > 0 && before.received(9).length > 0);
  assert.ok(reassemble(all, 'stdout').equals(Buffer.concat([...sent, Buffer.from('tail')])), 'nothing lost, nothing twice');
  assert.equal(second.nextSeq(9, 'stdout'), all.length);
  await second.close();
});

test('a line torn by a crash is skipped, the rest is delivered', async () => {
  const dir = await tempDir();
  const first = await openSpool(dir, server(() => true).deliver);
  first.push(phase(4, 'running'));
  first.push(phase(4, 'uploading'));
  await first.close();
  await appendFile(join(dir, '4.jsonl'), '{"kind":"finish","executionId":4,"sta');

  const errors: unknown[] = [];
  const fake = server();
  const second = await openSpool(dir, fake.deliver, { ...fast, onError: (e) => errors.push(e) });
  second.push(finish(4));
  await second.flush();
  assert.deepEqual(fake.received(4).map((r) => r.kind), ['phase', 'phase', 'finish']);
  assert.equal(errors.length, 1);
  await second.close();
  assert.deepEqual(await readdir(dir), []);
});

test('one stuck execution does not hold up the others', async () => {
  const fake = server((id) => id === 1);
  const spool = await openSpool(await tempDir(), fake.deliver);
  spool.push(phase(1, 'running'));
  spool.push(phase(2, 'running'));
  spool.output(2, 'stdout', Buffer.from('two'));
  spool.push(finish(2));
  await spool.flush(2);
  assert.equal(fake.received(2).length, 3);
  assert.equal(fake.received(1).length, 0);
  assert.equal(spool.pending(1), 1);
  assert.equal(spool.pending(2), 0);
  await spool.close();
});

test('flush and pending count output still being collected', async () => {
  const fake = server();
  const spool = await openSpool(await tempDir(), fake.deliver, { ...fast, flushIntervalMs: 10_000 });
  spool.output(6, 'stdout', Buffer.from('partial'));
  assert.equal(spool.pending(6), 1);
  assert.equal(spool.pending(), 1);
  await spool.flush(6);
  assert.equal(spool.pending(6), 0);
  assert.equal(reassemble(fake.received(6), 'stdout').toString(), 'partial');
  await spool.flush(); // nothing pending: resolves at once
  await spool.close();
});

test('close rejects flushes still waiting; the reports stay on disk', async () => {
  const dir = await tempDir();
  const spool = await openSpool(dir, server(() => true).deliver);
  spool.push(phase(8, 'running'));
  const rejected = assert.rejects(spool.flush(8), /closed/);
  await spool.close();
  await rejected;
  assert.throws(() => spool.push(phase(8, 'uploading')), /closed/);
  assert.deepEqual(await readdir(dir), ['8.jsonl']);
});

test('output of a task that outlives its stopping worker is dropped after close, without a throw in its stream', async () => {
  const dir = await tempDir();
  const spool = await openSpool(dir, server(() => true).deliver);
  const dirs = Object.fromEntries(await Promise.all(['input', 'output', 'temp', 'resource'].map(async (k) => {
    await mkdir(join(dir, k));
    return [k, join(dir, k)];
  }))) as unknown as ExecutionDirs;
  const chunks: number[] = [];
  const task = await new ShellRunner().start({
    executionId: 9, command: 'while :; do echo tick; sleep 0.01; done', shell: 'sh', containerOptions: [], env: {}, dirs, cpus: 1,
    onOutput: (stream, chunk) => {
      chunks.push(chunk.length);
      spool.output(9, stream, chunk);
    },
  });
  try {
    await until('output before the close', async () => chunks.length > 0);
    await spool.close();
    const spooled = (await readFile(join(dir, '9.jsonl'))).length;
    const seen = chunks.length;
    await until('output after the close', async () => chunks.length > seen + 3);
    assert.equal((await readFile(join(dir, '9.jsonl'))).length, spooled, 'nothing spooled after the close');
  } finally {
    await task.kill(0);
  }
});

test('drop forgets an execution and its files, others are untouched', async () => {
  const dir = await tempDir();
  const fake = server(() => true);
  const spool = await openSpool(dir, fake.deliver);
  spool.push(phase(11, 'running'));
  spool.push(phase(12, 'running'));
  spool.output(11, 'stdout', Buffer.from('x'));
  const waiting = spool.flush(11);
  await sleep(100);
  assert.deepEqual((await readdir(dir)).sort(), ['11.jsonl', '12.jsonl']);
  await spool.drop(11);
  await waiting;
  assert.equal(spool.pending(11), 0);
  assert.equal(spool.pending(12), 1);
  assert.deepEqual(await readdir(dir), ['12.jsonl']);
  await spool.close();

  const reopened = await openSpool(dir, server(() => true).deliver);
  assert.equal(reopened.pending(11), 0);
  assert.equal(reopened.pending(12), 1);
  await reopened.close();
});

test('a task that ends within the linger sends its phase, output and result in one call', async () => {
  const fake = server();
  const spool = await openSpool(await tempDir(), fake.deliver, { ...fast, lingerMs: 200 });
  spool.push(phase(1, 'running'));
  spool.output(1, 'stdout', Buffer.from('done\n'));
  spool.push(finish(1));
  await spool.flush(1);
  assert.equal(fake.calls.length, 1, 'one call');
  assert.deepEqual(fake.calls[0]!.reports.map((r) => r.kind), ['phase', 'output', 'finish']);

  // A longer task: its phase goes once the linger is over, without waiting for the result.
  spool.push(phase(2, 'running'));
  await until('the phase to go out on its own', async () => fake.received(2).length > 0);
  spool.push(finish(2));
  await spool.flush(2);
  assert.deepEqual(fake.calls.filter((c) => c.executionId === 2).map((c) => c.reports.map((r) => r.kind)), [['phase'], ['finish']]);
  await spool.close();
});

test('reports delivered within the tick never touch the disk; one the server is slow to take is written meanwhile', async () => {
  const dir = await tempDir();
  const seen: string[][] = [];
  let slow = false;
  const spool = await openSpool(dir, async (_id, reports) => {
    seen.push(await readdir(dir));
    if (slow) await sleep(2000);
    void reports;
  }, { ...fast, flushIntervalMs: 50 });
  spool.push(phase(1, 'running'));
  spool.output(1, 'stdout', Buffer.from('quick\n'));
  spool.push(finish(1));
  await spool.flush(1);
  assert.deepEqual(seen, [[]], 'delivered from memory: no file when it went');
  assert.deepEqual(await readdir(dir), []);

  slow = true;
  spool.push(phase(2, 'running'));
  spool.push(finish(2));
  await sleep(500);
  assert.deepEqual(await readdir(dir), ['2.jsonl'], 'on disk within the tick while the server takes its time');
  await spool.flush(2);
  assert.deepEqual(await readdir(dir), [], 'and gone once delivered');
  await spool.close();
});

test('output of an execution still going, delivered from memory, leaves nothing on disk', async () => {
  const dir = await tempDir();
  const fake = server();
  const spool = await openSpool(dir, fake.deliver);
  spool.push(phase(3, 'running'));
  spool.output(3, 'stdout', Buffer.from('one'));
  await spool.flush(3);
  spool.output(3, 'stderr', Buffer.from('two'));
  await spool.flush(3);
  assert.equal(fake.received(3).length, 3);
  assert.deepEqual(await readdir(dir), [], 'no file per running task: a re-attach numbers its output after the server\'s count');
  assert.equal(spool.nextSeq(3, 'stdout'), 1, 'the numbers go on in this process');
  await spool.close();
});

test('output taken up from another process is numbered after what the server has seen, never below what this spool used', async () => {
  const dir = await tempDir();
  const fake = server();
  const spool = await openSpool(dir, fake.deliver);
  spool.resumeSeq(4, { stdout: 3, stderr: 1 });
  spool.output(4, 'stdout', Buffer.from('four'));
  spool.output(4, 'stderr', Buffer.from('err'));
  await spool.flush(4);
  assert.deepEqual(fake.received(4).map((r) => r.kind === 'output' && [r.stream, r.seq]), [['stdout', 3], ['stderr', 1]]);
  spool.resumeSeq(4, { stdout: 0, stderr: 0 });
  assert.equal(spool.nextSeq(4, 'stdout'), 4, 'a lower count does not move it back');
  spool.output(4, 'stdout', Buffer.from('more'));
  assert.throws(() => spool.resumeSeq(4, { stdout: 9, stderr: 9 }), /already being collected/);
  await spool.close();
});

test('a report pushed just before another lane\'s tick still has its whole interval to be delivered from memory', async () => {
  // Lane 1's tick comes at 600 ms, while lane 2's delivery runs from 450 to 850 ms, before its
  // own tick at 1,050: wide margins, so that a stalled process does not merge the two.
  const dir = await tempDir();
  const seen: string[][] = [];
  const spool = await openSpool(dir, async (id) => {
    if (id === 1) return sleep(3000);
    await sleep(400);
    seen.push(await readdir(dir));
  }, { ...fast, flushIntervalMs: 600, writeAfterMs: 600 });
  spool.push(phase(1, 'running'));
  await sleep(450);
  spool.push(phase(2, 'running'));
  spool.push(finish(2));
  await spool.flush(2);
  assert.deepEqual(seen, [['1.jsonl']], 'the first lane was written at its tick, the second not: it was delivered within its own interval');
  spool.push(finish(1));
  await spool.flush(1);
  await spool.close();
});

test('a write that failed is tried again at the next tick, though deliveries from memory keep failing', async () => {
  const dir = await tempDir();
  const errors: unknown[] = [];
  const spool = await openSpool(dir, server(() => true).deliver, { ...fast, flushIntervalMs: 20, onError: (e) => errors.push(e) });
  // Its log's name taken by a folder: the append fails until it is gone.
  await mkdir(join(dir, '1.jsonl'));
  spool.push(finish(1));
  await until('the write to fail', async () => errors.some((e) => (e as NodeJS.ErrnoException).code === 'EISDIR'));
  await rm(join(dir, '1.jsonl'), { recursive: true });
  await until('the report to be on disk', async () => (await readFile(join(dir, '1.jsonl'), 'utf8').catch(() => '')).includes('"finish"'));
  await spool.close();
});

test('an append torn part way, whose truncate failed too, is cut off before the next append', async (t) => {
  const dir = await tempDir();
  const errors: unknown[] = [];
  let down = true;
  const fake = server(() => down);
  const spool = await openSpool(dir, fake.deliver, { ...fast, onError: (e) => errors.push(e) });
  const log = join(dir, '4.jsonl');
  spool.push(phase(4, 'running'));
  await until('the first report on disk', async () => (await readFile(log, 'utf8').catch(() => '')).includes('"running"'));
  // The disk fails: half of each append lands, then an error, and the truncate that would cut it off fails too.
  const append = fs.appendFileSync;
  const ioError = () => Object.assign(new Error('simulated I/O error'), { code: 'EIO' });
  t.mock.method(fs, 'appendFileSync', (path: string, data: string) => {
    append(path, data.slice(0, 9));
    throw ioError();
  });
  t.mock.method(fs, 'truncateSync', () => {
    throw ioError();
  });
  syncBuiltinESMExports();
  spool.push(phase(4, 'uploading'));
  await until('the append to fail', async () => errors.some((e) => (e as NodeJS.ErrnoException).code === 'EIO'));
  t.mock.restoreAll();
  syncBuiltinESMExports();
  await until('the report to be on disk', async () => (await readFile(log, 'utf8').catch(() => '')).includes('"uploading"'));
  assert.deepEqual(
    (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line).phase),
    ['running', 'uploading'],
    'the log holds whole lines only',
  );
  down = false;
  spool.push(finish(4));
  await settles('the delivery of everything', spool.flush(4), 10_000);
  assert.deepEqual(fake.received(4).map((r) => (r.kind === 'phase' ? r.phase : r.kind)), ['running', 'uploading', 'finish']);
  await spool.close();
});

test('a lane not due at a tick is written when it is due, not a whole interval later', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const dir = await tempDir();
  const spool = await openSpool(dir, server(() => true).deliver, { ...fast, flushIntervalMs: 200, writeAfterMs: 200 });
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  spool.output(1, 'stdout', Buffer.from('collected'));
  t.mock.timers.tick(150);
  spool.push(phase(2, 'running'));
  t.mock.timers.tick(50); // 200: the output of 1 is sealed and written, 2 is due at 350
  for (let i = 0; i < 5; i++) await settle();
  assert.deepEqual((await readdir(dir)).sort(), ['1.jsonl']);
  t.mock.timers.tick(150); // 350
  for (let i = 0; i < 5; i++) await settle();
  assert.deepEqual((await readdir(dir)).sort(), ['1.jsonl', '2.jsonl']);
  t.mock.timers.reset();
  await spool.close();
});

test('by default output goes out after 50 ms, and a report the server has not taken is written after a second', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const dir = await tempDir();
  const sent: Report[][] = [];
  // The server takes its time: nothing is ever delivered.
  const spool = await openSpool(dir, (_id, reports) => {
    sent.push(reports);
    return new Promise(() => {});
  }, { retry: fast.retry, lingerMs: 0 });
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  spool.push(phase(1, 'running'));
  await settle();
  t.mock.timers.tick(600);
  spool.output(2, 'stdout', Buffer.from('line\n'));
  t.mock.timers.tick(50); // 650: the output of 2 is sealed and sent, nothing is written yet
  await settle();
  assert.deepEqual(sent.map((reports) => reports.map((r) => r.kind)), [['phase'], ['output']]);
  assert.deepEqual(await readdir(dir), []);
  t.mock.timers.tick(350); // 1000: the phase of 1 has waited a second
  await settle();
  assert.deepEqual(await readdir(dir), ['1.jsonl']);
  t.mock.timers.tick(600); // 1600: the output of 2, sealed at 650 from a chunk of 600
  await settle();
  assert.deepEqual((await readdir(dir)).sort(), ['1.jsonl', '2.jsonl']);
  t.mock.timers.reset();
  await spool.close();
});
