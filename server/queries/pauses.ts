// Read side of pauses: what is paused now, in the order it was paused.
import { sql } from 'slonik';
import type { Pause } from '../../shared/schemas/steering.js';
import type { Db } from '../db/pool.js';

export async function listPauses(db: Db): Promise<Pause[]> {
  const rows = await db.any(sql.unsafe`SELECT scope, scope_key, paused_at, paused_by FROM pauses ORDER BY paused_at, scope, scope_key`);
  return rows.map((r) => ({
    scope: r.scope,
    workflow_id: r.scope === 'workflow' ? Number(r.scope_key) : null,
    step_id: r.scope === 'step' ? Number(r.scope_key) : null,
    tag: r.scope === 'tag' ? r.scope_key : null,
    paused_at: r.paused_at,
    paused_by: r.paused_by,
  }));
}
