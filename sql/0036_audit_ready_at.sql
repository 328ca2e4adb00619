-- audit_executions gains ready_at: when the attempt's downloads ended while it waited for a
-- run slot (claimed ahead, by --prefetch; sql/0034, 0035), as the API's execution has it.
-- Without it `running_at - downloading_at` counted that wait as downloading. A view may only
-- gain columns at its end: the others stay as 0031 left them.
CREATE OR REPLACE VIEW audit_executions AS
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
       CASE fin.type WHEN 'execution.lost' THEN 'lost' WHEN 'execution.cancelled' THEN 'cancelled' ELSE fin.data->>'status' END AS final_status,
       (fin.data->>'exit_code')::integer    AS exit_code,
       (fin.data->>'peak_memory_bytes')::bigint AS peak_memory_bytes,
       sub.meta->>'actor_kind'              AS submitted_by_kind,
       CASE fin.type
         WHEN 'execution.lost' THEN 'lost'
         WHEN 'execution.finished' THEN coalesce(fin.data->>'failure_class', CASE fin.data->>'status'
           WHEN 'failed' THEN 'exit' WHEN 'refused' THEN 'refused' WHEN 'killed' THEN 'killed' END)
       END                                  AS failure_class,
       CASE fin.type WHEN 'execution.finished' THEN fin.data->>'error' ELSE fin.data->>'reason' END AS error,
       (fin.data->>'cpu_seconds')::float8   AS cpu_seconds,
       ph.ready_at
FROM events a
LEFT JOIN events sub
       ON sub.stream_type = 'task' AND sub.stream_id = (a.data->>'task_id')::bigint AND sub.version = 1
LEFT JOIN LATERAL (
       SELECT min(p.created_at) FILTER (WHERE p.data->>'phase' = 'downloading') AS downloading_at,
              min(p.created_at) FILTER (WHERE p.data->>'phase' = 'running')     AS running_at,
              min(p.created_at) FILTER (WHERE p.data->>'phase' = 'uploading')   AS uploading_at,
              min(p.created_at) FILTER (WHERE p.data->>'phase' = 'ready')       AS ready_at
       FROM events p
       WHERE p.stream_type = 'execution' AND p.stream_id = a.stream_id AND p.type = 'execution.phase'
     ) ph ON true
LEFT JOIN LATERAL (
       SELECT f.type, f.data, f.created_at
       FROM events f
       WHERE f.stream_type = 'execution' AND f.stream_id = a.stream_id
         AND f.type IN ('execution.finished', 'execution.lost', 'execution.cancelled')
       ORDER BY f.version DESC
       LIMIT 1
     ) fin ON true
WHERE a.type = 'execution.assigned';
