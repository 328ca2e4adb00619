// What the spool has handed over for delivery and the next exchange with the server will
// carry. The spool delivers each execution on its own lane (in order, with its own retry);
// the outbox gathers the lanes' deliveries so that one request carries them all: reports
// that come while an exchange is in flight wait for the next one, which is how a busy
// worker coalesces them. A lane's delivery settles with its execution's receipt, or fails
// with the exchange, and the lane then retries on its own backoff.
import { MAX_ERROR_CHARS, type ExecutionReports, type Report as WireReport, type ReportsReceipt } from '../shared/schemas/worker.js';
import type { Report } from './spool.js';

interface Entry {
  reports: ExecutionReports;
  bytes: number;
  resolve: (receipt: ReportsReceipt) => void;
  reject: (error: unknown) => void;
}

/** The spool's report as the API spells it. */
function wireReport(r: Report): WireReport {
  switch (r.kind) {
    case 'output': return { kind: 'output', stream: r.stream, seq: r.seq, data: r.data };
    case 'phase': return { kind: 'phase', phase: r.phase };
    // A longer error would make the server refuse the whole exchange, with every other report in it.
    case 'finish': return {
      kind: 'finish', status: r.status, exit_code: r.exitCode, peak_memory_bytes: r.peakMemoryBytes, cpu_seconds: r.cpuSeconds ?? null,
      ...(r.failureClass !== undefined && { failure_class: r.failureClass }), error: r.error?.slice(0, MAX_ERROR_CHARS) ?? null,
    };
  }
}

export class Outbox {
  private readonly entries = new Map<number, Entry>();

  /** @param onNews called when reports arrive, so that an exchange parked without them can be given up on. */
  constructor(private readonly onNews: () => void) {}

  get size(): number {
    return this.entries.size;
  }

  /** Hands over one execution's reports; settles with its receipt once an exchange carried them. */
  deliver(executionId: number, reports: Report[]): Promise<ReportsReceipt> {
    if (this.entries.has(executionId)) return Promise.reject(new Error(`execution ${executionId} is already being delivered`));
    return new Promise((resolve, reject) => {
      const wire = reports.map(wireReport);
      const bytes = wire.reduce((sum, r) => sum + (r.kind === 'output' ? r.data.length : 0) + 64, 0);
      this.entries.set(executionId, { reports: { execution_id: executionId, reports: wire }, bytes, resolve, reject });
      this.onNews();
    });
  }

  /** Takes what the next exchange carries: everything waiting, up to about maxBytes (at least one execution). */
  take(maxBytes: number): Entry[] {
    const taken: Entry[] = [];
    let bytes = 0;
    for (const [id, entry] of this.entries) {
      if (taken.length > 0 && bytes + entry.bytes > maxBytes) break;
      taken.push(entry);
      bytes += entry.bytes;
      this.entries.delete(id);
    }
    return taken;
  }

  /** The exchange answered: each taken delivery gets its receipt. Returns the executions whose result the server recorded. */
  settle(taken: Entry[], receipts: ReportsReceipt[]): number[] {
    const byId = new Map(receipts.map((r) => [r.execution_id, r]));
    const finished: number[] = [];
    for (const entry of taken) {
      const receipt = byId.get(entry.reports.execution_id);
      if (receipt) entry.resolve(receipt);
      else entry.reject(new Error(`the server sent no receipt for execution ${entry.reports.execution_id}`));
      if (receipt?.recorded && entry.reports.reports.some((r) => r.kind === 'finish')) finished.push(entry.reports.execution_id);
    }
    return finished;
  }

  /** The exchange failed, or what is waiting will never be carried: each delivery fails and its lane retries. */
  fail(entries: Entry[] | 'all', error: unknown): void {
    const failed = entries === 'all' ? this.take(Infinity) : entries;
    for (const entry of failed) entry.reject(error);
  }
}
