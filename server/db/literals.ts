// Values written into a statement's text instead of passed as parameters. A prepared
// statement may run on a plan made without its parameters' values (the exchanges' batches
// make no other, server/db/pool.ts), and such a plan can neither match a partial index's
// condition against a parameter nor choose by a value's frequency: what the plan must know
// goes in the text. Only for values of a small fixed set (statuses) or one that makes the
// statement's plan its own (a claim's tags), so that the texts stay few.
import { sql, type ListSqlToken } from 'slonik';
import { LIVE_STATUSES } from '../../shared/schemas/execution.js';

/** `'a', 'b', …` for an `IN (…)`. */
export const literalList = (values: readonly string[]): ListSqlToken => sql.join(values.map((v) => sql.literalValue(v)), sql.fragment`, `);

/** The live statuses of an execution, matched in the text against `executions_worker_live`'s condition. */
export const LIVE_STATUS_LIST = literalList(LIVE_STATUSES);
