-- Bookkeeping of the migration runner (server/db/migrate.ts), which runs this file before
-- any other on every start; it must therefore stay idempotent.
CREATE TABLE IF NOT EXISTS schema_migrations (
  name       text        PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);
