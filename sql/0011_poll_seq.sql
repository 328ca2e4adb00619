-- The highest poll number seen from each worker since it registered. A worker daemon
-- numbers its polls; one it gave up on (a slot freed, or no answer in time) may still be
-- running on a server when its next poll is answered, and its list of held executions is
-- then stale: it would declare the newer poll's assignments lost. A poll whose number is
-- below this one is refused before it touches anything.
ALTER TABLE worker_liveness ADD COLUMN poll_seq bigint NOT NULL DEFAULT 0;
