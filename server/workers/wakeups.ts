// Which of the exchanges parked on this server process a change wakes. A labq_work
// notification names who could act on it (sql/0009_work_notify.sql, sql/0028_wake_counts.sql):
// `worker:N` wakes that worker's poll; `worker:N:S` (commands/tellGivenUp.ts) answers at once
// its polls numbered S or below, which its daemon gave up on; `tag:T:N` says that N tasks of tag T became claimable
// and wakes the polls that take T, the one that has waited longest for a task first, until
// their free slots cover N. It used to wake every poll of the tag: with a hundred idle
// workers, one new task cost a hundred rounds, ninety-nine of which found nothing.
//
// A woken round may claim fewer tasks of T than it was woken for: the task does not fit it
// (its resources, its capabilities), the server counts fewer free slots than its worker said,
// or someone else took it first (a round in flight, a poll woken with it, a poll of another
// server process, each of which wakes its own polls for the same tasks). Then one look at the
// tasks (queries/claimable.ts) tells whether one of T is still there for a claim; if one is,
// every poll of T with free slots that the wave has not woken yet is woken at once, and their
// rounds go together in a few transactions (a hand-on from one poll to the next would walk a
// fleet one transaction after another); if none is, nobody else is woken. A wave looks once.
// A poll that ends before it could look (its deadline, its worker hung up, a round answered
// for another reason) hands on what it was woken for to as many polls as it needs. So a task
// that some parked poll can take is never left to the polls' deadlines.
//
// `*` and a reconnect of the LISTEN connection (notifications may have been missed) wake
// every poll; a `tag:T` without a count, every poll of T with a free slot. NOTIFY stays a
// hint: a poll looks at its deadline.
import type { PollResponse } from '../../shared/schemas/worker.js';
import { WORK_CHANNEL, type ListenHub } from '../listen/hub.js';

/** The polls one notification's tasks of one tag woke, handed on among themselves. */
interface Wave {
  members: Set<Waiter>;
  /** A round of it came up short and looked whether a task is left: the wave does so once. */
  looked: boolean;
}

/** Tasks of a tag a poll was woken for and has not looked for yet. */
interface Owed { tag: string; count: number; wave: Wave }

/** One exchange on this server process, from its first round until it is answered. */
export class Waiter {
  /** Its worker's tags, once a round has read them: until then any tag may be for it. */
  tags: string[] | null = null;
  /** Tasks it could take now (0: paused, draining, or no free slot). */
  capacity: number;
  /** Something it could act on came since its round began: it looks again before parking. */
  dirty = false;
  owed: Owed[] = [];
  /**
   * Its worker no longer waits for it: it hung up, or sent a newer exchange (worker/exchanges.ts).
   * It runs no further round, claims nothing, and is woken for no task.
   */
  givenUp = false;
  private resume: (() => void) | null = null;

  /** `want`: the free slots its worker said it has; `seq`: the number of its worker's poll, when it says one. */
  constructor(readonly workerId: number, readonly want: number, readonly seq?: number) {
    this.capacity = want;
  }

  takes(tag: string): boolean {
    return this.tags === null || this.tags.includes('*') || this.tags.includes(tag);
  }

  /** Free slots not yet promised to a wave. */
  free(): number {
    return this.capacity - this.owed.reduce((sum, o) => sum + o.count, 0);
  }

  wake(): void {
    this.dirty = true;
    this.resume?.();
  }

  giveUp(): void {
    this.givenUp = true;
    this.wake();
  }

  /** Waits until woken or `deadline` (ms since the epoch); returns at once if woken meanwhile. */
  async park(deadline: number): Promise<void> {
    if (this.dirty) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      this.resume = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.resume = null;
  }
}

export class ParkedPolls {
  /** Longest waiting for a task first: a poll comes in last, and goes last again when a tag wakes it. */
  private readonly waiters = new Set<Waiter>();
  /** The same, by worker: an exchange looks only at its own worker's, whatever the fleet's size. */
  private readonly byWorker = new Map<number, Set<Waiter>>();
  private readonly unsubscribe: () => void;

  /**
   * `claimable`: whether a task of the tag is still there for a claim (queries/claimable.ts);
   * `tellGivenUp`: tells the other server processes of an exchange given up on (commands/tellGivenUp.ts).
   */
  constructor(
    hub: ListenHub,
    private readonly claimable: (tag: string) => Promise<boolean>,
    private readonly tellGivenUp: (workerId: number, seq: number) => Promise<void>,
  ) {
    this.unsubscribe = hub.subscribe((channel, changed) => {
      if (channel === null || changed === null) this.wakeAll();
      else if (channel === WORK_CHANNEL) this.notified(changed);
    });
  }

  /** Exchanges being served: what a test reads to see one end on the server's side. */
  get size(): number {
    return this.waiters.size;
  }

  /**
   * A worker's exchange came. One of the same worker with an older poll number is one it gave
   * up on while it was parked, without hanging up (worker/exchanges.ts): it is answered at once,
   * so that its connection goes back to the worker. The one it says it gave up on (`gaveUp`),
   * when it is not here, may be parked on another server process: they are all told.
   */
  enter(workerId: number, want: number, seq?: number, gaveUp?: number): Waiter {
    const found = seq === undefined ? false : this.supersede(workerId, (s) => s < seq, gaveUp);
    if (gaveUp !== undefined && !found) void this.tellGivenUp(workerId, gaveUp).catch(() => undefined);
    const waiter = new Waiter(workerId, want, seq);
    this.waiters.add(waiter);
    const own = this.byWorker.get(workerId);
    if (own) own.add(waiter);
    else this.byWorker.set(workerId, new Set([waiter]));
    return waiter;
  }

  /** What a round is about to look for: the tasks its poll was woken for until now. */
  begin(waiter: Waiter): Owed[] {
    waiter.dirty = false;
    return waiter.owed.splice(0);
  }

  /** A round ended (failed: no response): what it was woken for and did not claim goes on to other polls. */
  served(waiter: Waiter, due: Owed[], response: PollResponse | null): void {
    const claimed = new Map<string, number>();
    if (response) {
      const { settings } = response;
      waiter.tags = settings.tags;
      waiter.capacity = settings.paused || settings.draining ? 0 : Math.min(waiter.want, settings.concurrency + settings.prefetch);
      for (const a of response.assignments) claimed.set(a.task.tag, (claimed.get(a.task.tag) ?? 0) + 1);
    }
    for (const o of due) {
      const took = Math.min(o.count, claimed.get(o.tag) ?? 0);
      claimed.set(o.tag, (claimed.get(o.tag) ?? 0) - took);
      if (o.count > took) this.short(o.tag, o.count - took, o.wave);
    }
  }

  /** A round of `wave` claimed fewer tasks of `tag` than it was woken for: the rest of the wave looks, if one is left. */
  private short(tag: string, count: number, wave: Wave): void {
    if (wave.looked) return;
    wave.looked = true;
    // A look that fails (the database is away) wakes them: a round that finds nothing costs less than a task left.
    void this.claimable(tag).catch(() => true).then((left) => {
      if (left) this.hand(tag, count, wave, true);
    });
  }

  /** Its exchange was answered (or dropped): what it was woken for and never looked for goes on. */
  leave(waiter: Waiter): void {
    this.waiters.delete(waiter);
    const own = this.byWorker.get(waiter.workerId);
    own?.delete(waiter);
    if (own?.size === 0) this.byWorker.delete(waiter.workerId);
    for (const o of waiter.owed.splice(0)) this.hand(o.tag, o.count, o.wave);
  }

  stop(): void {
    this.unsubscribe();
  }

  /** Answers the exchanges of a worker whose numbers `given` says it gave up on; says whether the one numbered `named` was among them. */
  private supersede(workerId: number, given: (seq: number) => boolean, named?: number): boolean {
    let found = false;
    for (const waiter of this.byWorker.get(workerId) ?? []) {
      if (waiter.seq === undefined || !given(waiter.seq)) continue;
      if (waiter.seq === named) found = true;
      waiter.giveUp();
    }
    return found;
  }

  private notified(tokens: ReadonlySet<string>): void {
    if (tokens.has('*')) return this.wakeAll();
    for (const token of tokens) {
      if (token.startsWith('worker:')) {
        // `worker:N:S`: worker N gave up on its exchanges numbered S and below.
        const [id, seq] = token.slice('worker:'.length).split(':').map(Number);
        if (seq !== undefined) this.supersede(id!, (s) => s <= seq);
        else for (const waiter of this.byWorker.get(id!) ?? []) waiter.wake();
      } else if (token.startsWith('tag:')) {
        const named = token.slice('tag:'.length);
        const colon = named.lastIndexOf(':');
        const count = colon < 0 ? Infinity : Number(named.slice(colon + 1));
        this.hand(colon < 0 ? named : named.slice(0, colon), Number.isNaN(count) ? Infinity : count, { members: new Set(), looked: false });
      }
    }
  }

  /** Wakes polls that take `tag` and have free slots, not yet in `wave`, until they cover `count`, or (`all`) every one. */
  private hand(tag: string, count: number, wave: Wave, all = false): void {
    const woken: Waiter[] = [];
    let left = count;
    for (const waiter of this.waiters) {
      if (left <= 0 && !all) break;
      if (wave.members.has(waiter) || waiter.givenUp || !waiter.takes(tag)) continue;
      const free = waiter.free();
      if (free <= 0) continue;
      // Each of `all` may take all of them: whoever comes first.
      const share = Math.min(all ? count : left, free);
      wave.members.add(waiter);
      waiter.owed.push({ tag, count: share, wave });
      left -= share;
      woken.push(waiter);
    }
    for (const waiter of woken) {
      // Woken last: the next wave starts with the polls this one did not wake.
      this.waiters.delete(waiter);
      this.waiters.add(waiter);
      waiter.wake();
    }
  }

  private wakeAll(): void {
    for (const waiter of this.waiters) waiter.wake();
  }
}
