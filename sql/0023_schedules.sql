-- Schedules: task definitions or a sweep submitted on a cron (docs/schedules.md).
--
-- schedules: a projection of the schedule.* events, one row per schedule not deleted.
-- next_due_at is the next time the clock fires it (null while disabled); every event of the
-- stream carries the value it leaves, so a rebuild needs no clock. A server claims a due run
-- by locking the row and finding next_due_at still equal to the due time it read: of two
-- servers racing on one due time, the second finds it moved and fires nothing.
-- queued_due_at: a due time held back by overlap `queue` until the previous run's tasks end.
CREATE SEQUENCE schedule_ids;
CREATE TABLE schedules (
  id            bigint      PRIMARY KEY,
  name          text        NOT NULL UNIQUE,
  cron          text        NOT NULL,
  timezone      text        NOT NULL,
  context       jsonb       NOT NULL,
  submit        jsonb       NOT NULL,
  workflow_id   bigint,
  step_id       bigint,
  catch_up      text        NOT NULL CHECK (catch_up IN ('skip', 'run_once')),
  overlap       text        NOT NULL CHECK (overlap IN ('allow', 'skip', 'queue')),
  enabled       boolean     NOT NULL,
  next_due_at   timestamptz,
  queued_due_at timestamptz,
  created_at    timestamptz NOT NULL,
  created_by    text,
  updated_at    timestamptz NOT NULL,
  version       integer     NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_due_at) WHERE enabled;

-- schedule_runs: a projection of schedule.fired and schedule.skipped, one row per run;
-- `run` is the version of its event in the schedule's stream. How a run's tasks ended is
-- read from the tasks themselves.
CREATE TABLE schedule_runs (
  schedule_id bigint      NOT NULL,
  run         integer     NOT NULL,
  due_at      timestamptz NOT NULL,
  fired_at    timestamptz,
  fired_by    text        NOT NULL,
  context     jsonb,
  task_ids    bigint[]    NOT NULL,
  status      text        NOT NULL CHECK (status IN ('fired', 'skipped', 'failed')),
  reason      text,
  PRIMARY KEY (schedule_id, run)
);
