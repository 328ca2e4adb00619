// The one LISTEN connection of a server process, fanned out in-process to every SSE
// client, parked poll and token cache. A notification only says which stream types changed; the
// database stays the truth, so subscribers re-read. Notifications sent while the
// connection was down are lost, so on every reconnect all subscribers are woken to
// re-read as if everything had changed.
import pgListen, { type Subscriber } from 'pg-listen';

export const EVENTS_CHANNEL = 'labq_events';
export const OUTPUT_CHANNEL = 'labq_output';
/** Who could act on a change: `tag:T:N` (N tasks), `worker:N` or `*` (sql/0009_work_notify.sql, 0028), or `worker:N:S` (commands/tellGivenUp.ts); what wakes parked polls (workers/wakeups.ts). */
export const WORK_CHANNEL = 'labq_work';
/** A token's row changed: drop the tokens kept in memory. */
export const TOKENS_CHANNEL = 'labq_tokens';
const CHANNELS = [EVENTS_CHANNEL, OUTPUT_CHANNEL, WORK_CHANNEL, TOKENS_CHANNEL];

/**
 * Called with the channel and what changed on it (stream types for events, execution ids
 * for output, tokens for work, nothing for tokens), or with null for both when anything may have changed.
 */
export type Wake = (channel: string | null, changed: ReadonlySet<string> | null) => void;

export class ListenHub {
  private readonly subscribers = new Set<Wake>();
  private subscriber: Subscriber | null = null;

  constructor(private readonly databaseUrl: string, private readonly log: (line: string) => void = () => undefined) {}

  async start(): Promise<void> {
    // pg-listen is CommonJS with an ES default export: under Node's ESM it sits on `.default`.
    const subscriber = pgListen.default(
      { connectionString: this.databaseUrl },
      {
        parse: (payload: string) => payload,
        retryLimit: Infinity,
        retryTimeout: Infinity,
        retryInterval: (attempt: number) => Math.min(250 * 2 ** attempt, 5000),
        paranoidChecking: 10_000,
      },
    );
    for (const channel of CHANNELS) {
      subscriber.notifications.on(channel, (payload: string) => {
        this.wake(channel, new Set((payload ?? '').split(',').filter(Boolean)));
      });
    }
    subscriber.events.on('reconnect', (attempt: number) => this.log(`LISTEN connection lost; reconnecting (attempt ${attempt})`));
    subscriber.events.on('connected', () => this.wake(null, null));
    subscriber.events.on('error', (error: Error) => this.log(`LISTEN connection error: ${error.message}`));
    // Kept before connecting, so that stop() closes it even when starting fails half way.
    this.subscriber = subscriber;
    await subscriber.connect();
    for (const channel of CHANNELS) await subscriber.listenTo(channel);
  }

  subscribe(wake: Wake): () => void {
    this.subscribers.add(wake);
    return () => this.subscribers.delete(wake);
  }

  wake(channel: string | null, changed: ReadonlySet<string> | null): void {
    for (const wake of this.subscribers) wake(channel, changed);
  }

  async stop(): Promise<void> {
    this.subscribers.clear();
    await this.subscriber?.close().catch(() => undefined);
    this.subscriber = null;
  }
}
