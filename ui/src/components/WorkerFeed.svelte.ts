// The workers as GET /workers/stream tells them: the whole list on connect, then the workers
// that changed (figures, settings, status, running count) and the ids of those deleted. The
// figures are not events of the log, so the workers views follow this stream rather than the
// event stream; after a cut it reconnects as lib/live.svelte.ts does, and the whole list it
// gets then replaces what it had, so a worker deleted meanwhile leaves too.
import { LabqApiError } from '../../../shared/client.js';
import type { Worker } from '../../../shared/schemas/worker.js';
import { describe } from '../lib/load.svelte.js';
import { api, session } from '../lib/session.svelte.js';

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5000;

export class WorkerFeed {
  /** By id; undefined until the first list arrived. */
  byId = $state<Record<number, Worker> | undefined>(undefined);
  error = $state<string | null>(null);
  list = $derived(this.byId ? Object.values(this.byId).sort((a, b) => a.name.localeCompare(b.name)) : []);

  /** Meant for an $effect: follows the stream until the returned stop runs. */
  run(): () => void {
    const controller = new AbortController();
    void this.follow(controller.signal);
    return () => controller.abort();
  }

  /** A worker as an action's answer gave it: shown at once, before the stream says it too. */
  put(worker: Worker): void {
    if (this.byId) this.byId[worker.id] = worker;
  }

  private async follow(signal: AbortSignal): Promise<void> {
    let delay = RETRY_MIN_MS;
    while (!signal.aborted) {
      try {
        let whole = true;
        for await (const message of api().stream('streamWorkers', { signal })) {
          delay = RETRY_MIN_MS;
          this.error = null;
          const data = JSON.parse(message.data) as Worker[] | number[];
          if (message.event === 'workers') {
            const workers = data as Worker[];
            const next = whole ? {} : { ...this.byId };
            for (const worker of workers) next[worker.id] = worker;
            this.byId = next;
            whole = false;
          } else if (message.event === 'deleted' && this.byId) {
            const next = { ...this.byId };
            for (const id of data as number[]) delete next[id];
            this.byId = next;
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof LabqApiError && error.status === 401) {
          session.expired();
          return;
        }
        if (!this.byId) this.error = describe(error);
      }
      if (signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }
}
