// slonik's own PostgreSQL driver, with the parameterised statements of transactions prepared
// once per connection (named after a hash of their text) instead of parsed and planned again
// at every call. The exchange runs the same twenty-odd statements for every worker: preparing
// them took about a quarter of PostgreSQL's CPU per completed task off (docs/performance.md).
// A statement outside a transaction (a read of the API: a page of the task list) is planned
// at every call, with the statistics of the moment: after five runs PostgreSQL may keep a
// generic plan, which is made again only when the table is analysed, and the task list's
// first page kept the sort of every row it had chosen while the table held a thousand tasks,
// 280 ms instead of 3 once a bulk submit had brought a million in faster than autovacuum
// analysed them (the scale part of the benchmark). The write path runs in transactions. A connection
// prepares at most PREPARED_PER_CONNECTION distinct texts (the hot path's come first); the
// rest (rare filters of the task list, one-off admin queries) run unnamed as before, so a
// backend's plan memory stays bounded. Statements without parameters run unnamed. After five
// runs PostgreSQL may keep a generic plan, made without the parameters' values (the exchanges'
// batches' connections make no other, server/db/pool.ts): a statement whose plan must follow
// a value puts it in its text as a literal (the claim's tag, the statuses of live executions).
//
// A prepared statement whose result columns changed under it (a newer server's migration
// added a column to a table read with `*`) fails once: slonik then replaces the connection,
// as after any error it does not know, and the next call prepares it afresh (tested).
//
// The driver is the very copy slonik loads (resolved from slonik's own folder), so its errors
// are the classes `slonik` exports and `instanceof` checks keep working. The pool must not
// reset connections with DISCARD ALL (server/db/pool.ts): that drops the prepared statements
// behind the driver's back.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { DriverClient, DriverFactory } from 'slonik';

const PREPARED_PER_CONNECTION = 200;

const requireFromSlonik = createRequire(createRequire(import.meta.url).resolve('slonik'));
const { createPgDriverFactory } = requireFromSlonik('@slonik/pg-driver') as { createPgDriverFactory: () => DriverFactory };

// Names by text, for the whole process: a lookup instead of a hash at every call.
const names = new Map<string, string>();
const nameOf = (text: string): string => {
  let name = names.get(text);
  if (name === undefined) {
    name = `labq_${createHash('sha1').update(text).digest('base64url')}`;
    if (names.size < PREPARED_PER_CONNECTION * 10) names.set(text, name);
  }
  return name;
};

/** slonik opens and ends its transactions with these, without parameters; a savepoint's rollback does not end one. */
const OPENS = /^\s*(START TRANSACTION|BEGIN)\b/i;
const ENDS = /^\s*(COMMIT|END|ROLLBACK(?!\s+TO\b))\b/i;

function preparing(client: DriverClient): DriverClient {
  const prepared = new Set<string>();
  const query = client.query;
  let inTransaction = false;
  return {
    ...client,
    query: (text, values) => {
      if (!values?.length) {
        if (OPENS.test(text)) inTransaction = true;
        else if (ENDS.test(text)) inTransaction = false;
        return query(text, values);
      }
      if (!inTransaction) return query(text, values);
      const name = nameOf(text);
      if (!prepared.has(name)) {
        if (prepared.size >= PREPARED_PER_CONNECTION) return query(text, values);
        prepared.add(name);
      }
      // node-postgres takes a query config where the driver passes the text: it prepares the
      // statement on its first use on this connection and only binds it afterwards.
      return query({ name, text } as unknown as string, values);
    },
  };
}

export function preparedDriverFactory(): DriverFactory {
  const pgDriverFactory = createPgDriverFactory();
  return async (options) => {
    const driver = await pgDriverFactory(options);
    return { ...driver, createClient: async () => preparing(await driver.createClient()) };
  };
}
