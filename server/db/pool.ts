// The slonik pool every server-side query goes through, with type parsers chosen for a
// JSON API: int8 ids as numbers (they stay below 2^53), times as ISO strings.
import { createPool, type DatabasePool, type CommonQueryMethods } from 'slonik';

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
}

export async function connectPool(url: string, options: PoolOptions = {}): Promise<Pool> {
  return createPool(url, {
    typeParsers,
    maximumPoolSize: options.maximumPoolSize ?? 10,
    statementTimeout: 'DISABLE_TIMEOUT',
    // A transaction left open holds back every reader that tails the log (they only read
    // below the oldest running transaction): never let one idle for long.
    idleInTransactionSessionTimeout: 60_000,
    connectionTimeout: 10_000,
  });
}
