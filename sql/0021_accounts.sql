-- Accounts: users with passwords, their login sessions, failed logins, and tokens that
-- expire and remember who made them. Like api_tokens, these are credentials, not
-- projections: their changes are recorded as events (user.*, session.*, token.*) without
-- any password, hash or session value, so the tables cannot be rebuilt from the log.

CREATE SEQUENCE user_ids;
CREATE SEQUENCE session_ids;

-- password_hash is `scrypt$N$r$p$salt$hash` (base64url salt and hash), written by
-- server/auth/passwords.ts. A removed user keeps its row (the log names it) and frees
-- its name for a new user.
CREATE TABLE users (
  id            bigint      PRIMARY KEY,
  name          text        NOT NULL,
  role          text        NOT NULL CHECK (role IN ('admin', 'operator', 'viewer', 'worker')),
  password_hash text        NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  removed_at    timestamptz
);
CREATE UNIQUE INDEX users_live_name ON users (name) WHERE removed_at IS NULL;

-- A session is found by the SHA-256 of its cookie (256 random bits, like a token). It
-- ends at expires_at, at logout, or when its user is removed (the row is deleted then).
CREATE TABLE sessions (
  id           bigint      PRIMARY KEY,
  user_id      bigint      NOT NULL REFERENCES users (id),
  session_hash bytea       NOT NULL UNIQUE,
  csrf_token   text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed logins, shared by every server process so that the limit holds across them.
-- Rows older than the window are deleted as new failures come in.
CREATE TABLE login_failures (
  name     text        NOT NULL,
  address  text        NOT NULL,
  at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_name ON login_failures (name, at);
CREATE INDEX login_failures_address ON login_failures (address, at);
CREATE INDEX login_failures_at ON login_failures (at);

-- created_by: the actor that made the token (a user's or a token's name, `labq admin`);
-- created_by_user: the user, when one made it through a session, so that removing the
-- user revokes it.
ALTER TABLE api_tokens
  ADD COLUMN expires_at timestamptz,
  ADD COLUMN created_by text,
  ADD COLUMN created_by_user bigint REFERENCES users (id);
-- Expired sessions are deleted as new ones open.
CREATE INDEX sessions_expires ON sessions (expires_at);
