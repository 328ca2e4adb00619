// The workflows and steps projections: one row per workflow and per step.
import { sql, type FragmentSqlToken } from 'slonik';
import type { ProjectedEvent } from '../events/types.js';
import { eventRecords, streamIds } from './batch.js';
import type { Projection } from './projection.js';

export const workflowsProjection: Projection = {
  name: 'workflows',
  tables: ['workflows', 'steps'],
  statements(type: string, events: ProjectedEvent[]): FragmentSqlToken[] {
    switch (type) {
      case 'workflow.created':
        return [sql.fragment`
          INSERT INTO workflows (id, name, description, created_at, created_by, updated_at, version)
          SELECT e.stream_id, e.data->>'name', e.data->>'description', e.created_at, e.actor, e.created_at, e.version
          FROM ${eventRecords(events)}`];
      case 'step.created':
        return [sql.fragment`
          INSERT INTO steps (id, workflow_id, name, description, created_at, created_by, updated_at, version)
          SELECT e.stream_id, (e.data->>'workflow_id')::bigint, e.data->>'name', e.data->>'description',
                 e.created_at, e.actor, e.created_at, e.version
          FROM ${eventRecords(events)}`];
      case 'workflow.paused':
      case 'workflow.resumed':
      case 'step.paused':
      case 'step.resumed':
        // The pause itself is the pauses projection's; the group's row only moves its version.
        return [sql.fragment`
          UPDATE ${sql.identifier([type.startsWith('step.') ? 'steps' : 'workflows'])} g SET updated_at = e.created_at, version = e.version
          FROM ${eventRecords(events)} WHERE g.id = e.stream_id AND g.id = ANY(${streamIds(events)})`];
    }
    return [];
  },
};
