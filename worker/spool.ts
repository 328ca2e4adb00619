// The worker's durable queue of reports: every report the server must receive about an
// execution (output chunks,
// phase changes, the final result) goes through here, so that a server outage of minutes or a
// worker restart loses nothing and reorders nothing.
//
// On disk, per execution, in `dir`:
// - `<id>.jsonl`: the reports, one JSON line each, in push order, each appended at most
//   writeAfterMs after it was pushed (no fsync: we guard against the worker process dying, not the
//   machine), unless delivered before: the reports of a short task, which reach the server
//   within that time, never touch the disk (creating and removing a file per task was a large
//   part of a worker's CPU on ext4, and at 24 busy slots a delivery takes longer than 50 ms).
//   A worker killed meanwhile loses at most that much; the server then loses the execution at
//   the end of its lease and runs the task again.
// - `<id>.state.json`, replaced atomically: `head`, the byte offset of the first undelivered
//   line, and `next`, the next seq per output stream, which must outlive the lines that
//   carried the earlier ones.
// The file is the queue: delivery reads its batches back from `head` (from the page cache, in
// practice), so memory holds only what is not written yet and one batch, however long the
// backlog; once everything on disk is delivered, the next batch is taken from memory. Delivered lines are not rewritten away batch by batch (a long backlog would be
// copied over and over): `head` moves, the file is truncated once all is delivered, compacted
// once the delivered part outweighs the rest, and deleted once the finish report is delivered.
// Each step leaves the files so that a crash anywhere can cause a redelivery, which the server
// absorbs (output is deduplicated by (execution, stream, seq), phase and finish are
// idempotent), but never a loss or a reordering.
//
// One delivery loop per execution, so a stuck one never holds up the others: linger a
// moment for more (not once the result is there), write what is buffered, send the pending
// reports in order, up to maxBatchBytes per call, retry with exponential backoff until it
// works or the spool is closed.
//
// The on-disk format, the per-execution lane and the file helpers live in spoolFile.ts.
//
// API: open() first (loads what a previous process left and resumes its delivery).
// output() collects task output into reports of at most OUTPUT_REPORT_BYTES, sealed when the
// stream changes, the size is reached, another report is pushed, or at the next tick; chunks
// are kept by reference until then, so they must not be modified. push() takes any report;
// an output report pushed directly carries its own seq, which nextSeq() (a peek, not an
// allocation) then moves past: don't mix that with output() for one execution. A finish
// report is an execution's last; once delivered, the execution is forgotten; undelivered()
// lists the executions with reports not delivered yet. flush() resolves
// once everything pushed so far (for one execution, or all) is delivered; pending() counts
// undelivered reports, output being collected counting as one; drop() forgets an execution
// and its files; close() writes what is buffered and stops.

import { appendFileSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputStream } from './runners/types.js';
import { MAX_REPORTS_PER_EXECUTION } from '../shared/schemas/worker.js';
import { advanceSeq, compact, Lane, parseReport, readBatch, readLines, readState, removeFiles, saveState, type Report } from './spoolFile.js';

export type { Report };

/** Reports to deliver, their bytes in the log, and, when read from memory, how many entries and the lane's write count then. */
interface Batch { reports: Report[]; bytes: number; fromMemory?: { lines: number; written: number } }

export type Deliver = (executionId: number, reports: Report[]) => Promise<void>;

export interface SpoolOptions {
  /** Serialized size of one deliver call (default 4 MiB; and at most MAX_REPORTS_PER_EXECUTION reports); a single larger report goes alone. */
  maxBatchBytes?: number;
  /** How long output is collected before it is sealed into a report and sent (default 50 ms). */
  flushIntervalMs?: number;
  /**
   * How long a report waits in memory for its delivery before it is written to the spool's
   * file (default 1 s): what a worker killed with -9 may lose, and what spares a busy
   * worker's short tasks a file each.
   */
  writeAfterMs?: number;
  /**
   * How long a delivery waits for more reports of its execution before it goes (default
   * 20 ms), unless the result is already there: a task that ends within it sends its
   * `running` phase, its output and its result in one request instead of two or three.
   */
  lingerMs?: number;
  /** Backoff between failed deliveries (default 250 ms doubling up to 5 s). */
  retry?: { initialMs: number; maxMs: number };
  /** Failed deliveries and disk errors; the spool keeps retrying, this is for logs. */
  onError?: (error: unknown) => void;
}

/** Raw output bytes per report: small enough for a lively live view, large enough to batch well. */
export const OUTPUT_REPORT_BYTES = 256 * 1024;
/** Buffered lines past this size are written at once rather than at the next tick. */
const WRITE_AHEAD_BYTES = 1024 * 1024;
/** A delivered part smaller than this is never worth compacting away. */
const COMPACT_MIN_BYTES = 1024 * 1024;

export class Spool {
  private readonly lanes = new Map<number, Lane>();
  /** File removals of dropped executions, which a new lane for the same id must wait for. */
  private readonly retiring = new Map<number, Promise<void>>();
  private readonly options: Required<SpoolOptions>;
  private timer: NodeJS.Timeout | null = null;
  /** When the timer fires: something due sooner moves it. */
  private timerAt = Infinity;
  private ticking = false;
  private opened = false;
  private closed = false;

  constructor(private readonly dir: string, private readonly deliver: Deliver, options: SpoolOptions = {}) {
    this.options = {
      maxBatchBytes: options.maxBatchBytes ?? 4 * 1024 * 1024,
      flushIntervalMs: options.flushIntervalMs ?? 50,
      writeAfterMs: options.writeAfterMs ?? 1000,
      lingerMs: options.lingerMs ?? 20,
      retry: options.retry ?? { initialMs: 250, maxMs: 5000 },
      onError: options.onError ?? (() => {}),
    };
  }

  async open(): Promise<void> {
    if (this.opened) throw new Error('the spool is already open');
    await mkdir(this.dir, { recursive: true });
    const names = new Set(await readdir(this.dir));
    for (const name of names) {
      const id = /^(\d+)\.jsonl$/.exec(name)?.[1];
      if (id !== undefined) await this.recover(Number(id));
      else if (name.endsWith('.tmp') || (name.endsWith('.state.json') && !names.has(name.replace('.state.json', '.jsonl')))) {
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

  /**
   * Output that comes after close is dropped: a bare task outlives its stopping worker (the
   * restarted one kills it), and its output arrives in a stream event, where a throw would
   * end the process before it has stopped in order.
   */
  output(executionId: number, stream: OutputStream, chunk: Buffer): void {
    if (this.closed) return;
    this.assertUsable();
    const lane = this.lane(executionId);
    if (lane.collecting && lane.collecting.stream !== stream) this.seal(lane);
    for (let rest = chunk; rest.length > 0;) {
      const collecting = (lane.collecting ??= { stream, chunks: [], bytes: 0, since: Date.now() });
      const part = rest.subarray(0, OUTPUT_REPORT_BYTES - collecting.bytes);
      collecting.chunks.push(part);
      collecting.bytes += part.length;
      rest = rest.subarray(part.length);
      if (collecting.bytes === OUTPUT_REPORT_BYTES) this.seal(lane);
    }
    if (lane.collecting) this.scheduleTick(lane.collecting.since + this.options.flushIntervalMs);
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

  /**
   * Executions with reports not delivered yet, also ones a previous process left: the
   * worker still holds them, so the server does not lose a task whose output or result is
   * on its way.
   */
  undelivered(): number[] {
    return [...this.lanes.values()].filter((lane) => !lane.gone && (lane.pending > 0 || lane.collecting !== null)).map((lane) => lane.id);
  }

  pending(executionId?: number): number {
    const lanes = executionId === undefined ? [...this.lanes.values()] : [this.lanes.get(executionId)];
    return lanes.reduce((sum, lane) => sum + (lane ? lane.pending + (lane.collecting ? 1 : 0) : 0), 0);
  }

  async drop(executionId: number): Promise<void> {
    const lane = this.lanes.get(executionId);
    if (!lane) return;
    this.retire(lane);
    lane.wake?.();
    const removal = this.io(lane, async () => removeFiles(lane));
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
    if (this.timer) clearTimeout(this.timer);
    const closing = new Error('the spool was closed before everything was delivered');
    await Promise.all([...this.lanes.values()].map((lane) => {
      this.seal(lane);
      lane.wake?.();
      for (const waiter of lane.waiters.splice(0)) waiter.reject(closing);
      return this.io(lane, () => this.writeOut(lane)).catch(this.options.onError);
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
    this.enqueue(lane, { kind: 'output', executionId: lane.id, stream: collecting.stream, seq: lane.next[collecting.stream], data }, collecting.since);
  }

  private enqueue(lane: Lane, report: Report, since = Date.now()): void {
    advanceSeq(lane, report);
    if (report.kind === 'finish') {
      lane.finishing = true;
      // A delivery lingering for more goes at once: nothing more is coming.
      lane.wake?.();
    }
    const line = JSON.stringify(report) + '\n';
    const bytes = Buffer.byteLength(line);
    if (lane.unwritten.length === 0) lane.unwrittenSince = since;
    lane.unwritten.push({ report, line, bytes });
    lane.unwrittenBytes += bytes;
    lane.pending++;
    lane.pushed++;
    // Written at the next tick, unless delivered before: a short task's reports never touch the disk.
    if (lane.unwrittenBytes >= WRITE_AHEAD_BYTES) this.write(lane);
    else this.scheduleTick(lane.unwrittenSince + this.options.writeAfterMs);
    void this.pump(lane);
  }

  /**
   * A tick at `at` (ms since the epoch), unless one comes sooner. Each lane's output is sealed flushIntervalMs after its first chunk came, and its reports
   * written writeAfterMs after the oldest was pushed, unless delivered by then: a tick does
   * what is due and comes back when the next thing is, so a report pushed just before a tick
   * still has its whole interval to be delivered from memory.
   */
  private scheduleTick(at: number): void {
    if (this.ticking || this.closed) return;
    if (this.timer) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      // What the tick itself seals is written by it if due: the next tick is the one it sets at the end.
      this.ticking = true;
      const now = Date.now();
      let next = Infinity;
      const dueAt = (at: number) => {
        if (at > now) next = Math.min(next, at);
        return at <= now;
      };
      for (const lane of this.lanes.values()) {
        if (lane.collecting && dueAt(lane.collecting.since + this.options.flushIntervalMs)) this.seal(lane);
        if (lane.unwritten.length > 0 && dueAt(lane.unwrittenSince + this.options.writeAfterMs)) this.write(lane);
      }
      this.ticking = false;
      if (next !== Infinity) this.scheduleTick(next);
    }, Math.max(0, at - Date.now()));
  }

  /** Writes buffered lines soon, even while delivery is waiting out an outage. */
  private write(lane: Lane): void {
    if (lane.writeQueued) return;
    lane.writeQueued = true;
    this.io(lane, () => {
      lane.writeQueued = false;
      return this.writeOut(lane);
    }).catch((error) => {
      this.options.onError(error);
      // The lines are back in memory, and a delivery from memory never writes: try again at the next tick.
      this.scheduleTick(Date.now() + Math.min(this.options.flushIntervalMs, this.options.writeAfterMs));
    });
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
    const { retry, onError } = this.options;
    let delay = retry.initialMs;
    try {
      while (!this.stopped(lane) && lane.pending > 0) {
        if (!lane.finishing && this.options.lingerMs > 0) {
          await this.sleep(lane, this.options.lingerMs);
          if (this.stopped(lane)) return;
        }
        let batch: Batch;
        try {
          batch = await this.io(lane, () => this.nextBatch(lane));
          if (this.stopped(lane)) return;
          await this.deliver(lane.id, batch.reports);
          if (this.stopped(lane)) return;
          delay = retry.initialMs;
          lane.pending -= batch.reports.length;
          lane.delivered += batch.reports.length;
          lane.finished ||= batch.reports.some((report) => report.kind === 'finish');
        } catch (error) {
          if (this.stopped(lane)) return;
          onError(error);
          await this.sleep(lane, delay);
          delay = Math.min(delay * 2, retry.maxMs);
          continue;
        }
        // The batch is delivered: failing to record that on disk only risks a redelivery.
        await this.io(lane, () => {
          this.consume(lane, batch);
          return this.acknowledge(lane, batch.reports.some((report) => report.kind === 'output'));
        }).catch(onError);
        lane.waiters = lane.waiters.filter((waiter) => waiter.target > lane.delivered || (waiter.resolve(), false));
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

  /**
   * The undelivered reports at the head of the log. When everything on disk is delivered,
   * they are the ones in memory, not written yet (and not written for the batch: the tick
   * writes them if the delivery takes longer); otherwise the log is written out and read.
   */
  private async nextBatch(lane: Lane): Promise<Batch> {
    if (lane.head === lane.fileBytes && lane.unwritten.length > 0) {
      const { maxBatchBytes } = this.options;
      let lines = 0;
      let bytes = 0;
      for (const entry of lane.unwritten) {
        if (lines >= MAX_REPORTS_PER_EXECUTION || (lines > 0 && bytes + entry.bytes > maxBatchBytes)) break;
        lines++;
        bytes += entry.bytes;
      }
      return { reports: lane.unwritten.slice(0, lines).map((entry) => entry.report), bytes, fromMemory: { lines, written: lane.written } };
    }
    await this.writeOut(lane);
    return readBatch(lane, this.options.maxBatchBytes);
  }

  /** A delivered batch leaves the lane: from memory if it is still there, else from the log, whose `head` moves past it. */
  private consume(lane: Lane, batch: Batch): void {
    if (batch.fromMemory && lane.written === batch.fromMemory.written) {
      lane.unwritten.splice(0, batch.fromMemory.lines);
      lane.unwrittenBytes -= batch.bytes;
    } else {
      // Read from the log, or written to it (first, at the head) while it was delivered.
      lane.head += batch.bytes;
    }
  }

  /**
   * Records delivered lines on disk: moves `head`, or truncates, compacts or deletes the
   * files. A lane with no log file has nothing to record, except the next output seq once
   * output of an execution still going was delivered from memory: it must outlive a restart.
   */
  private async acknowledge(lane: Lane, deliveredOutput: boolean): Promise<void> {
    if (this.stopped(lane)) return;
    if (lane.finished && lane.pending === 0 && !lane.collecting) {
      if (lane.onDisk) removeFiles(lane);
      lane.onDisk = false;
      lane.head = lane.fileBytes = 0;
      // Reports pushed meanwhile (there should be none after a finish) start a fresh log.
      if (lane.pending === 0 && !lane.collecting) this.retire(lane);
    } else if (lane.head === lane.fileBytes) {
      if (lane.onDisk) {
        saveState(lane, 0);
        // Emptied, or made: an append that failed may have left none.
        writeFileSync(lane.log, '');
      } else if (deliveredOutput || lane.nextUnsaved) {
        // A state file is only kept beside a log (open() removes a lone one). Until it is
        // saved, every acknowledgement tries again.
        lane.nextUnsaved = true;
        lane.onDisk = true;
        appendFileSync(lane.log, '');
        saveState(lane, 0);
        lane.nextUnsaved = false;
      }
      lane.head = lane.fileBytes = 0;
    } else if (lane.head >= COMPACT_MIN_BYTES && lane.head >= lane.fileBytes - lane.head) {
      await compact(lane);
    } else {
      saveState(lane, lane.head);
    }
  }

  private retire(lane: Lane): void {
    lane.gone = true;
    if (this.lanes.get(lane.id) === lane) this.lanes.delete(lane.id);
    for (const waiter of lane.waiters.splice(0)) waiter.resolve();
    lane.collecting = null;
    lane.unwritten = [];
  }

  private async writeOut(lane: Lane): Promise<void> {
    if (lane.gone || lane.unwritten.length === 0) return;
    const lines = lane.unwritten;
    const bytes = lane.unwrittenBytes;
    lane.unwritten = [];
    lane.unwrittenBytes = 0;
    try {
      // Before the append, which may create the file and then fail.
      lane.onDisk = true;
      appendFileSync(lane.log, lines.map((entry) => entry.line).join(''));
      lane.written += lines.length;
    } catch (error) {
      // A partial append would glue the retried lines onto a broken one.
      try {
        truncateSync(lane.log, lane.fileBytes);
      } catch {
        // The retry appends after whatever is there; a torn line is skipped on recovery.
      }
      lane.unwritten = lines.concat(lane.unwritten);
      lane.unwrittenBytes += bytes;
      throw error;
    }
    lane.fileBytes += bytes;
  }

  /** Rebuilds an execution's lane from the files a previous process left. */
  private async recover(id: number): Promise<void> {
    const lane = new Lane(this.dir, id, Promise.resolve());
    lane.onDisk = true;
    lane.fileBytes = (await stat(lane.log)).size;
    const saved = await readState(lane.state);
    lane.next = saved.next;
    lane.head = saved.head <= lane.fileBytes ? saved.head : 0;
    let position = 0;
    let unreadable = 0;
    let finished = false;
    for (const line of readLines(lane.log, 0, lane.fileBytes)) {
      const report = line.complete ? parseReport(line.text) : null;
      if (!report) unreadable++;
      else if (position < lane.head) finished ||= report.kind === 'finish';
      else {
        lane.pending++;
        lane.finishing ||= report.kind === 'finish';
      }
      if (report) advanceSeq(lane, report);
      position += line.bytes;
    }
    lane.pushed = lane.pending;
    if (lane.pending === 0 && finished) return removeFiles(lane);
    if (unreadable > 0) {
      // A crash mid-append leaves a partial last line, which later appends must not extend.
      this.options.onError(new Error(`spool: skipped ${unreadable} unreadable line(s) in ${lane.log}`));
      await compact(lane);
    }
    this.lanes.set(id, lane);
  }
}
