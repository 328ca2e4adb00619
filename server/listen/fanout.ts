// One reader for many followers of the database (SSE streams, output followers). Each
// follower keeps its own cursor, but the reads are made here, once per wake-up for all of
// them: the source reads every distinct cursor in one go, and followers at the same cursor
// are handed one and the same batch object (so what is made of it, such as the event
// stream's frames in http/eventFrames.ts, can be made once). Followers that are caught up
// sit at the same cursor, so a thousand of them cost what one costs. A follower that is
// behind (it resumed from an old id, or its client reads slowly) simply reads at its own
// cursor in the same rounds until it reaches the others: there is no hand-over, so nothing
// is skipped or sent twice. A follower is read for again only once it has written what it
// was handed, which is the back-pressure: nothing piles up in memory for a slow client.
import type { ListenHub } from './hub.js';
import { Rounds } from './rounds.js';

export interface FanoutRead<B> {
  /** What each cursor's followers are handed, by the cursor's key; none: nothing new. */
  batches: Map<string, B>;
  /** Look again after this many ms even without a wake-up (events held back, say). */
  lookAgainMs?: number;
}

export interface FanoutSource<C, B> {
  key(cursor: C): string;
  read(cursors: C[]): Promise<FanoutRead<B>>;
  /** Whether a notification may concern any of these cursors. */
  concerns(channel: string | null, changed: ReadonlySet<string> | null, cursors: C[]): boolean;
}

/** wants: to be read for at the next round; busy: a round or its client has it; waiting: caught up. */
type State = 'wants' | 'busy' | 'waiting';

/** Retry after a failed read (the database may be restarting). */
const RETRY_MS = 1000;

export class Follower<C, B> {
  state: State = 'wants';
  /** Woken while busy: read again at the end, whatever the batch said. */
  woken = false;
  private batch: B | null = null;

  constructor(private readonly fanout: Fanout<C, B>, public cursor: C, private readonly notify: () => void) {}

  /** The batch handed over by the last round, once. */
  take(): B | null {
    const batch = this.batch;
    this.batch = null;
    return batch;
  }

  /** The batch is written: the follower is at `cursor`, and wants more at once when `more`. */
  advance(cursor: C, more: boolean): void {
    this.cursor = cursor;
    this.fanout.settle(this, more);
  }

  leave(): void {
    this.fanout.leave(this);
  }

  deliver(batch: B): void {
    this.batch = batch;
    this.state = 'busy';
    this.notify();
  }
}

export class Fanout<C, B> {
  /** Rounds that read the database: what the fan-out saves is visible here. */
  reads = 0;
  private readonly followers = new Set<Follower<C, B>>();
  private readonly rounds = new Rounds(() => this.round(), () => this.stopped);
  private stopped = false;
  private lookAgain: NodeJS.Timeout | null = null;
  private readonly safety: NodeJS.Timeout;
  private readonly unsubscribe: () => void;

  /** `safetyMs`: every follower is looked at that often anyway, in case a wake-up was lost. */
  constructor(hub: Pick<ListenHub, 'subscribe'>, private readonly source: FanoutSource<C, B>, private readonly log: (line: string) => void, safetyMs: number) {
    this.unsubscribe = hub.subscribe((channel, changed) => {
      if (this.followers.size && this.source.concerns(channel, changed, [...this.followers].map((f) => f.cursor))) this.wakeAll();
    });
    this.safety = setInterval(() => this.wakeAll(), safetyMs);
    this.safety.unref();
  }

  get size(): number {
    return this.followers.size;
  }

  join(cursor: C, notify: () => void): Follower<C, B> {
    const follower = new Follower(this, cursor, notify);
    this.followers.add(follower);
    this.schedule();
    return follower;
  }

  leave(follower: Follower<C, B>): void {
    this.followers.delete(follower);
  }

  settle(follower: Follower<C, B>, more: boolean): void {
    follower.state = more || follower.woken ? 'wants' : 'waiting';
    follower.woken = false;
    if (follower.state === 'wants') this.schedule();
  }

  wakeAll(): void {
    for (const follower of this.followers) {
      if (follower.state === 'waiting') follower.state = 'wants';
      else if (follower.state !== 'wants') follower.woken = true;
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    clearInterval(this.safety);
    if (this.lookAgain) clearTimeout(this.lookAgain);
    this.followers.clear();
  }

  private schedule(): void {
    this.rounds.request();
  }

  private async round(): Promise<void> {
    const wanting = [...this.followers].filter((f) => f.state === 'wants');
    if (!wanting.length || this.stopped) return;
    for (const follower of wanting) follower.state = 'busy';
    const cursors = new Map<string, C>();
    for (const follower of wanting) cursors.set(this.source.key(follower.cursor), follower.cursor);
    let result: FanoutRead<B>;
    try {
      this.reads++;
      result = await this.source.read([...cursors.values()]);
    } catch (error) {
      this.log(`reading for ${wanting.length} followers failed: ${(error as Error).message}`);
      for (const follower of wanting) follower.state = 'wants';
      setTimeout(() => this.schedule(), RETRY_MS).unref();
      return;
    }
    for (const follower of wanting) {
      if (!this.followers.has(follower)) continue;
      const batch = result.batches.get(this.source.key(follower.cursor));
      if (batch) follower.deliver(batch);
      else this.settle(follower, false);
    }
    if (result.lookAgainMs !== undefined && !this.lookAgain && !this.stopped) {
      this.lookAgain = setTimeout(() => {
        this.lookAgain = null;
        this.wakeAll();
      }, result.lookAgainMs);
    }
  }
}
