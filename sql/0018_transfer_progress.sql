-- How far each live execution's transfer phase (downloading or uploading) has got, as its
-- worker last said in an exchange. Operational, not an event: a transfer reports its bytes
-- about once a second, and the log would fill with figures nobody audits. The row lives
-- exactly as long as the execution's lease: it is made only for an execution whose lease
-- the reporting worker holds, and goes with the lease (ON DELETE CASCADE) when the execution
-- ends, is lost or cancelled, so no command has to remember it. A rebuild leaves it alone,
-- as it leaves leases. Lock order: after the lease, before waiting dependents.
CREATE TABLE execution_progress (
  execution_id bigint      PRIMARY KEY REFERENCES execution_leases (execution_id) ON DELETE CASCADE,
  phase        text        NOT NULL CHECK (phase IN ('downloading', 'uploading')),
  bytes_done   bigint      NOT NULL CHECK (bytes_done >= 0),
  bytes_total  bigint      NOT NULL CHECK (bytes_total >= bytes_done),
  updated_at   timestamptz NOT NULL
);
