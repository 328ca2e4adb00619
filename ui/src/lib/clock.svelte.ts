// The time a view shows "3 s ago" against: a tick re-renders relative times. Not a poll,
// nothing is read from the server on a tick.
export class Clock {
  now = $state(Date.now());

  /** Meant for an $effect: ticks every `ms` until the returned stop runs. */
  run(ms = 1000): () => void {
    const timer = setInterval(() => (this.now = Date.now()), ms);
    return () => clearInterval(timer);
  }
}
