-- An execution that ended while suspended (killed, lost, cancelled) kept `suspended`, so the
-- API showed it suspended forever; the executions projection now lifts it when the execution
-- ends. The rows projected before are set as a rebuild from the log would set them.
UPDATE executions SET suspended = false, suspended_at = NULL WHERE suspended AND finished_at IS NOT NULL;
