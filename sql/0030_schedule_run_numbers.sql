-- schedule_runs.run: the run's place among its schedule's runs (fired, skipped or failed),
-- 1 for the first, where it was the version of its event in the schedule's stream: the
-- stream's first event is the schedule's creation and each edit, pause or queued run took a
-- version too, so the first run showed as "run 2" and the numbers skipped. The event keeps
-- its version; the runs keep their order. Renumbered through negative values: the key is
-- checked row by row, and a run's new number may be another's old one.
UPDATE schedule_runs r SET run = -n.place
FROM (SELECT schedule_id, run, row_number() OVER (PARTITION BY schedule_id ORDER BY run) AS place FROM schedule_runs) n
WHERE r.schedule_id = n.schedule_id AND r.run = n.run;
UPDATE schedule_runs SET run = -run;
COMMENT ON COLUMN schedule_runs.run IS 'the run''s place among its schedule''s runs, 1 for the first';
