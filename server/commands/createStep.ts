// Command: create a step in a workflow. Step names are unique within their workflow so
// that scripts can find a step again by name.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { StepInput } from '../../shared/schemas/workflow.js';
import type { Pool } from '../db/pool.js';
import { conflict, invalid } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';

export async function createStep(pool: Pool, input: StepInput, meta: EventMeta): Promise<number> {
  return pool.transaction(async (tx) => {
    // Locks the workflow row so that two creations of the same name serialise here.
    const workflow = await tx.maybeOne(sql.unsafe`SELECT id FROM workflows WHERE id = ${input.workflow_id} FOR UPDATE`);
    if (!workflow) throw invalid([{ field: 'workflow_id', message: `workflow ${input.workflow_id} does not exist` }]);
    const taken = await tx.exists(sql.unsafe`SELECT 1 FROM steps WHERE workflow_id = ${input.workflow_id} AND name = ${input.name}`);
    if (taken) throw conflict(`workflow ${input.workflow_id} already has a step named "${input.name}"`);
    const id = Number(await tx.oneFirst(sql.unsafe`SELECT nextval('step_ids')`));
    await recordEvents(tx, [
      {
        type: 'step.created',
        streamId: id,
        version: 1,
        data: { workflow_id: input.workflow_id, name: input.name, description: input.description ?? null },
      },
    ], meta);
    return id;
  });
}
