-- Web UI sessions: the cookie holds a random id, the database only its SHA-256 (a leaked
-- metadata database opens no session), with the per-session CSRF token the UI echoes in
-- `X-Slipway-CSRF` on every state-changing request.
CREATE TABLE ui_sessions (
    digest       bytea       PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users ON DELETE CASCADE,
    csrf         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX ui_sessions_user ON ui_sessions (user_id);

-- Password sign-in for the web UI (optional): an Argon2id PHC string, never the password.
ALTER TABLE users ADD COLUMN password_hash text;
