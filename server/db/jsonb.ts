// A jsonb parameter. slonik's sql.jsonb serialises with safe-stable-stringify, which sorts
// every object's keys and guards against cycles: about 7 % of the server's busy time in the
// capacity part of the benchmark, for the events and rows of the exchanges. labq's values are
// plain data (no cycles, and jsonb keeps no key order), so JSON.stringify does, with the same
// statement text (`$n::jsonb`).
import { sql } from 'slonik';

export const jsonb = (value: unknown) => sql.fragment`${JSON.stringify(value)}::jsonb`;
