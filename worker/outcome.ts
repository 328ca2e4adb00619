// How an execution ends, as its result report says: a status, a failure class, and the
// figures of its run when there was one; and the two errors that carry a failure's class
// out of the phases around the run (a kill on order, a download that failed).
import type { FailureClass } from '../shared/schemas/execution.js';
import type { RunResult } from './runners/types.js';

export type Outcome = {
  status: 'succeeded' | 'failed' | 'killed' | 'refused'; failureClass: FailureClass | null; exitCode: number | null;
  peakMemoryBytes: number | null; cpuSeconds: number | null; error: string | null;
};

export class Killed extends Error {}

/** A failure of a phase around the run (a transfer), with its class. */
export class PhaseFailed extends Error {
  constructor(readonly failureClass: 'download', cause: unknown) {
    super((cause as Error).message);
  }
}

/** An outcome, with the figures of the run when there was one. */
export const ended = (status: Outcome['status'], failureClass: FailureClass | null, error: string | null, run?: Partial<RunResult>): Outcome => ({
  status, failureClass, exitCode: run?.exitCode ?? null, peakMemoryBytes: run?.peakMemoryBytes ?? null, cpuSeconds: run?.cpuSeconds ?? null, error,
});
