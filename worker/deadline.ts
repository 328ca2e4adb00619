// A signal that aborts after a time or with others, in place of
// AbortSignal.any([AbortSignal.timeout(ms), …]): under Node 20 the timeout signal inside such
// a combination is held only weakly, and a garbage collection before its time drops it, so
// the combination never times out (nodejs/node#57736). A transfer allocates enough to collect
// within a second: a task's 2 s upload timeout let a 23 s upload run to its end. Here the timer
// holds its controller until it fires or is cleared.

export interface Deadline {
  signal: AbortSignal;
  /** Stops the timer once the work is over, so that it holds nothing longer. */
  clear(): void;
}

export function deadline(ms: number, others: AbortSignal[] = []): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
  // As AbortSignal.timeout's: it never keeps the process alive by itself.
  timer.unref();
  return { signal: AbortSignal.any([controller.signal, ...others]), clear: () => clearTimeout(timer) };
}

/**
 * Runs `work` under a timeout of `seconds` (none when absent) and `abort`: an abort throws its
 * reason, a timeout an error saying what was in flight (`what()`: `download of s3://…`).
 */
export function withinDeadline<T>(seconds: number | undefined, abort: AbortSignal, what: () => string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const bound = seconds ? deadline(seconds * 1000, [abort]) : { signal: abort, clear: () => undefined };
  return work(bound.signal).catch((error) => {
    if (abort.aborted) throw abort.reason;
    if (bound.signal.aborted) throw new Error(`${what()} timed out after ${seconds} s`);
    throw error;
  }).finally(bound.clear);
}
