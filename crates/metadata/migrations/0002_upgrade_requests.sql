-- The upgrade platform (/database/v1): contracts allowed to file requests, and the requests.
CREATE TABLE contracts (
    code       text        PRIMARY KEY,
    note       text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE upgrade_requests (
    id               bigserial   PRIMARY KEY,
    -- SHA-256 of the private key: the key itself is only ever known to the client.
    key_digest       bytea       NOT NULL,
    contract         text        NOT NULL REFERENCES contracts (code),
    email            text        NOT NULL,
    target           text        NOT NULL,
    aim              text        NOT NULL CHECK (aim IN ('test', 'production')),
    filename         text        NOT NULL,
    timezone         text,
    state            text        NOT NULL DEFAULT 'draft' CHECK (state IN
                     ('draft', 'pending', 'progress', 'done', 'failed', 'cancelled', 'delivered')),
    skip_test        boolean     NOT NULL DEFAULT false,
    customer_message text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    processed_at     timestamptz,
    finished_at      timestamptz,
    upload_size      bigint,
    upload_sha256    text,
    ssh_keys         text,
    database_uuid    text,
    database_version text,
    postgresql       text,
    compressions     jsonb       NOT NULL DEFAULT '[]',
    filestore        boolean     NOT NULL DEFAULT false
);
