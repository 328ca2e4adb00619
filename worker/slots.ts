// A semaphore whose size can change while it is in use: the worker's run slots, resized
// when an operator changes its concurrency. Shrinking never stops a running task; it only
// holds back the next ones until enough have finished.
export class Slots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private size: number) {}

  resize(size: number): void {
    this.size = size;
    this.drain();
  }

  get inUse(): number {
    return this.used;
  }

  /** Whether an `acquire` now would wait. */
  get full(): boolean {
    return this.used >= this.size || this.waiting.length > 0;
  }

  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!this.full) {
      this.used++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', cancel);
        this.used++;
        resolve();
      };
      const cancel = () => {
        const at = this.waiting.indexOf(grant);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal?.reason ?? new Error('aborted'));
      };
      signal?.addEventListener('abort', cancel, { once: true });
      this.waiting.push(grant);
    });
  }

  release(): void {
    this.used--;
    this.drain();
  }

  private drain(): void {
    while (this.used < this.size && this.waiting.length) this.waiting.shift()!();
  }
}
