// Whether the kernel killed a container at its memory limit, as far as the engine can tell.
// Docker sets State.OOMKilled only when containerd's OOM event reached it before the exit; on
// a loaded host the exit can come first, and the engine then logs the container's 'oom' event
// late (containerd may also drop an event it reads once the container's cgroup is gone, and
// then nothing tells). A task killed at its limit must be reported so, since its retry asks
// for more memory; so an unexplained SIGKILL under a limit asks the engine's event log too.

import { constants as osConstants } from 'node:os';
import Dockerode from 'dockerode';

/** A process killed with SIGKILL, as the container's init reports it (128 + N, as a shell does). */
const SIGKILL_EXIT = 128 + osConstants.signals.SIGKILL;

/** How long an unexplained SIGKILL waits for the engine's late word of an OOM kill. */
const LATE_OOM_WAIT_MS = 1000;

/**
 * The verdict on an ended container from its inspect: killed at its limit, and failed for it.
 * `labqSignalled`: labq sent it a signal (a kill, a timeout), which explains a SIGKILL.
 */
export async function killedAtLimit(
  docker: Dockerode,
  info: Dockerode.ContainerInspectInfo,
  exitCode: number,
  labqSignalled: boolean,
): Promise<boolean> {
  // A process killed at the limit whose task still succeeded (a shell that went on) is no failure.
  if (exitCode === 0) return false;
  if (info.State.OOMKilled) return true;
  if (exitCode !== SIGKILL_EXIT || labqSignalled || !((info.HostConfig.Memory ?? 0) > 0)) return false;
  return engineLoggedOom(docker, info.Id, Date.parse(info.State.StartedAt) / 1000, LATE_OOM_WAIT_MS);
}

/**
 * Whether the engine logged an OOM kill in the container since `sinceUnixSeconds`, waiting up
 * to `waitMs` in all for the answer. The engine keeps its last 256 events, ample for the
 * seconds between a container's exit and this question. An engine that fails or does not
 * answer in time has said nothing.
 */
export async function engineLoggedOom(
  docker: Dockerode,
  containerId: string,
  sinceUnixSeconds: number,
  waitMs: number,
): Promise<boolean> {
  const giveUp = AbortSignal.timeout(waitMs);
  try {
    const stream = await docker.getEvents({
      // Whole seconds, a second wider on each side: the wait is the signal's.
      since: Math.floor(sinceUnixSeconds) - 1,
      until: Math.ceil((Date.now() + waitMs) / 1000) + 1,
      filters: { type: ['container'], container: [containerId], event: ['oom'] },
      abortSignal: giveUp,
    });
    return await new Promise<boolean>((resolve) => {
      const answer = (logged: boolean) => {
        resolve(logged);
        (stream as NodeJS.ReadableStream & { destroy(): void }).destroy();
      };
      // Only 'oom' events pass the filter: the first byte of one is the answer.
      stream.once('data', () => answer(true));
      stream.once('end', () => answer(false));
      stream.once('error', () => answer(false));
      if (giveUp.aborted) answer(false);
      else giveUp.addEventListener('abort', () => answer(false), { once: true });
    });
  } catch {
    return false;
  }
}
