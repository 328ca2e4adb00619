// The worker's durable queue of reports: every report the server must receive about an
// execution (output chunks,
// phase changes, the final result) goes through here, so that a server outage of minutes or a
// worker restart loses nothing and reorders nothing.
//
// What is on disk, per execution, why each step is safe against a crash, and every operation
// on a lane's files (append, record a delivery, recover): spoolFile.ts.
// In short, the file is the queue, written at most writeAfterMs after a push unless
// delivered before, and a crash can cause a redelivery but never a loss or a reordering.
//
// One delivery loop per execution, so a stuck one never holds up the others: linger a
// moment for more (not once the result is there), write what is buffered, send the pending
// reports in order, up to maxBatchBytes per call, retry with exponential backoff until it
// works or the spool is closed.
//
// API: open() first (loads what a previous process left and resumes its delivery).
// output() collects task output into reports of at most OUTPUT_REPORT_BYTES, sealed when the
// stream changes, the size is reached, another report is pushed, or at the next tick; chunks
// are kept by reference until then, so they must not be modified. push() takes any report;
// an output report pushed directly carries its own seq, which nextSeq() (a peek, not an
// allocation) then moves past: don't mix that with output() for one execution; resumeSeq()
// moves it past what the server has seen. A finish
// report is an execution's last; once delivered, the execution is forgotten; undelivered()
// lists the executions with reports not delivered yet, idle() those with nothing to deliver. flush() resolves
// once everything pushed so far (for one execution, or all) is delivered; pending() counts
// undelivered reports, output being collected counting as one; drop() forgets an execution
// and its files; close() writes what is buffered and stops.

import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputStream } from './runners/types.js';
import { MAX_REPORTS_PER_EXECUTION } from '../shared/schemas/worker.js';
import { advanceSeq, Lane, readBatch, recordDelivered, recoverLane, removeFiles, writeOut, type Report } from './spoolFile.js';

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
      if (id !== undefined) {
        const lane = await recoverLane(this.dir, Number(id), this.options.onError);
        if (lane) this.lanes.set(lane.id, lane);
      } else if (name.endsWith('.tmp') || (name.endsWith('.state.json') && !names.has(name.replace('.state.json', '.jsonl')))) {
        await rm(join(this.dir, name), { force: true });
      }
    }
    this.opened = true;
    for (const lane of this.lanes.values()) void this.pump(lane);
  }

  nextSeq(executionId: number, stream: OutputStream): number {
    return this.lanes.get(executionId)?.next[stream] ?? 0;
  }

  /**
   * Numbers an execution's output from `next` on (per stream) at least: the server's own
   * count, for output taken up by another process, which may not have saved the numbers it
   * had used. Only before that output is collected.
   */
  resumeSeq(executionId: number, next: Record<OutputStream, number>): void {
    this.assertUsable();
    const lane = this.lane(executionId);
    if (lane.collecting) throw new Error(`execution ${executionId}: output is already being collected`);
    for (const stream of ['stdout', 'stderr'] as const) lane.next[stream] = Math.max(lane.next[stream], next[stream]);
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
    return this.lanesWhere(true);
  }

  /**
   * Executions with a lane and nothing to deliver: after open(), what a previous process left
   * of an execution still going whose spooled reports were all delivered (an emptied log).
   */
  idle(): number[] {
    return this.lanesWhere(false);
  }

  /** The executions whose lane has something to deliver, or (false) nothing. */
  private lanesWhere(somethingToDeliver: boolean): number[] {
    return [...this.lanes.values()].filter((lane) => !lane.gone && (lane.pending > 0 || lane.collecting !== null) === somethingToDeliver).map((lane) => lane.id);
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
      return this.io(lane, () => writeOut(lane)).catch(this.options.onError);
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
      return writeOut(lane);
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
          return this.acknowledge(lane);
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
    await writeOut(lane);
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

  /** Records a delivery on disk, and forgets a lane whose finish is delivered. */
  private async acknowledge(lane: Lane): Promise<void> {
    if (this.stopped(lane)) return;
    if (await recordDelivered(lane)) this.retire(lane);
  }

  private retire(lane: Lane): void {
    lane.gone = true;
    if (this.lanes.get(lane.id) === lane) this.lanes.delete(lane.id);
    for (const waiter of lane.waiters.splice(0)) waiter.resolve();
    lane.collecting = null;
    lane.unwritten = [];
  }
}
