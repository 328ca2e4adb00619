// Command: create a workflow (the container of steps and tasks).
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { WorkflowInput } from '../../shared/schemas/workflow.js';
import type { Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';

export async function createWorkflow(pool: Pool, input: WorkflowInput, meta: EventMeta): Promise<number> {
  return pool.transaction(async (tx) => {
    const id = Number(await tx.oneFirst(sql.unsafe`SELECT nextval('workflow_ids')`));
    await recordEvents(tx, [
      { type: 'workflow.created', streamId: id, version: 1, data: { name: input.name, description: input.description ?? null } },
    ], meta);
    return id;
  });
}
