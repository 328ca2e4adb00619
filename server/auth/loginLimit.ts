// The limit on failed logins: at most MAX_PER_NAME failures per user name (from any
// address) and MAX_PER_ADDRESS per client address (for any name) within WINDOW_SECONDS;
// past it, logins are refused with 429 before the password is checked, so the limit
// cannot be used to test passwords. Failures live in the database, so the limit holds
// across every server process. Each attempt is counted as a failure before its password
// is checked (under a per-name advisory lock, so that parallel guesses cannot all pass the
// check first), and a success takes back only the failures of its own name and address:
// a user who logs in does not reset the count an attacker built from elsewhere.
import { sql } from 'slonik';
import type { Db, Pool } from '../db/pool.js';

export const WINDOW_SECONDS = 15 * 60;
export const MAX_PER_NAME = 5;
export const MAX_PER_ADDRESS = 20;

/** Seconds until a login of this name from this address may be tried again; null: it may now. */
async function retryAfter(db: Db, name: string, address: string): Promise<number | null> {
  // The MAX-th most recent failure of the name (or address) in the window: while it is in
  // the window, the limit is reached; it leaves the window at `at + window`.
  const seconds = await db.oneFirst(sql.unsafe`
    WITH recent AS (
      SELECT name = ${name} AS by_name, address = ${address} AS by_address, at FROM login_failures
      WHERE (name = ${name} OR address = ${address}) AND at > now() - make_interval(secs => ${WINDOW_SECONDS})
    ), limiting AS (
      SELECT (SELECT at FROM recent WHERE by_name ORDER BY at DESC OFFSET ${MAX_PER_NAME - 1} LIMIT 1) AS at
      UNION ALL
      SELECT (SELECT at FROM recent WHERE by_address ORDER BY at DESC OFFSET ${MAX_PER_ADDRESS - 1} LIMIT 1)
    )
    SELECT ceil(extract(epoch FROM max(at) + make_interval(secs => ${WINDOW_SECONDS}) - clock_timestamp()))::int FROM limiting`);
  return seconds === null ? null : Math.max(1, Number(seconds));
}

/**
 * Counts an attempt as a failure unless the limit is reached: null when the attempt may go
 * on, else the seconds to wait. Failures that left the window are deleted on the way.
 */
export async function claimLoginAttempt(pool: Pool, name: string, address: string): Promise<number | null> {
  return pool.transaction(async (tx) => {
    await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(hashtext('labq login ' || ${name}))`);
    const wait = await retryAfter(tx, name, address);
    if (wait !== null) return wait;
    await tx.query(sql.unsafe`
      WITH forgotten AS (DELETE FROM login_failures WHERE at <= now() - make_interval(secs => ${WINDOW_SECONDS}))
      INSERT INTO login_failures (name, address) VALUES (${name}, ${address})`);
    return null;
  });
}

/** After a success: forget the failures of this name from this address only. */
export async function clearLoginFailures(db: Db, name: string, address: string): Promise<void> {
  await db.query(sql.unsafe`DELETE FROM login_failures WHERE name = ${name} AND address = ${address}`);
}
