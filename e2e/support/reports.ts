// The reports a worker sends on the wire, for the tests and benchmarks that drive the worker API by hand:
// one spelling of the finish report, so that a field the schema gains gets its default here
// and not in every test that ends an execution.
import type { Report } from '../../shared/schemas/worker.js';

export type FinishReport = Extract<Report, { kind: 'finish' }>;

/** The phase an execution reports before it ends, in most tests. */
export const running: Report = { kind: 'phase', phase: 'running' };

/**
 * An execution's end, as a worker reports it. Only a command that exited has an exit code:
 * 0 if it succeeded, 1 if it failed with no class or class `exit`; none by default for the
 * other classes (timeout, oom, a transfer), for a kill or a refusal. No failure class and no
 * CPU time unless given, as from a worker older than both, which the server must still take.
 */
export function finished(status: FinishReport['status'] = 'succeeded', fields: Partial<Omit<FinishReport, 'kind' | 'status'>> = {}): FinishReport {
  const exitCode = status === 'succeeded' ? 0 : status === 'failed' && (fields.failure_class ?? 'exit') === 'exit' ? 1 : null;
  return { kind: 'finish', status, exit_code: exitCode, peak_memory_bytes: null, error: null, ...fields };
}
