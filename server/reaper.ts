// The reaper: one leader at a time across every server on the database, chosen with a
// session advisory lock held on a connection of its own. The leader expires leases, marks
// absent workers, wakes the polls of tasks whose backoff ended and folds the task counters'
// deltas every second; the others retry for the lock, so when the leader's
// process dies its connection closes, the lock is released and another server takes over.
// A new leader first grants every live execution a full lease (commands/extendLeases.ts).
import pg from 'pg';
import type { Pool } from './db/pool.js';
import { compactTaskCounts } from './commands/compactTaskCounts.js';
import { expireLeases } from './commands/expireLeases.js';
import { extendLeases } from './commands/extendLeases.js';
import { markWorkersAbsent } from './commands/markWorkersAbsent.js';
import { wakeRetries } from './commands/wakeRetries.js';
import type { QueueSettings } from './settings.js';

const LOCK_KEY = 7_162_534_002;

export class Reaper {
  private timer: NodeJS.Timeout | null = null;
  private client: pg.Client | null = null;
  private leader = false;
  private running: Promise<void> | null = null;
  /** Backoffs that ended up to this time have woken their polls; null: none yet as this leader. */
  private retriesWokenUntil: string | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly pool: Pool,
    private readonly settings: QueueSettings,
    private readonly log: (line: string) => void,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.tick().finally(() => (this.running = null));
    }, this.intervalMs);
  }

  get isLeader(): boolean {
    return this.leader;
  }

  private async tick(): Promise<void> {
    try {
      if (!this.leader) await this.tryLead();
    } catch (error) {
      this.log(`reaper: cannot take the lead: ${(error as Error).message}`);
      await this.resign();
      return;
    }
    if (!this.leader) return;
    // A failed round is just tried again next tick: resigning would make the next leader
    // extend every lease, delaying the loss of dead workers' tasks each time.
    try {
      const lost = await expireLeases(this.pool, this.settings.maxLostExecutions);
      if (lost.length) this.log(`reaper: ${lost.length} execution(s) lost (lease expired): ${lost.join(', ')}`);
      await markWorkersAbsent(this.pool, this.settings.offlineAfterSeconds, this.settings.leaseSeconds);
      this.retriesWokenUntil = (await wakeRetries(this.pool, this.retriesWokenUntil)).until;
      await compactTaskCounts(this.pool);
    } catch (error) {
      this.log(`reaper: ${(error as Error).message}`);
    }
  }

  private async tryLead(): Promise<void> {
    if (!this.client) {
      const client = new pg.Client({ connectionString: this.databaseUrl });
      client.on('error', () => void this.resign());
      await client.connect();
      this.client = client;
    }
    const { rows } = await this.client.query('SELECT pg_try_advisory_lock($1) AS ok', [LOCK_KEY]);
    if (rows[0].ok !== true) return;
    await extendLeases(this.pool, this.settings.leaseSeconds);
    this.retriesWokenUntil = null;
    this.leader = true;
    this.log('reaper: leading');
  }

  private async resign(): Promise<void> {
    this.leader = false;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await this.resign();
  }
}
