-- Custom domains: host names an admin gave a branch, routed by Slipway to whichever build of
-- the branch serves. One branch per host name, across every project.
CREATE TABLE branch_domains (
    host       text        PRIMARY KEY CHECK (host = lower(host)),
    branch_id  bigint      NOT NULL REFERENCES branches ON DELETE CASCADE,
    added_by   text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX branch_domains_branch ON branch_domains (branch_id);
