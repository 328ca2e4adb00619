-- The event log: the single source of truth. Every change of state is a row here;
-- everything else in the database is derived from it (projections) or is operational
-- data that is deliberately not an event (output chunks, leases, credentials).

CREATE TABLE events (
  position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The writing transaction: readers that tail the log order by (xid, position) and only
  -- read below the oldest running transaction, so a late commit with a smaller position
  -- is never skipped (see docs/architecture.md, "Tailing the log").
  xid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
  stream_type text        NOT NULL,
  stream_id   bigint      NOT NULL,
  version     integer     NOT NULL CHECK (version > 0),
  type        text        NOT NULL,
  data        jsonb       NOT NULL,
  meta        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_stream_version UNIQUE (stream_type, stream_id, version)
);

CREATE INDEX events_xid_position ON events (xid, position);
CREATE INDEX events_type_position ON events (type, position);

CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'raise_exception', HINT = 'append a compensating event instead';
END
$$;

-- Statement-level so that even a DELETE or UPDATE matching no row raises.
CREATE TRIGGER events_append_only
  BEFORE UPDATE OR DELETE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER events_no_truncate
  BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- NOTIFY is a wake-up hint, never the data: the payload names the stream types written
-- by the statement, so listeners can ignore what does not concern them. Delivered at
-- commit; PostgreSQL folds identical payloads of one transaction into one.
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('labq_events', (SELECT string_agg(DISTINCT stream_type, ',') FROM new_events));
  RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
  AFTER INSERT ON events
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION events_notify();

-- Identities of streams. They live outside the projections so that a rebuild, which
-- replays ids from the log, never resets them.
CREATE SEQUENCE workflow_ids;
CREATE SEQUENCE step_ids;
CREATE SEQUENCE task_ids;
CREATE SEQUENCE execution_ids;
CREATE SEQUENCE worker_ids;
CREATE SEQUENCE token_ids;

-- API tokens: credentials, not events. Only a SHA-256 of the token is kept; the
-- creation itself is recorded as a token.created event without the secret.
CREATE TABLE api_tokens (
  id          bigint      PRIMARY KEY,
  name        text        NOT NULL UNIQUE,
  role        text        NOT NULL CHECK (role IN ('admin', 'operator', 'viewer', 'worker')),
  token_hash  bytea       NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
