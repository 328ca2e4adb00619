// The spool's state on disk and in memory for one execution (a lane), the report format,
// and everything that touches a lane's files: appending its buffered lines to the log,
// recording on disk what was delivered (head moved, log truncated, compacted or deleted),
// rebuilding a lane from the files a previous process left, and the helpers under them
// (state file, report lines, lines between byte offsets, a batch, compaction).
// worker/spool.ts owns delivery, ordering and timing; this owns the format and what is on
// disk, so that each step's crash safety can be read in one place.
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
//   line. The next seq per output stream is not kept: only a container's output is numbered
//   again after a restart, and the re-attach numbers it after the server's own count
//   (earlierRun.ts), which covers what a dead worker delivered and never saved.
// The file is the queue: delivery reads its batches back from `head` (from the page cache, in
// practice), so memory holds only what is not written yet and one batch, however long the
// backlog; once everything on disk is delivered, the next batch is taken from memory. Delivered lines are not rewritten away batch by batch (a long backlog would be
// copied over and over): `head` moves, the file is truncated once all is delivered, compacted
// once the delivered part outweighs the rest, and deleted once the finish report is delivered.
// Each step leaves the files so that a crash anywhere can cause a redelivery, which the server
// absorbs (output is deduplicated by (execution, stream, seq), phase and finish are
// idempotent), but never a loss or a reordering.
import { appendFileSync, closeSync, openSync, readSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { open as openFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_REPORTS_PER_EXECUTION } from '../shared/schemas/worker.js';
import type { FailureClass, Phase } from '../shared/schemas/execution.js';
import type { OutputStream } from './runners/types.js';
import { writeAtomically } from './state.js';

export type Report =
  | { kind: 'output'; executionId: number; stream: OutputStream; seq: number; data: string /* base64 */ }
  | { kind: 'phase'; executionId: number; phase: Phase }
  | {
      kind: 'finish'; executionId: number; status: 'succeeded' | 'failed' | 'killed' | 'refused';
      exitCode: number | null; peakMemoryBytes: number | null; error: string | null;
      /** Absent from reports spooled by a worker older than failure classes. */
      failureClass?: FailureClass | null; cpuSeconds?: number | null;
    };

const READ_CHUNK_BYTES = 256 * 1024;
/** A delivered part smaller than this is never worth compacting away. */
const COMPACT_MIN_BYTES = 1024 * 1024;

export interface Waiter { target: number; resolve: () => void; reject: (error: Error) => void }

export interface Unwritten { report: Report; line: string; bytes: number }

export class Lane {
  readonly log: string;
  readonly state: string;
  next: Record<OutputStream, number> = { stdout: 0, stderr: 0 };
  /** Output being collected into a report, since its first chunk came (ms). */
  collecting: { stream: OutputStream; chunks: Buffer[]; bytes: number; since: number } | null = null;
  /** Reports pushed but not appended to the log yet, with their lines. */
  unwritten: Unwritten[] = [];
  unwrittenBytes = 0;
  /** When the oldest of them was pushed (or its output began to be collected), in ms: it is written by then + writeAfterMs. */
  unwrittenSince = 0;
  /** Lines appended to the log by this process: a batch read from memory tells by it whether the lines went to disk meanwhile. */
  written = 0;
  /** Its log file exists, or may (a lane delivered from memory alone never has one). */
  onDisk = false;
  pending = 0;
  pushed = 0;
  delivered = 0;
  waiters: Waiter[] = [];
  finished = false;
  /** A finish report is pushed and not yet delivered: the worker still holds the execution. */
  finishing = false;
  /** Byte offsets in the log: the first undelivered line, the end of what was appended. */
  head = 0;
  fileBytes = 0;
  /** An append failed part way and its truncate failed too: the log may hold bytes past fileBytes. */
  torn = false;
  /** File operations run one at a time, in order. */
  io: Promise<void>;
  writeQueued = false;
  pumping = false;
  wake: (() => void) | null = null;
  /** Dropped or finished: its loop stops and its files are no longer its own. */
  gone = false;

  constructor(dir: string, readonly id: number, after: Promise<void>) {
    this.log = join(dir, `${id}.jsonl`);
    this.state = join(dir, `${id}.state.json`);
    this.io = after;
  }
}

export function advanceSeq(lane: Lane, report: Report): void {
  if (report.kind === 'output') lane.next[report.stream] = Math.max(lane.next[report.stream], report.seq + 1);
}

export function removeFiles(lane: Lane): void {
  // State first: a log without state is redelivered from its start, never skipped.
  rmSync(lane.state, { force: true });
  rmSync(lane.log, { force: true });
}

/** Where delivery resumes (a state file of an older worker also holds its next seqs, not needed any more). */
export async function readHead(path: string): Promise<number> {
  try {
    const { head } = JSON.parse(await readFile(path, 'utf8'));
    if (Number.isSafeInteger(head)) return head;
  } catch {
    // Missing or unreadable: the log is read from its start; at worst a redelivery.
  }
  return 0;
}

export function parseReport(text: string): Report | null {
  try {
    const value = JSON.parse(text);
    return ['output', 'phase', 'finish'].includes(value?.kind) ? value : null;
  } catch {
    return null;
  }
}

/**
 * The lines of a file between two byte offsets; the last one is incomplete if no newline
 * ends it. Read synchronously: a batch is a few kilobytes from the page cache, cheaper than
 * a trip through the thread pool per read.
 */
export function* readLines(path: string, start: number, end: number): Generator<{ text: string; bytes: number; complete: boolean }> {
  const file = openSync(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    let carry = Buffer.alloc(0);
    for (let position = start; position < end;) {
      const bytesRead = readSync(file, chunk, 0, Math.min(chunk.length, end - position), position);
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
    closeSync(file);
  }
}

/** Records where delivery resumes. */
export function saveState(lane: Lane, head: number): void {
  writeAtomically(lane.state, JSON.stringify({ head }));
}

/** The undelivered reports at the head of the log, up to maxBytes (at least one). */
export function readBatch(lane: Lane, maxBytes: number): { reports: Report[]; bytes: number } {
  const reports: Report[] = [];
  let bytes = 0;
  for (const line of readLines(lane.log, lane.head, lane.fileBytes)) {
    // The server takes at most so many reports of an execution in one request, and refuses
    // the whole request beyond: small output chunks can pile up past it during an outage.
    if (reports.length >= MAX_REPORTS_PER_EXECUTION) break;
    if (reports.length > 0 && bytes + line.bytes > maxBytes) break;
    const report = parseReport(line.text);
    if (!report) throw new Error(`unreadable report at byte ${lane.head + bytes} of ${lane.log}`);
    reports.push(report);
    bytes += line.bytes;
  }
  return { reports, bytes };
}

/** Copies the undelivered lines (the readable ones) to a fresh file, which replaces the log. */
export async function compact(lane: Lane): Promise<void> {
  const tmp = `${lane.log}.tmp`;
  const out = await openFile(tmp, 'w');
  let written = 0;
  try {
    let buffered: string[] = [];
    for (const line of readLines(lane.log, lane.head, lane.fileBytes)) {
      if (!line.complete || !parseReport(line.text)) continue;
      buffered.push(line.text + '\n');
      written += Buffer.byteLength(line.text) + 1;
      if (buffered.length >= 64) {
        await out.write(buffered.join(''));
        buffered = [];
      }
    }
    await out.write(buffered.join(''));
  } finally {
    await out.close();
  }
  // Until the rename, the state points at the old log's start: a crash redelivers, loses nothing.
  saveState(lane, 0);
  renameSync(tmp, lane.log);
  lane.head = 0;
  lane.fileBytes = written;
}

/** Cuts the log back to `bytes`; a log the failed append never made has nothing to cut. */
function cutTo(log: string, bytes: number): void {
  try {
    truncateSync(log, bytes);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** Appends the lane's buffered lines to its log; on failure they are back in memory, and the log as it was. */
export async function writeOut(lane: Lane): Promise<void> {
  if (lane.gone || lane.unwritten.length === 0) return;
  const lines = lane.unwritten;
  const bytes = lane.unwrittenBytes;
  lane.unwritten = [];
  lane.unwrittenBytes = 0;
  try {
    // What a failed append left past fileBytes goes first: reads go by those offsets.
    if (lane.torn) {
      cutTo(lane.log, lane.fileBytes);
      lane.torn = false;
    }
    // Before the append, which may create the file and then fail.
    lane.onDisk = true;
    appendFileSync(lane.log, lines.map((entry) => entry.line).join(''));
    lane.written += lines.length;
  } catch (error) {
    // A partial append would glue the retried lines onto a broken one.
    try {
      cutTo(lane.log, lane.fileBytes);
    } catch {
      lane.torn = true;
    }
    lane.unwritten = lines.concat(lane.unwritten);
    lane.unwrittenBytes += bytes;
    throw error;
  }
  lane.fileBytes += bytes;
}

/**
 * Records delivered lines on disk: moves `head`, or truncates, compacts or deletes the
 * files; a lane with no log file has nothing to record. Says whether the lane is done with
 * (its finish delivered, nothing left): the caller retires it.
 */
export async function recordDelivered(lane: Lane): Promise<boolean> {
  if (lane.finished && lane.pending === 0 && !lane.collecting) {
    if (lane.onDisk) removeFiles(lane);
    lane.onDisk = false;
    lane.head = lane.fileBytes = 0;
    return true;
  }
  if (lane.head === lane.fileBytes) {
    if (lane.onDisk) {
      saveState(lane, 0);
      // Emptied, or made: an append that failed may have left none.
      writeFileSync(lane.log, '');
    }
    lane.head = lane.fileBytes = 0;
  } else if (lane.head >= COMPACT_MIN_BYTES && lane.head >= lane.fileBytes - lane.head) {
    await compact(lane);
  } else {
    saveState(lane, lane.head);
  }
  return false;
}

/**
 * Rebuilds an execution's lane from the files a previous process left; null when its finish
 * was delivered already (its files are removed). Unreadable lines are told to `onError`.
 */
export async function recoverLane(dir: string, id: number, onError: (error: unknown) => void): Promise<Lane | null> {
  const lane = new Lane(dir, id, Promise.resolve());
  lane.onDisk = true;
  lane.fileBytes = (await stat(lane.log)).size;
  const head = await readHead(lane.state);
  lane.head = head <= lane.fileBytes ? head : 0;
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
  if (lane.pending === 0 && finished) {
    removeFiles(lane);
    return null;
  }
  if (unreadable > 0) {
    // A crash mid-append leaves a partial last line, which later appends must not extend.
    onError(new Error(`spool: skipped ${unreadable} unreadable line(s) in ${lane.log}`));
    await compact(lane);
  }
  return lane;
}
