// The workers feed of a server process: the one reader of the workers' live view for every
// client of GET /workers/stream in the process. A worker's view comes from four tables
// (its row, its liveness, its host figures, its live executions), and only the first is
// changed by events: figures and liveness are operational rows that notify nobody (an
// exchange that carries only figures commits without a NOTIFY, see sql/0018), and a
// parked poll's claim leaves no trace on the worker's rows. So the feed does not look for
// what changed by time; it reads the whole list (a fleet is hundreds of rows) every 2 s
// while at least one client is connected, and sooner when a worker event is notified
// (a setting, a status, a deletion), and compares each worker with what it read last.
// The comparison is made once per read for all clients, and each payload is rendered once:
// the whole list for clients that just connected (or that caught up after a stall), the
// changed workers and the deleted ids for the others. No timer runs without a client.
import type { Worker } from '../../shared/schemas/worker.js';
import type { Pool } from '../db/pool.js';
import { EVENTS_CHANNEL, type ListenHub } from '../listen/hub.js';
import { Rounds } from '../listen/rounds.js';
import { allWorkers } from './workers.js';

/** How often the list is read while clients are connected. */
export const WORKER_FEED_INTERVAL_MS = 2000;

/** What the feed writes to (an SSE connection, server/http/sse.ts). */
export interface FeedClient {
  readonly isOpen: boolean;
  /** false: the socket's buffer is full, write no more before `drained`. */
  write(payload: string): boolean;
  drained(then: () => void): void;
}

interface ClientState {
  /** Sent the whole list at the next read: it just connected, or it missed changes while its socket was full. */
  full: boolean;
  blocked: boolean;
  /** Deleted while it was blocked: a whole list does not say who left. */
  deleted: Set<number>;
}

const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

export class WorkerFeed {
  /** Reads of the list: what the fan-out saves is visible here. */
  reads = 0;
  private readonly clients = new Map<FeedClient, ClientState>();
  /** Each worker as last read, serialised, by id. */
  private last = new Map<number, string>();
  private timer: NodeJS.Timeout | null = null;
  private readonly rounds = new Rounds(() => this.read(), () => this.clients.size === 0);
  private readonly unsubscribe: () => void;

  constructor(private readonly pool: Pool, hub: Pick<ListenHub, 'subscribe'>, private readonly log: (line: string) => void) {
    this.unsubscribe = hub.subscribe((channel, changed) => {
      if (this.clients.size && (channel === null || changed === null || (channel === EVENTS_CHANNEL && changed.has('worker')))) this.schedule();
    });
  }

  /** Feeds `client` from the next read on, the whole list first; returns its leave. */
  join(client: FeedClient): () => void {
    this.clients.set(client, { full: true, blocked: false, deleted: new Set() });
    if (!this.timer) {
      this.timer = setInterval(() => this.schedule(), WORKER_FEED_INTERVAL_MS);
      this.timer.unref();
    }
    this.schedule();
    return () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.idle();
    };
  }

  stop(): void {
    this.unsubscribe();
    this.clients.clear();
    this.idle();
  }

  private idle(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.last = new Map();
  }

  private schedule(): void {
    this.rounds.request();
  }

  private async read(): Promise<void> {
    if (this.clients.size === 0) return;
    this.reads++;
    let workers: Worker[];
    try {
      workers = await allWorkers(this.pool);
    } catch (error) {
      // The timer tries again.
      this.log(`reading workers for ${this.clients.size} streams failed: ${(error as Error).message}`);
      return;
    }
    const now = new Map(workers.map((w) => [w.id, JSON.stringify(w)]));
    const changed: Worker[] = workers.filter((w) => this.last.get(w.id) !== now.get(w.id));
    const deleted = [...this.last.keys()].filter((id) => !now.has(id));
    this.last = now;
    const changes = (changed.length ? frame('workers', changed) : '') + (deleted.length ? frame('deleted', deleted) : '');
    let whole: string | undefined;
    for (const [client, state] of this.clients) {
      if (!client.isOpen) continue;
      if (state.blocked) {
        for (const id of deleted) state.deleted.add(id);
        continue;
      }
      let payload = changes;
      if (state.full) {
        whole ??= frame('workers', workers);
        payload = whole + (state.deleted.size ? frame('deleted', [...state.deleted]) : '');
        state.full = false;
        state.deleted.clear();
      }
      if (client.write(payload)) continue;
      state.blocked = true;
      state.full = true;
      client.drained(() => {
        state.blocked = false;
        this.schedule();
      });
    }
  }
}
