// Statements that do not depend on each other sent as one: each a data-modifying CTE of a
// single statement (p0, p1…), which PostgreSQL runs on one snapshot. One round trip instead
// of one per statement (server/projections/applyEvents.ts, server/events/appendEvents.ts).
import { sql, type FragmentSqlToken } from 'slonik';

export function ctes(statements: FragmentSqlToken[]) {
  return sql.join(statements.map((statement, i) => sql.fragment`${sql.identifier([`p${i}`])} AS (${statement})`), sql.fragment`, `);
}
