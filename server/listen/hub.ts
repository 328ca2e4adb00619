// The one LISTEN connection of a server process, fanned out in-process to every SSE
// client and parked poll. A notification only says which stream types changed; the
// database stays the truth, so subscribers re-read. Notifications sent while the
// connection was down are lost, so on every reconnect all subscribers are woken to
// re-read as if everything had changed.
import pgListen, { type Subscriber } from 'pg-listen';

export const EVENTS_CHANNEL = 'labq_events';

/** Called with the stream types that changed, or null when anything may have. */
export type Wake = (streamTypes: ReadonlySet<string> | null) => void;

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
    subscriber.notifications.on(EVENTS_CHANNEL, (payload: string) => {
      this.wake(new Set((payload ?? '').split(',').filter(Boolean)));
    });
    subscriber.events.on('reconnect', (attempt: number) => this.log(`LISTEN connection lost; reconnecting (attempt ${attempt})`));
    subscriber.events.on('connected', () => this.wake(null));
    subscriber.events.on('error', (error: Error) => this.log(`LISTEN connection error: ${error.message}`));
    await subscriber.connect();
    await subscriber.listenTo(EVENTS_CHANNEL);
    this.subscriber = subscriber;
  }

  subscribe(wake: Wake): () => void {
    this.subscribers.add(wake);
    return () => this.subscribers.delete(wake);
  }

  wake(streamTypes: ReadonlySet<string> | null): void {
    for (const wake of this.subscribers) wake(streamTypes);
  }

  async stop(): Promise<void> {
    this.subscribers.clear();
    await this.subscriber?.close().catch(() => undefined);
    this.subscriber = null;
  }
}
