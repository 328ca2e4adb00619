// What the daemon measures of its host for the workers view: the 1-minute load average,
// the CPU use of all cores since the previous measure (from the deltas of os.cpus()'s
// counters, as top computes it), and memory used and total. A measure is taken at most
// every METRICS_INTERVAL_MS, when an exchange is about to leave, and handed out once: an
// exchange carries figures only when there is a new measure, and figures never cause one.
import { cpus, freemem, loadavg, totalmem, type CpuInfo } from 'node:os';
import type { HostMetrics } from '../shared/schemas/worker.js';

export const METRICS_INTERVAL_MS = 5000;

const MB = 2 ** 20;

interface CpuTimes {
  busy: number;
  total: number;
}

function cpuTimes(list: CpuInfo[]): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const { times } of list) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

export class HostMeter {
  private previous: CpuTimes;
  private takenAt: number;

  constructor() {
    // The first measure's CPU use is over the interval after this, not since the host booted.
    this.previous = cpuTimes(cpus());
    this.takenAt = Date.now();
  }

  /** A new measure once METRICS_INTERVAL_MS has passed since the last one; null before that. */
  take(running: number): HostMetrics | null {
    const now = Date.now();
    if (now - this.takenAt < METRICS_INTERVAL_MS) return null;
    const times = cpuTimes(cpus());
    const total = times.total - this.previous.total;
    const busy = times.busy - this.previous.busy;
    this.previous = times;
    this.takenAt = now;
    const memoryTotal = Math.floor(totalmem() / MB);
    return {
      load1: Math.round(loadavg()[0]! * 100) / 100,
      cpu_percent: total > 0 ? Math.round(Math.min(100, Math.max(0, (100 * busy) / total)) * 10) / 10 : 0,
      memory_used_mb: Math.min(memoryTotal, Math.floor((totalmem() - freemem()) / MB)),
      memory_total_mb: memoryTotal,
      running,
    };
  }
}
