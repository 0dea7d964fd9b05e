-- Public keys people log in over SSH with (`ssh -p 2222 <build>@host`). A key belongs to one
-- person: its SHA-256 fingerprint (as `ssh-keygen -l` prints it) is unique, so a login by key
-- finds one user.
CREATE TABLE ssh_keys (
    id           bigserial   PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users ON DELETE CASCADE,
    name         text        NOT NULL,
    algorithm    text        NOT NULL,
    fingerprint  text        NOT NULL UNIQUE,
    public_key   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
CREATE INDEX ssh_keys_user ON ssh_keys (user_id);
