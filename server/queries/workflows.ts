// Read side of workflows and steps, each with its task counts by status and whether it is stuck.
import { sql } from 'slonik';
import type { Step, Workflow } from '../../shared/schemas/workflow.js';
import type { Db } from '../db/pool.js';
import { taskCounts } from './counts.js';
import { stuckScopes } from './stuck.js';
import { containsPattern, decodeCursor, pageOf } from './pagination.js';

const pausedAs = (scope: 'workflow' | 'step') =>
  sql.fragment`EXISTS (SELECT 1 FROM pauses p WHERE p.scope = ${scope} AND p.scope_key = id::text) AS paused`;

/** Counts and stuck flags for a page in two statements, whatever its length; only rows with pending tasks can be stuck. */
async function withCounts<T extends { id: number }>(db: Db, scope: 'workflow' | 'step', rows: readonly T[]) {
  const counts = await taskCounts(db, scope, rows.map((r) => r.id));
  const stuck = await stuckScopes(db, scope, rows.filter((r) => (counts.get(r.id)?.pending ?? 0) > 0).map((r) => r.id));
  return rows.map((r) => ({ ...r, counts: counts.get(r.id) ?? {}, stuck: stuck.has(r.id) }));
}

export async function listWorkflows(db: Db, query: { cursor?: string; limit: number; q?: string }) {
  const where = [sql.fragment`id > ${decodeCursor(query.cursor)}`];
  if (query.q) where.push(sql.fragment`name ILIKE ${containsPattern(query.q)}`);
  const rows = await db.any(sql.unsafe`
    SELECT id, name, description, created_at, created_by, updated_at, version, ${pausedAs('workflow')} FROM workflows
    WHERE ${sql.join(where, sql.fragment` AND `)} ORDER BY id LIMIT ${query.limit + 1}`);
  const page = pageOf(rows as unknown as Omit<Workflow, 'counts' | 'stuck'>[], query.limit);
  return { ...page, items: (await withCounts(db, 'workflow', page.items)) as Workflow[] };
}

export async function getWorkflow(db: Db, id: number): Promise<Workflow | null> {
  const row = await db.maybeOne(sql.unsafe`
    SELECT id, name, description, created_at, created_by, updated_at, version, ${pausedAs('workflow')} FROM workflows WHERE id = ${id}`);
  return row ? ((await withCounts(db, 'workflow', [row as any]))[0] as Workflow) : null;
}

export async function listSteps(db: Db, query: { cursor?: string; limit: number; workflow_id?: number }) {
  const where = [sql.fragment`id > ${decodeCursor(query.cursor)}`];
  if (query.workflow_id !== undefined) where.push(sql.fragment`workflow_id = ${query.workflow_id}`);
  const rows = await db.any(sql.unsafe`
    SELECT id, workflow_id, name, description, created_at, created_by, updated_at, version, ${pausedAs('step')} FROM steps
    WHERE ${sql.join(where, sql.fragment` AND `)} ORDER BY id LIMIT ${query.limit + 1}`);
  const page = pageOf(rows as unknown as Omit<Step, 'counts' | 'stuck'>[], query.limit);
  return { ...page, items: (await withCounts(db, 'step', page.items)) as Step[] };
}

export async function getStep(db: Db, id: number): Promise<Step | null> {
  const row = await db.maybeOne(sql.unsafe`
    SELECT id, workflow_id, name, description, created_at, created_by, updated_at, version, ${pausedAs('step')} FROM steps WHERE id = ${id}`);
  return row ? ((await withCounts(db, 'step', [row as any]))[0] as Step) : null;
}
