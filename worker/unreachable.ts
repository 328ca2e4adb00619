// How the daemon waits on a server that does not answer: a backoff of 0.25 s doubling to 5 s
// (docs/worker.md, "the server is down"), a sleep that a stop cuts short, and a call retried
// until the server answers. An answer, even an error, is never retried here: it is the
// server's word, and the caller decides what it means.
import { LabqApiError } from '../shared/client.js';

export const backoff = (attempt: number) => Math.min(250 * 2 ** attempt, 5000);

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

/** Retries a call while the server is unreachable (not when it answers with an error), until `stopping` aborts. */
export async function whileUnreachable<T>(call: () => Promise<T>, stopping: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (error instanceof LabqApiError || stopping.aborted) throw error;
      await sleep(backoff(attempt), stopping);
    }
  }
}
