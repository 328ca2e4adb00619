// A database connection that keeps the text of every statement sent through its `query` and
// `any` (what the write paths under test use; the other methods are not seen): for tests
// that check how many statements a write path takes, on a real database.
import type { DatabasePoolConnection } from 'slonik';

export function recording(connection: DatabasePoolConnection, sent: string[]): DatabasePoolConnection {
  return new Proxy(connection, {
    get: (target, key) => key === 'query' || key === 'any'
      ? (query: { sql: string }) => {
        sent.push(query.sql);
        return (target[key] as (q: unknown) => Promise<unknown>)(query);
      }
      : Reflect.get(target, key),
  });
}
