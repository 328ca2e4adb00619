-- When an execution became `ready` (sql/0034). Without it an attempt's time line, which draws
-- each phase until the next one's time, showed the wait for a run slot as more downloading:
-- what `ready` was made to tell apart. Rows projected before are set as a rebuild from the
-- log would set them (a phase is recorded once: recordReports only takes one that moves on).
ALTER TABLE executions ADD COLUMN ready_at timestamptz;
UPDATE executions x SET ready_at = p.created_at
FROM events p
WHERE p.stream_type = 'execution' AND p.stream_id = x.id AND p.type = 'execution.phase' AND p.data->>'phase' = 'ready';
