-- Servers keep the tokens they have checked in memory (server/auth/tokenCache.ts). Any
-- change to api_tokens (a revocation through labq, or a row edited by hand, which writes
-- no event) tells every server on channel labq_tokens to drop what it keeps. Delivered at
-- commit, like every notification.
CREATE FUNCTION api_tokens_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('labq_tokens', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER api_tokens_notify
  AFTER UPDATE OR DELETE OR TRUNCATE ON api_tokens
  FOR EACH STATEMENT EXECUTE FUNCTION api_tokens_notify();
