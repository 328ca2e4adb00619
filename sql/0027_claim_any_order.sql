-- The claim of a named tag must read that tag's entries of tasks_claim. With statistics that
-- say the tag is most of the table (100,000 paused tasks of it, say, which neither index
-- holds), the planner took tasks_claim_any instead and filtered every claimable task of
-- every tag by tag: 20,949 index entries read for 5 tasks (server/http/steering.test.ts).
-- tasks_claim_any now holds a condition only the `*` claim states, so a named tag's claim
-- cannot use it; the range is the one the API allows, and the check makes the condition
-- true of every task.
ALTER TABLE tasks ADD CONSTRAINT tasks_priority_range CHECK (priority BETWEEN -1000 AND 1000);
DROP INDEX tasks_claim_any;
CREATE INDEX tasks_claim_any ON tasks (priority DESC, id) WHERE status = 'pending' AND NOT paused AND priority BETWEEN -1000 AND 1000;

-- What the claim asks of a task's requirements (server/requirements.ts, fits), estimated from
-- the data rather than by default fractions: without these, the planner took those conditions
-- to pass about one task in ten thousand, expected to read a whole tag before finding the
-- few it claims, and read all of its entries and sorted them rather than the first ones in
-- order. Analysed at once, so that a database migrated with many tasks plans so from now.
CREATE STATISTICS tasks_requirements ON
  (coalesce((requirements->>'cpus')::numeric, 0)),
  (coalesce((requirements->>'memory_mb')::bigint, 0)),
  (coalesce((requirements->>'gpus')::int, 0)),
  (coalesce(requirements->'capabilities', '[]'::jsonb))
FROM tasks;
ANALYZE tasks;
