-- Auditing views, read straight from the event log (never from projections), so what
-- they show cannot be altered by a bug in a projection or by a rebuild.

-- Who did what, when and from where: one row per event.
CREATE VIEW audit_log AS
SELECT e.position,
       e.created_at,
       e.type,
       e.stream_type,
       e.stream_id,
       e.meta->>'actor'      AS actor,
       e.meta->>'request_id' AS request_id,
       e.meta->>'source'     AS source,
       e.data
FROM events e;

-- One row per execution (attempt) of a task: what ran, where, on whose behalf, and how it
-- ended. The command and image are the ones the execution was given (a task's command can
-- be edited before it starts, so the submitted one is not enough).
CREATE VIEW audit_executions AS
SELECT a.stream_id                          AS execution_id,
       (a.data->>'task_id')::bigint         AS task_id,
       (a.data->>'attempt')::integer        AS attempt,
       a.data->>'command'                   AS command,
       a.data->>'container'                 AS image,
       (a.data->>'worker_id')::bigint       AS worker_id,
       a.data->>'worker_name'               AS worker_name,
       sub.meta->>'actor'                   AS submitted_by,
       a.data->>'launched_by'               AS launched_by,
       a.created_at                         AS assigned_at,
       ph.downloading_at,
       ph.running_at,
       ph.uploading_at,
       fin.created_at                       AS finished_at,
       CASE WHEN fin.type = 'execution.lost' THEN 'lost' ELSE fin.data->>'status' END AS final_status,
       (fin.data->>'exit_code')::integer    AS exit_code,
       (fin.data->>'peak_memory_bytes')::bigint AS peak_memory_bytes
FROM events a
LEFT JOIN events sub
       ON sub.stream_type = 'task' AND sub.stream_id = (a.data->>'task_id')::bigint AND sub.version = 1
LEFT JOIN LATERAL (
       SELECT min(p.created_at) FILTER (WHERE p.data->>'phase' = 'downloading') AS downloading_at,
              min(p.created_at) FILTER (WHERE p.data->>'phase' = 'running')     AS running_at,
              min(p.created_at) FILTER (WHERE p.data->>'phase' = 'uploading')   AS uploading_at
       FROM events p
       WHERE p.stream_type = 'execution' AND p.stream_id = a.stream_id AND p.type = 'execution.phase'
     ) ph ON true
LEFT JOIN LATERAL (
       SELECT f.type, f.data, f.created_at
       FROM events f
       WHERE f.stream_type = 'execution' AND f.stream_id = a.stream_id
         AND f.type IN ('execution.finished', 'execution.lost')
       ORDER BY f.version DESC
       LIMIT 1
     ) fin ON true
WHERE a.type = 'execution.assigned';
