-- The highest chunk number seen per stream, stored or dropped past the cap: a chunk at or
-- below it is a re-sent one (workers send each stream in order), neither stored nor counted
-- again.
ALTER TABLE execution_output_size ADD COLUMN stdout_seen integer NOT NULL DEFAULT -1;
ALTER TABLE execution_output_size ADD COLUMN stderr_seen integer NOT NULL DEFAULT -1;
