-- Secrets and the policies an admin sets.
--
-- secrets: operational data, not a projection. Its values are encrypted (AES-256-GCM) with a
-- key the database never sees (LABQ_SECRET_KEY, or the key file in the server's data
-- directory), so the log cannot hold them and a rebuild leaves this table alone; the log holds
-- secret.set and secret.removed with the name only. `id` is the secret's event stream: a
-- secret removed and set again is a new stream. The name is authenticated data of the
-- cipher, so a value moved to another row does not decrypt. key_id tells which key sealed a
-- value: a server whose key differs refuses to start (several servers share one key).
CREATE SEQUENCE secret_ids;
CREATE TABLE secrets (
  name       text        PRIMARY KEY,
  id         bigint      NOT NULL UNIQUE DEFAULT nextval('secret_ids'),
  version    integer     NOT NULL CHECK (version > 0),
  ciphertext bytea       NOT NULL,
  nonce      bytea       NOT NULL CHECK (octet_length(nonce) = 12),
  auth_tag   bytea       NOT NULL CHECK (octet_length(auth_tag) = 16),
  key_id     text        NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- policies: a projection of policy.changed (one row per policy, e.g. 'docker'); no row
-- means the defaults, which refuse everything that reaches the worker's host.
CREATE TABLE policies (
  name       text        PRIMARY KEY,
  value      jsonb       NOT NULL,
  version    integer     NOT NULL,
  updated_at timestamptz NOT NULL,
  updated_by text
);
