// The workers projection: identity, capabilities, live settings and status of each
// worker, and the worker token bound to it. A worker that registers again under its name
// keeps its row (and id), and its binding unless a worker token registered it (an admin
// registration carries no token). A registration also ends a drain (a daemon started again
// is meant to work) and brings a deleted worker back; a deletion only marks the row, which
// its executions still name.
import { sql, type FragmentSqlToken } from 'slonik';
import type { ProjectedEvent } from '../events/types.js';
import { eventRecords, streamIds } from './batch.js';
import type { Projection } from './projection.js';

export const workersProjection: Projection = {
  name: 'workers',
  tables: ['workers'],
  statements(type: string, events: ProjectedEvent[]): FragmentSqlToken[] {
    switch (type) {
      case 'worker.registered':
        return [sql.fragment`
          INSERT INTO workers AS w (id, name, instance, hostname, cpus, memory_mb, docker, gpus, capabilities, tags, concurrency,
                                    prefetch, paused, draining, status, agent_version, registered_at, updated_at, version, settings_version,
                                    token_id)
          SELECT e.stream_id, e.data->>'name', e.data->>'instance', e.data->>'hostname', (e.data->>'cpus')::numeric,
                 (e.data->>'memory_mb')::bigint, (e.data->>'docker')::boolean, (e.data->>'gpus')::int,
                 e.data->'capabilities', ARRAY(SELECT jsonb_array_elements_text(e.data->'tags')),
                 (e.data->>'concurrency')::int, (e.data->>'prefetch')::int, false, false, 'online', e.data->>'agent_version',
                 e.created_at, e.created_at, e.version, 1, (e.data->>'token_id')::bigint
          FROM ${eventRecords(events)}
          ON CONFLICT (id) DO UPDATE SET
            instance = excluded.instance, hostname = excluded.hostname, cpus = excluded.cpus, memory_mb = excluded.memory_mb, docker = excluded.docker,
            gpus = excluded.gpus, capabilities = excluded.capabilities, tags = excluded.tags,
            concurrency = excluded.concurrency, prefetch = excluded.prefetch, draining = false, deleted_at = NULL, status = 'online',
            agent_version = excluded.agent_version, updated_at = excluded.updated_at, version = excluded.version,
            settings_version = w.settings_version + 1, token_id = coalesce(excluded.token_id, w.token_id)`];
      case 'worker.settings_changed':
        return [sql.fragment`
          UPDATE workers w SET
            concurrency = coalesce((e.data->>'concurrency')::int, w.concurrency),
            prefetch = coalesce((e.data->>'prefetch')::int, w.prefetch),
            tags = CASE WHEN e.data ? 'tags' THEN ARRAY(SELECT jsonb_array_elements_text(e.data->'tags')) ELSE w.tags END,
            paused = coalesce((e.data->>'paused')::boolean, w.paused),
            draining = coalesce((e.data->>'draining')::boolean, w.draining),
            updated_at = e.created_at, version = e.version, settings_version = w.settings_version + 1
          FROM ${eventRecords(events)} WHERE w.id = e.stream_id AND w.id = ANY(${streamIds(events)})`];
      case 'worker.status_changed':
        return [sql.fragment`
          UPDATE workers w SET status = e.data->>'status', updated_at = e.created_at, version = e.version
          FROM ${eventRecords(events)} WHERE w.id = e.stream_id AND w.id = ANY(${streamIds(events)})`];
      case 'worker.deleted':
        return [sql.fragment`
          UPDATE workers w SET deleted_at = e.created_at, updated_at = e.created_at, version = e.version
          FROM ${eventRecords(events)} WHERE w.id = e.stream_id AND w.id = ANY(${streamIds(events)})`];
    }
    return [];
  },
};
