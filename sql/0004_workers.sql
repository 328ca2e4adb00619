-- Workers and the operational data of running executions. The workers table is a
-- projection like the others; liveness, leases and output are deliberately not events
-- (they change every few seconds or carry megabytes) and live in their own tables.

CREATE TABLE workers (
  id            bigint      PRIMARY KEY,
  name          text        NOT NULL UNIQUE,
  hostname      text        NOT NULL,
  cpus          numeric     NOT NULL,
  memory_mb     bigint      NOT NULL,
  docker        boolean     NOT NULL,
  gpus          integer     NOT NULL,
  capabilities  jsonb       NOT NULL,
  tags          text[]      NOT NULL,
  concurrency   integer     NOT NULL,
  prefetch      integer     NOT NULL,
  paused        boolean     NOT NULL,
  status        text        NOT NULL CHECK (status IN ('online', 'offline', 'lost')),
  agent_version text,
  registered_at timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  version       integer     NOT NULL
);

-- Kill orders are part of the executions projection: set by execution.kill_requested.
ALTER TABLE executions ADD COLUMN kill_requested_at timestamptz;
ALTER TABLE executions ADD COLUMN kill_grace_seconds integer;
CREATE INDEX executions_worker_live ON executions (worker_id)
  WHERE status IN ('assigned', 'downloading', 'running', 'uploading');

-- Claims by a wildcard worker read pending tasks of every tag in this order.
CREATE INDEX tasks_claim_any ON tasks (priority DESC, id) WHERE status = 'pending';

-- When each worker was last heard from: touched by every worker request.
CREATE TABLE worker_liveness (
  worker_id    bigint      PRIMARY KEY,
  last_seen_at timestamptz NOT NULL
);

-- The lease of each live execution, renewed by its worker; the reaper marks an execution
-- whose lease expired `lost`.
CREATE TABLE execution_leases (
  execution_id bigint      PRIMARY KEY,
  worker_id    bigint      NOT NULL,
  expires_at   timestamptz NOT NULL
);
CREATE INDEX execution_leases_expiry ON execution_leases (expires_at);

-- Task output, append-only, in chunks numbered per stream by the worker so that a retried
-- upload is recognised and never stored twice. `n` orders chunks across both streams.
CREATE TABLE execution_output (
  n            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  execution_id bigint      NOT NULL,
  stream       text        NOT NULL CHECK (stream IN ('stdout', 'stderr')),
  seq          integer     NOT NULL,
  data         bytea       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT execution_output_chunk UNIQUE (execution_id, stream, seq)
);
CREATE INDEX execution_output_follow ON execution_output (execution_id, n);

-- Bytes stored per execution, to enforce the output cap without summing on every insert.
CREATE TABLE execution_output_size (
  execution_id bigint  PRIMARY KEY,
  bytes        bigint  NOT NULL,
  dropped      bigint  NOT NULL DEFAULT 0
);

CREATE FUNCTION execution_output_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('labq_output', (SELECT left(string_agg(DISTINCT execution_id::text, ','), 7000) FROM new_chunks));
  RETURN NULL;
END
$$;

CREATE TRIGGER execution_output_notify
  AFTER INSERT ON execution_output
  REFERENCING NEW TABLE AS new_chunks
  FOR EACH STATEMENT EXECUTE FUNCTION execution_output_notify();
