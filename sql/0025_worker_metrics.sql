-- What the workers view of the UI needs: each worker's host figures, live; draining a
-- worker; deleting one that is gone.
--
-- worker_metrics: the latest figures a worker daemon measured on its host (load, CPU,
-- memory, executions it runs), as it sent them in an exchange, at most every 5 s and only
-- when it has a new measure. Operational, not an event, like execution_progress
-- (0018_transfer_progress.sql): nobody audits a load average, and the log would grow by a
-- row per worker every few seconds. One upsert per exchange that carries figures, under
-- the worker's row lock (its polls serialise on it), so it takes no lock of its own that
-- could meet another command's. No foreign key: workers is a projection, truncated by a
-- rebuild, which leaves this table alone (as it leaves worker_liveness).
CREATE TABLE worker_metrics (
  worker_id       bigint           PRIMARY KEY,
  load1           double precision NOT NULL CHECK (load1 >= 0),
  cpu_percent     double precision NOT NULL CHECK (cpu_percent BETWEEN 0 AND 100),
  memory_used_mb  bigint           NOT NULL CHECK (memory_used_mb >= 0),
  memory_total_mb bigint           NOT NULL CHECK (memory_total_mb >= memory_used_mb),
  running         integer          NOT NULL CHECK (running >= 0),
  updated_at      timestamptz      NOT NULL
);

-- A setting, like paused (worker.settings_changed): a draining worker is given no new task,
-- and its daemon leaves once what it runs has ended. A registration clears it: a daemon
-- started again is put back to work.
ALTER TABLE workers ADD COLUMN draining boolean NOT NULL DEFAULT false;
-- worker.deleted: the worker leaves the list, its row stays (executions keep their
-- worker_id, and a daemon registering under its name again revives it with its id).
ALTER TABLE workers ADD COLUMN deleted_at timestamptz;

-- A worker's time line: its latest executions, newest first, without reading the others'.
CREATE INDEX executions_by_worker ON executions (worker_id, id DESC);
