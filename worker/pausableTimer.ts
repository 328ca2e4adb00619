// A one-shot timer that stops counting while paused: a task's run timeout does not count
// the time it spends suspended (as Slurm does not count it against a job's time limit),
// so suspending a task never makes it time out when it is let go on.
import { performance } from 'node:perf_hooks';

export class PausableTimer {
  private timer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private fired = false;

  constructor(private remainingMs: number, private readonly fire: () => void) {
    this.resume();
  }

  pause(): void {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.remainingMs -= performance.now() - this.startedAt;
  }

  resume(): void {
    if (this.timer !== null || this.fired) return;
    this.startedAt = performance.now();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fired = true;
      this.fire();
    }, Math.max(0, this.remainingMs));
  }

  /** Stops it for good. */
  clear(): void {
    this.pause();
    this.fired = true;
  }
}
