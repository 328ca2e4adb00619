// The engine's event log, read for what a container's inspect can miss. Docker sets
// State.OOMKilled only when containerd's OOM event reached it before the exit; on a loaded
// host the exit can come first, and the engine then still logs the container's 'oom' event,
// late. A task killed at its memory limit must be reported so (its retry asks for more), so
// the runner asks this log before it gives an unexplained SIGKILL the class `exit`.

import Dockerode from 'dockerode';

/**
 * Whether the engine logged an OOM kill in the container since `sinceUnixSeconds`, waiting up
 * to `waitMs` for one not logged yet. The engine keeps its last 256 events, ample for the
 * seconds between a container's exit and this question.
 */
export async function engineLoggedOom(
  docker: Dockerode,
  containerId: string,
  sinceUnixSeconds: number,
  waitMs: number,
): Promise<boolean> {
  const stream = await docker.getEvents({
    // Whole seconds: the engine's log is asked a second wider on each side, and the wait is the timer's.
    since: Math.floor(sinceUnixSeconds) - 1,
    until: Math.ceil((Date.now() + waitMs) / 1000) + 1,
    filters: { type: ['container'], container: [containerId], event: ['oom'] },
  });
  return new Promise<boolean>((resolve) => {
    const answer = (logged: boolean) => {
      clearTimeout(timer);
      resolve(logged);
      (stream as NodeJS.ReadableStream & { destroy(): void }).destroy();
    };
    const timer = setTimeout(() => answer(false), waitMs);
    // Only 'oom' events pass the filter: the first byte of one is the answer.
    stream.once('data', () => answer(true));
    stream.once('end', () => answer(false));
    stream.once('error', () => answer(false));
  });
}
