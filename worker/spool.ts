// The worker's outbox: every report the server must receive about an execution (output chunks,
// phase changes, the final result) goes through here, so that a server outage of minutes or a
// worker restart loses nothing and reorders nothing.
//
// On disk, per execution, in `dir`:
// - `<id>.jsonl`: the reports, one JSON line each, in push order, appended every ~50 ms (no
//   fsync: we guard against the worker process dying, not the machine).
// - `<id>.state.json`: `{ head, next }`, replaced atomically: `head` is the byte offset of the
//   first undelivered line, `next` the next sequence number per output stream, which must
//   survive the lines that carried the earlier ones.
// Delivered lines are not rewritten away one batch at a time (a long backlog would be copied
// over and over): `head` moves forward, the file is truncated once everything is delivered,
// compacted once the delivered prefix outweighs the rest, and deleted after the finish report.
// Every step leaves the files so that a crash at any point can only cause a redelivery, which
// the server absorbs (output is deduplicated by (execution, stream, seq); phase and finish are
// idempotent), never a loss.
//
// Delivery runs one loop per execution (so a stuck one never blocks the others): write what is
// buffered, then send all pending reports in order, up to maxBatchBytes per call, retrying with
// exponential backoff until it succeeds or the spool is closed. A report reaches the disk
// before it is sent. Memory stays bounded: past maxMemoryBytes per execution, pending reports
// live only in the file and are read back when delivery reaches them.
//
// API:
// - open(): loads what a previous process left behind and resumes its delivery; call first.
// - output(): collects task output, sealed into reports of at most OUTPUT_REPORT_BYTES when the
//   stream changes, the size is reached or at the next tick (every flushIntervalMs). Chunks are
//   kept by reference until sealed, so they must not be modified afterwards.
// - push(): any report; output reports pushed directly carry their own seq, which nextSeq()
//   (a peek, not an allocation) then moves past; don't mix them with output() for one
//   execution. A finish report is the last of an execution; once it is delivered the
//   execution is forgotten.
// - flush(): resolves once everything pushed so far (for one execution, or all) is delivered.
// - pending(): undelivered reports, output still being collected counting as one.
// - drop(): forgets an execution and its files. close(): writes what is buffered, stops.

import { appendFile, mkdir, open as openFile, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputStream } from './runners/types.js';

export type Report =
  | { kind: 'output'; executionId: number; stream: OutputStream; seq: number; data: string /* base64 */ }
  | { kind: 'phase'; executionId: number; phase: 'downloading' | 'running' | 'uploading' }
  | {
      kind: 'finish'; executionId: number; status: 'succeeded' | 'failed' | 'killed' | 'refused';
      exitCode: number | null; peakMemoryBytes: number | null; error: string | null;
    };

export type Deliver = (executionId: number, reports: Report[]) => Promise<void>;

export interface SpoolOptions {
  /** Serialized size of one deliver call; a single larger report still goes alone. */
  maxBatchBytes?: number;
  /** Pending reports held in memory per execution; the rest waits in its file. */
  maxMemoryBytes?: number;
  /** How often collected output is sealed and buffered reports are written. */
  flushIntervalMs?: number;
  retry?: { initialMs: number; maxMs: number };
  /** Failed deliveries and disk errors; the spool keeps retrying, this is for logs. */
  onError?: (error: unknown) => void;
}

/** Raw bytes of output per report: small enough for a snappy live view, large enough to batch well. */
export const OUTPUT_REPORT_BYTES = 256 * 1024;
/** Buffered reports past this size are written at once rather than at the next tick. */
const WRITE_AHEAD_BYTES = 1024 * 1024;
/** A delivered prefix smaller than this is never worth compacting away. */
const COMPACT_MIN_BYTES = 1024 * 1024;
const READ_CHUNK_BYTES = 256 * 1024;

interface Entry {
  report: Report;
  /** The JSON line while it is not on disk yet, null once written. */
  line: string | null;
  /** Size of the line in the file. */
  bytes: number;
}

interface Waiter { target: number; resolve: () => void; reject: (error: Error) => void }

class Lane {
  readonly log: string;
  readonly state: string;
  next: Record<OutputStream, number> = { stdout: 0, stderr: 0 };
  collecting: { stream: OutputStream; chunks: Buffer[]; bytes: number } | null = null;
  unwritten: Entry[] = [];
  unwrittenBytes = 0;
  /** The head of the pending queue, in order; all of it unless `spilled`. */
  window: Entry[] = [];
  windowBytes = 0;
  /** Some pending reports are only in the file, right after the window. */
  spilled = false;
  pending = 0;
  pushed = 0;
  delivered = 0;
  waiters: Waiter[] = [];
  finished = false;
  /** Byte offsets in the log: first undelivered line, end of what was appended. */
  head = 0;
  fileBytes = 0;
  /** File operations run one at a time, in order. */
  io: Promise<void>;
  writeQueued = false;
  pumping = false;
  wake: (() => void) | null = null;
  /** Dropped or finished: its loop stops and its files are no longer ours. */
  gone = false;

  constructor(dir: string, readonly id: number, after: Promise<void>) {
    this.log = join(dir, `${id}.jsonl`);
    this.state = join(dir, `${id}.state.json`);
    this.io = after;
  }
}

export class Spool {
  private readonly lanes = new Map<number, Lane>();
  /** File removals of dropped executions, which a new lane for the same id must wait for. */
  private readonly retiring = new Map<number, Promise<void>>();
  private readonly maxBatchBytes: number;
  private readonly maxMemoryBytes: number;
  private readonly flushIntervalMs: number;
  private readonly retry: { initialMs: number; maxMs: number };
  private readonly onError: (error: unknown) => void;
  private timer: NodeJS.Timeout | null = null;
  private opened = false;
  private closed = false;

  constructor(private readonly dir: string, private readonly deliver: Deliver, options: SpoolOptions = {}) {
    this.maxBatchBytes = options.maxBatchBytes ?? 4 * 1024 * 1024;
    this.maxMemoryBytes = options.maxMemoryBytes ?? 8 * 1024 * 1024;
    this.flushIntervalMs = options.flushIntervalMs ?? 50;
    this.retry = options.retry ?? { initialMs: 250, maxMs: 5000 };
    this.onError = options.onError ?? (() => {});
  }

  async open(): Promise<void> {
    if (this.opened) throw new Error('the spool is already open');
    await mkdir(this.dir, { recursive: true });
    const names = new Set(await readdir(this.dir));
    for (const name of names) {
      const id = /^(\d+)\.jsonl$/.exec(name)?.[1];
      if (id !== undefined) await this.recover(Number(id));
      else if (name.endsWith('.tmp') || (/^\d+\.state\.json$/.test(name) && !names.has(name.replace('.state.json', '.jsonl')))) {
        await rm(join(this.dir, name), { force: true });
      }
    }
    this.opened = true;
    for (const lane of this.lanes.values()) void this.pump(lane);
  }

  nextSeq(executionId: number, stream: OutputStream): number {
    return this.lanes.get(executionId)?.next[stream] ?? 0;
  }

  push(report: Report): void {
    this.assertUsable();
    const lane = this.lane(report.executionId);
    this.seal(lane);
    this.enqueue(lane, report);
  }

  output(executionId: number, stream: OutputStream, chunk: Buffer): void {
    this.assertUsable();
    const lane = this.lane(executionId);
    if (lane.collecting && lane.collecting.stream !== stream) this.seal(lane);
    let rest = chunk;
    while (rest.length > 0) {
      const collecting = (lane.collecting ??= { stream, chunks: [], bytes: 0 });
      const part = rest.subarray(0, OUTPUT_REPORT_BYTES - collecting.bytes);
      collecting.chunks.push(part);
      collecting.bytes += part.length;
      rest = rest.subarray(part.length);
      if (collecting.bytes === OUTPUT_REPORT_BYTES) this.seal(lane);
    }
    this.scheduleTick();
  }

  async flush(executionId?: number): Promise<void> {
    this.assertUsable();
    if (executionId === undefined) {
      await Promise.all([...this.lanes.keys()].map((id) => this.flush(id)));
      return;
    }
    const lane = this.lanes.get(executionId);
    if (!lane) return;
    this.seal(lane);
    if (lane.delivered >= lane.pushed) return;
    await new Promise<void>((resolve, reject) => lane.waiters.push({ target: lane.pushed, resolve, reject }));
  }

  pending(executionId?: number): number {
    const count = (lane: Lane) => lane.pending + (lane.collecting ? 1 : 0);
    if (executionId !== undefined) {
      const lane = this.lanes.get(executionId);
      return lane ? count(lane) : 0;
    }
    let total = 0;
    for (const lane of this.lanes.values()) total += count(lane);
    return total;
  }

  async drop(executionId: number): Promise<void> {
    const lane = this.lanes.get(executionId);
    if (!lane) return;
    this.retire(lane);
    lane.wake?.();
    const removal = this.io(lane, () => removeFiles(lane));
    const settled = removal.catch(() => {});
    this.retiring.set(executionId, settled);
    try {
      await removal;
    } finally {
      if (this.retiring.get(executionId) === settled) this.retiring.delete(executionId);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const lane of this.lanes.values()) this.seal(lane);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const closing = new Error('the spool was closed before everything was delivered');
    await Promise.all([...this.lanes.values()].map((lane) => {
      lane.wake?.();
      for (const waiter of lane.waiters.splice(0)) waiter.reject(closing);
      return this.io(lane, () => this.writeOut(lane)).catch(this.onError);
    }));
  }

  private assertUsable(): void {
    if (!this.opened) throw new Error('the spool is not open yet');
    if (this.closed) throw new Error('the spool is closed');
  }

  private lane(id: number): Lane {
    let lane = this.lanes.get(id);
    if (!lane) {
      lane = new Lane(this.dir, id, this.retiring.get(id) ?? Promise.resolve());
      this.lanes.set(id, lane);
    }
    return lane;
  }

  /** Turns the output collected so far into a report. */
  private seal(lane: Lane): void {
    const collecting = lane.collecting;
    if (!collecting) return;
    lane.collecting = null;
    const data = Buffer.concat(collecting.chunks, collecting.bytes).toString('base64');
    this.enqueue(lane, { kind: 'output', executionId: lane.id, stream: collecting.stream, seq: lane.next[collecting.stream], data });
  }

  private enqueue(lane: Lane, report: Report): void {
    const line = JSON.stringify(report) + '\n';
    const entry: Entry = { report, line, bytes: Buffer.byteLength(line) };
    lane.unwritten.push(entry);
    lane.unwrittenBytes += entry.bytes;
    this.admit(lane, entry);
    lane.pushed++;
    if (lane.unwrittenBytes >= WRITE_AHEAD_BYTES) this.write(lane);
    else this.scheduleTick();
    void this.pump(lane);
  }

  /** Counts a pending report and keeps it in memory if the window has room. */
  private admit(lane: Lane, entry: Entry): void {
    if (entry.report.kind === 'output') {
      const { stream, seq } = entry.report;
      lane.next[stream] = Math.max(lane.next[stream], seq + 1);
    }
    lane.pending++;
    if (!lane.spilled && lane.windowBytes + entry.bytes <= this.maxMemoryBytes) {
      lane.window.push(entry);
      lane.windowBytes += entry.bytes;
    } else {
      lane.spilled = true;
    }
  }

  private scheduleTick(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      for (const lane of this.lanes.values()) {
        this.seal(lane);
        if (lane.unwritten.length > 0) this.write(lane);
      }
    }, this.flushIntervalMs);
  }

  /** Writes buffered reports soon, even while delivery is waiting out an outage. */
  private write(lane: Lane): void {
    if (lane.writeQueued) return;
    lane.writeQueued = true;
    this.io(lane, () => {
      lane.writeQueued = false;
      return this.writeOut(lane);
    }).catch(this.onError);
  }

  private io<T>(lane: Lane, op: () => Promise<T>): Promise<T> {
    const result = lane.io.then(op);
    lane.io = result.then(() => {}, () => {});
    return result;
  }

  private stopped(lane: Lane): boolean {
    return this.closed || lane.gone;
  }

  private async pump(lane: Lane): Promise<void> {
    if (lane.pumping) return;
    lane.pumping = true;
    let delay = this.retry.initialMs;
    try {
      while (!this.stopped(lane) && lane.pending > 0) {
        try {
          const batch = await this.io(lane, () => this.nextBatch(lane));
          if (this.stopped(lane)) return;
          await this.deliver(lane.id, batch.map((entry) => entry.report));
          if (this.stopped(lane)) return;
          delay = this.retry.initialMs;
          this.settle(lane, batch);
        } catch (error) {
          if (this.stopped(lane)) return;
          this.onError(error);
          await this.sleep(lane, delay);
          delay = Math.min(delay * 2, this.retry.maxMs);
          continue;
        }
        // Past this point the batch is delivered: a failure to record it only risks a redelivery.
        await this.io(lane, () => this.acknowledge(lane)).catch(this.onError);
        this.wakeWaiters(lane);
      }
    } finally {
      lane.pumping = false;
    }
  }

  private sleep(lane: Lane, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        lane.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      lane.wake = done;
    });
  }

  /** The written reports at the head of the queue, up to maxBatchBytes (at least one). */
  private async nextBatch(lane: Lane): Promise<Entry[]> {
    await this.writeOut(lane);
    if (lane.window.length === 0 && lane.spilled) await this.load(lane);
    const batch: Entry[] = [];
    let bytes = 0;
    for (const entry of lane.window) {
      if (entry.line !== null || (batch.length > 0 && bytes + entry.bytes > this.maxBatchBytes)) break;
      batch.push(entry);
      bytes += entry.bytes;
    }
    return batch;
  }

  private settle(lane: Lane, batch: Entry[]): void {
    lane.window.splice(0, batch.length);
    for (const entry of batch) {
      lane.windowBytes -= entry.bytes;
      lane.head += entry.bytes;
      if (entry.report.kind === 'finish') lane.finished = true;
    }
    lane.pending -= batch.length;
    lane.delivered += batch.length;
  }

  private wakeWaiters(lane: Lane): void {
    lane.waiters = lane.waiters.filter((waiter) => {
      if (waiter.target > lane.delivered) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Records delivered lines on disk: moves `head`, or truncates, compacts, or deletes the files. */
  private async acknowledge(lane: Lane): Promise<void> {
    if (this.stopped(lane)) return;
    if (lane.finished && lane.pending === 0 && !lane.collecting) {
      await removeFiles(lane);
      lane.head = lane.fileBytes = 0;
      if (lane.pending === 0 && !lane.collecting) this.retire(lane);
    } else if (lane.head === lane.fileBytes) {
      await this.saveState(lane, 0);
      await truncate(lane.log, 0);
      lane.head = lane.fileBytes = 0;
    } else if (lane.head >= COMPACT_MIN_BYTES && lane.head >= lane.fileBytes - lane.head) {
      await this.rewrite(lane);
    } else {
      await this.saveState(lane, lane.head);
    }
  }

  private retire(lane: Lane): void {
    lane.gone = true;
    if (this.lanes.get(lane.id) === lane) this.lanes.delete(lane.id);
    for (const waiter of lane.waiters.splice(0)) waiter.resolve();
    lane.collecting = null;
    lane.unwritten = [];
    lane.window = [];
  }

  private async writeOut(lane: Lane): Promise<void> {
    if (lane.gone || lane.unwritten.length === 0) return;
    const entries = lane.unwritten;
    lane.unwritten = [];
    try {
      await appendFile(lane.log, entries.map((entry) => entry.line).join(''));
    } catch (error) {
      // A partial append would glue the retried lines onto a broken one.
      await truncate(lane.log, lane.fileBytes).catch(() => {});
      lane.unwritten = entries.concat(lane.unwritten);
      throw error;
    }
    for (const entry of entries) {
      entry.line = null;
      lane.fileBytes += entry.bytes;
      lane.unwrittenBytes -= entry.bytes;
    }
  }

  /** Reads pending reports back from the file into the (empty) window, up to maxMemoryBytes. */
  private async load(lane: Lane): Promise<void> {
    let position = lane.head;
    for await (const line of readLines(lane.log, position, lane.fileBytes)) {
      const report = parseReport(line.text);
      if (!report) throw new Error(`unreadable report at byte ${position} of ${lane.log}`);
      lane.window.push({ report, line: null, bytes: line.bytes });
      lane.windowBytes += line.bytes;
      position += line.bytes;
      if (lane.windowBytes >= this.maxMemoryBytes) break;
    }
    if (position >= lane.fileBytes) {
      // Reports pushed while reading are not on disk yet, so not in what was just read.
      for (const entry of lane.unwritten) {
        lane.window.push(entry);
        lane.windowBytes += entry.bytes;
      }
      lane.spilled = false;
    }
  }

  /** Copies the undelivered lines (the readable ones) to a fresh file, which replaces the log. */
  private async rewrite(lane: Lane): Promise<void> {
    const tmp = `${lane.log}.tmp`;
    const out = await openFile(tmp, 'w');
    let written = 0;
    try {
      let buffered: string[] = [];
      let bufferedBytes = 0;
      for await (const line of readLines(lane.log, lane.head, lane.fileBytes)) {
        if (!line.complete || !parseReport(line.text)) continue;
        buffered.push(line.text + '\n');
        bufferedBytes += Buffer.byteLength(line.text) + 1;
        if (bufferedBytes >= READ_CHUNK_BYTES) {
          await out.write(buffered.join(''));
          written += bufferedBytes;
          buffered = [];
          bufferedBytes = 0;
        }
      }
      await out.write(buffered.join(''));
      written += bufferedBytes;
    } finally {
      await out.close();
    }
    // Until the rename, the state points at the old file's start: a crash redelivers, loses nothing.
    await this.saveState(lane, 0);
    await rename(tmp, lane.log);
    lane.head = 0;
    lane.fileBytes = written;
  }

  private async saveState(lane: Lane, head: number): Promise<void> {
    const tmp = `${lane.state}.tmp`;
    await writeFile(tmp, JSON.stringify({ head, next: lane.next }));
    await rename(tmp, lane.state);
  }

  /** Rebuilds an execution's lane from its files, as a previous process left them. */
  private async recover(id: number): Promise<void> {
    const lane = new Lane(this.dir, id, Promise.resolve());
    const size = (await stat(lane.log)).size;
    const saved = await readState(lane.state);
    lane.next = saved.next;
    const head = saved.head <= size ? saved.head : 0;
    let position = 0;
    let unreadable = 0;
    let finished = false;
    for await (const line of readLines(lane.log, 0, size)) {
      const start = position;
      position += line.bytes;
      const report = line.complete ? parseReport(line.text) : null;
      if (!report) {
        unreadable++;
        continue;
      }
      if (start < head) {
        if (report.kind === 'output') lane.next[report.stream] = Math.max(lane.next[report.stream], report.seq + 1);
        finished ||= report.kind === 'finish';
        continue;
      }
      this.admit(lane, { report, line: null, bytes: line.bytes });
    }
    lane.pushed = lane.pending;
    lane.head = head;
    lane.fileBytes = size;
    if (lane.pending === 0 && finished) {
      await removeFiles(lane);
      return;
    }
    if (unreadable > 0) {
      // A crash mid-append leaves a partial last line; later appends must not extend it.
      this.onError(new Error(`spool: skipped ${unreadable} unreadable line(s) in ${lane.log}`));
      await this.rewrite(lane);
    }
    this.lanes.set(id, lane);
  }
}

async function removeFiles(lane: Lane): Promise<void> {
  // State first: a log without state is redelivered from its start, never skipped.
  await rm(lane.state, { force: true });
  await rm(lane.log, { force: true });
}

async function readState(path: string): Promise<{ head: number; next: Record<OutputStream, number> }> {
  try {
    const saved = JSON.parse(await readFile(path, 'utf8'));
    if (Number.isSafeInteger(saved.head) && Number.isSafeInteger(saved.next?.stdout) && Number.isSafeInteger(saved.next?.stderr)) {
      return { head: saved.head, next: { stdout: saved.next.stdout, stderr: saved.next.stderr } };
    }
  } catch {
    // Missing or unreadable: start from the beginning of the log; at worst a redelivery.
  }
  return { head: 0, next: { stdout: 0, stderr: 0 } };
}

function parseReport(text: string): Report | null {
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' && ['output', 'phase', 'finish'].includes(value.kind) ? value : null;
  } catch {
    return null;
  }
}

/** The lines of a file between two byte offsets; the last one is incomplete if no newline ends it. */
async function* readLines(path: string, start: number, end: number): AsyncGenerator<{ text: string; bytes: number; complete: boolean }> {
  const file = await openFile(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    let carry = Buffer.alloc(0);
    let position = start;
    while (position < end) {
      const { bytesRead } = await file.read(chunk, 0, Math.min(chunk.length, end - position), position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let from = 0;
      for (let newline = data.indexOf(10); newline !== -1; newline = data.indexOf(10, from)) {
        yield { text: data.toString('utf8', from, newline), bytes: newline + 1 - from, complete: true };
        from = newline + 1;
      }
      // Copied: `chunk` is reused by the next read.
      carry = Buffer.from(data.subarray(from));
    }
    if (carry.length > 0) yield { text: carry.toString('utf8'), bytes: carry.length, complete: false };
  } finally {
    await file.close();
  }
}
