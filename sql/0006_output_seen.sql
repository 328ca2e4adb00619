-- The highest chunk number seen per stream, stored or dropped past the cap, so that a batch
-- delivered again does not count its dropped chunks twice.
ALTER TABLE execution_output_size ADD COLUMN stdout_seen integer NOT NULL DEFAULT -1;
ALTER TABLE execution_output_size ADD COLUMN stderr_seen integer NOT NULL DEFAULT -1;
