// The policies projection: the policy an admin set last, one row per policy (`docker`). No
// row reads as the defaults (shared/dockerPolicy.ts), so a database that never had a
// policy.changed event and one rebuilt from its log read the same.
import { sql, type FragmentSqlToken } from 'slonik';
import type { ProjectedEvent } from '../events/types.js';
import { eventRecords } from './batch.js';
import type { Projection } from './projection.js';

export const policiesProjection: Projection = {
  name: 'policies',
  tables: ['policies'],
  statements(type: string, events: ProjectedEvent[]): FragmentSqlToken[] {
    if (type !== 'policy.changed') return [];
    return [sql.fragment`
      INSERT INTO policies (name, value, version, updated_at, updated_by)
      SELECT e.data->>'policy', e.data->'new', e.version, e.created_at, e.actor FROM ${eventRecords(events)}
      ON CONFLICT (name) DO UPDATE SET
        value = excluded.value, version = excluded.version, updated_at = excluded.updated_at, updated_by = excluded.updated_by`];
  },
};
