// The slonik pool every server-side query goes through, with type parsers chosen for a
// JSON API: int8 ids as numbers (they stay below 2^53), times as ISO strings.
import { createPool, type DatabasePool, type CommonQueryMethods } from 'slonik';
import { preparedDriverFactory } from './preparedDriver.js';

export type Db = CommonQueryMethods;
export type Pool = DatabasePool;

const iso = (value: string) => new Date(value).toISOString();

const typeParsers = [
  { name: 'int8', parse: (v: string) => Number(v) },
  { name: 'numeric', parse: (v: string) => Number(v) },
  { name: 'timestamptz', parse: iso },
  { name: 'timestamp', parse: iso },
];

export interface PoolOptions {
  maximumPoolSize?: number;
  /** How long a statement of this pool waits for a lock before it fails (PostgreSQL's lock_timeout, e.g. `500ms`); by default, as long as it takes. */
  lockTimeout?: string;
  /**
   * Plan every prepared statement once per connection, whatever its parameters' values
   * (PostgreSQL's plan_cache_mode=force_generic_plan): for a pool whose statements are the
   * same few on every call and read by keys, where planning them again at each call is the
   * cost (the exchanges' batches). A statement whose plan must follow a value puts that
   * value in its text as a literal (server/db/literals.ts): the claim's tag, the statuses of
   * live executions, which a partial index's condition can only be matched against in the text.
   */
  genericPlans?: boolean;
}

/** The URL with a setting of every session added to its `options` (those it names stay). */
function withSetting(url: string, name: string, value: string): string {
  const parsed = new URL(url);
  const options = parsed.searchParams.get('options');
  parsed.searchParams.set('options', `${options ? `${options} ` : ''}-c ${name}=${value}`);
  return parsed.toString();
}

export async function connectPool(url: string, options: PoolOptions = {}): Promise<Pool> {
  let session = url;
  if (options.lockTimeout) session = withSetting(session, 'lock_timeout', options.lockTimeout);
  if (options.genericPlans) session = withSetting(session, 'plan_cache_mode', 'force_generic_plan');
  return createPool(session, {
    typeParsers,
    maximumPoolSize: options.maximumPoolSize ?? 10,
    statementTimeout: 'DISABLE_TIMEOUT',
    // A transaction left open holds back every reader that tails the log (they only read
    // below the oldest running transaction): never let one idle for long.
    idleInTransactionSessionTimeout: 60_000,
    connectionTimeout: 10_000,
    driverFactory: preparedDriverFactory(),
    // slonik's default reset (DISCARD ALL on every release) would drop the prepared
    // statements behind the driver's back, and it threw away each session's plans, those of
    // the triggers' PL/pgSQL included, so every transaction planned them again. labq keeps
    // no session state on a pooled connection (no session SET, temporary table, LISTEN or
    // advisory lock: those live on dedicated clients), so there is nothing to reset; and a
    // connection idle for a minute, not five seconds, keeps its caches warm between bursts.
    resetConnection: async () => undefined,
    idleTimeout: 60_000,
  });
}
