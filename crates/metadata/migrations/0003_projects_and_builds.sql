-- People, projects, branches and builds (Odoo.sh's model).

CREATE TABLE users (
    id         bigserial   PRIMARY KEY,
    login      text        NOT NULL UNIQUE CHECK (login ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    name       text        NOT NULL,
    email      text,
    is_admin   boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- API tokens: only their SHA-256 is kept; the token is shown once, when created.
CREATE TABLE api_tokens (
    id           bigserial   PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users ON DELETE CASCADE,
    label        text        NOT NULL DEFAULT '',
    digest       bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Odoo source trees, one per series: builds of that series run its odoo-bin.
CREATE TABLE odoo_runtimes (
    series        text        PRIMARY KEY,
    source_dir    text        NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id          bigserial   PRIMARY KEY,
    name        text        NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,39}$'),
    series      text        NOT NULL,
    trial_until timestamptz,
    settings    jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE project_members (
    project_id bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    role       text   NOT NULL CHECK (role IN ('admin', 'developer', 'tester')),
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE branches (
    id         bigserial   PRIMARY KEY,
    project_id bigint      NOT NULL REFERENCES projects ON DELETE CASCADE,
    name       text        NOT NULL,
    stage      text        NOT NULL DEFAULT 'development'
               CHECK (stage IN ('development', 'staging', 'production')),
    head       text,
    settings   jsonb       NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE UNIQUE INDEX branches_live_name ON branches (project_id, name) WHERE deleted_at IS NULL;
-- Exactly one production branch per project, enforced by the database itself.
CREATE UNIQUE INDEX branches_one_production ON branches (project_id)
    WHERE stage = 'production' AND deleted_at IS NULL;

CREATE TABLE builds (
    id            bigserial   PRIMARY KEY,
    branch_id     bigint      NOT NULL REFERENCES branches ON DELETE CASCADE,
    revision      text        NOT NULL,
    stage         text        NOT NULL,
    trigger       text        NOT NULL DEFAULT 'push',
    state         text        NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'building', 'running', 'stopped', 'done')),
    result        text        CHECK (result IN ('success', 'warning', 'failed', 'killed')),
    step          text,
    message       text,
    database      text,
    http_port     integer,
    pid           integer,
    venv_key      text,
    template_key  text,
    template_hit  boolean     NOT NULL DEFAULT false,
    keep          boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    ready_at      timestamptz,
    finished_at   timestamptz,
    db_dropped_at timestamptz
);
CREATE INDEX builds_branch ON builds (branch_id, id DESC);
CREATE INDEX builds_live ON builds (state) WHERE state IN ('pending', 'building', 'running');

-- Template databases of installed module sets (click-odoo-initdb's idea): a build whose
-- (Odoo, modules, demo) hash is here is a template copy, not an install.
CREATE TABLE template_cache (
    key          text        PRIMARY KEY,
    database     text        NOT NULL UNIQUE,
    build_id     bigint,
    result       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    uses         integer     NOT NULL DEFAULT 0
);
