-- A worker token acts only as the worker it is bound to: the first worker it registers
-- (worker.registered carries token_id). Part of the workers projection, so a rebuild
-- gives it back from the log. One token binds to at most one worker, and a worker to at
-- most one token; the unique index also settles two first registrations of one token
-- racing under two names (the second finds the binding and is refused). A token check
-- reads the binding with the token (one indexed join), so no request pays a query for it.
ALTER TABLE workers ADD COLUMN token_id bigint;
CREATE UNIQUE INDEX workers_token_id ON workers (token_id) WHERE token_id IS NOT NULL;
