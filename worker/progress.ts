// How far the transfers of a worker's executions have got, in bytes, for the server (and
// whoever watches the task) to see. A transfer counts into the TransferProgress of its
// execution and phase; the daemon's exchanges carry the latest figures of those that
// changed. Figures are not reports: they are not spooled (a lost one is simply superseded),
// and they never make an exchange happen by themselves. While a transfer moves, the daemon
// parks its exchanges for at most PROGRESS_INTERVAL_MS so that figures go out about once a
// second; a transfer that has not moved for QUIET_AFTER_MS no longer shortens them.
import { PROGRESS_INTERVAL_MS, type TransferPhase } from '../shared/schemas/execution.js';
import type { ProgressReport } from '../shared/schemas/worker.js';

/** What a transfer tells as it goes. */
export interface TransferProgress {
  /** More bytes are now known to be coming (a file's size once stat'ed or listed). */
  expect(bytes: number): void;
  /** Bytes moved (negative: taken back, when a file is tried again from its start). */
  add(bytes: number): void;
}

/** A transfer that has not moved for this long no longer shortens the daemon's exchanges. */
export const QUIET_AFTER_MS = 5000;

/** The figures of one execution's transfer phase; they go out while the phase is under way (between begin and end). */
export class PhaseProgress implements TransferProgress {
  private bytesDone = 0;
  private expected = 0;
  /** Changed since the figures last went out. */
  private changed = false;
  private sentAt = -Infinity;
  private movedAt = 0;

  constructor(private readonly board: ProgressBoard, readonly executionId: number, readonly phase: TransferPhase) {}

  /** Bytes moved. */
  get done(): number {
    return this.bytesDone;
  }

  /** Bytes known to make up the phase, those done included (a transfer may move more than it announced). */
  get total(): number {
    return Math.max(this.expected, this.bytesDone);
  }

  expect(bytes: number): void {
    if (bytes <= 0) return;
    this.expected += bytes;
    this.touched();
  }

  /** Bytes moved; negative takes back what a failed attempt had counted before it is tried again. */
  add(bytes: number): void {
    if (bytes === 0) return;
    this.bytesDone = Math.max(0, this.bytesDone + bytes);
    this.touched();
  }

  /** The phase starts: its figures are the board's to send from now on, and it counts as moving until it proves quiet. */
  begin(): void {
    this.movedAt = this.board.now();
    this.board.active.add(this);
  }

  /** The phase is over: what it counts from now on goes nowhere. */
  end(): void {
    this.board.active.delete(this);
  }

  private touched(): void {
    this.changed = true;
    this.movedAt = this.board.now();
  }

  /** Its figures if they changed and the last ones went out long enough ago; they count as sent. */
  take(now: number): ProgressReport | null {
    if (!this.changed || now - this.sentAt < PROGRESS_INTERVAL_MS) return null;
    this.changed = false;
    this.sentAt = now;
    return { execution_id: this.executionId, phase: this.phase, bytes_done: this.done, bytes_total: this.total };
  }

  /** The exchange that carried its figures failed: they go out again with the next one. */
  unsent(): void {
    this.changed = true;
    this.sentAt = -Infinity;
  }

  quiet(now: number): boolean {
    return now - this.movedAt >= QUIET_AFTER_MS;
  }
}

/** The transfer phases under way on one worker, whose figures its exchanges carry. */
export class ProgressBoard {
  readonly active = new Set<PhaseProgress>();

  constructor(readonly now: () => number = Date.now) {}

  /** A phase of an execution, counted once it begins. */
  phase(executionId: number, phase: TransferPhase): PhaseProgress {
    return new PhaseProgress(this, executionId, phase);
  }

  /** The figures the next exchange carries: those that changed, each at most once per interval. */
  take(): ProgressReport[] {
    const now = this.now();
    const figures: ProgressReport[] = [];
    for (const progress of this.active) {
      const taken = progress.take(now);
      if (taken) figures.push(taken);
    }
    return figures;
  }

  /** The exchange that carried these figures failed. */
  unsent(figures: ProgressReport[]): void {
    const lost = new Set(figures.map((f) => `${f.execution_id}:${f.phase}`));
    for (const progress of this.active) if (lost.has(`${progress.executionId}:${progress.phase}`)) progress.unsent();
  }

  /** Whether a transfer is moving: the daemon then parks its exchanges for at most PROGRESS_INTERVAL_MS. */
  moving(): boolean {
    const now = this.now();
    for (const progress of this.active) if (!progress.quiet(now)) return true;
    return false;
  }
}
