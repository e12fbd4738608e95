-- Distributions, invalidations and access keys (SQLite; a PostgreSQL store gets its own
-- migration files).
CREATE TABLE distributions (
    id               TEXT PRIMARY KEY,
    caller_reference TEXT NOT NULL UNIQUE,
    domain_name      TEXT NOT NULL UNIQUE,
    aliases          TEXT NOT NULL,            -- JSON array of host names
    origin_url       TEXT NOT NULL,
    tag_header       TEXT,
    enabled          INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    modified_at      TEXT NOT NULL,
    etag             TEXT NOT NULL,
    config           TEXT,                     -- JSON DistributionConfig (Distribution API)
    tags             TEXT NOT NULL DEFAULT '[]', -- JSON array of [key, value]
    next_seq         INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE invalidations (
    id               TEXT PRIMARY KEY,
    distribution_id  TEXT NOT NULL REFERENCES distributions(id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    caller_reference TEXT NOT NULL,
    paths            TEXT NOT NULL,            -- JSON array, as submitted
    file_paths       INTEGER NOT NULL,
    wildcard_paths   INTEGER NOT NULL,
    status           TEXT NOT NULL,
    create_time      TEXT NOT NULL,
    complete_time    TEXT,
    UNIQUE (distribution_id, caller_reference),
    UNIQUE (distribution_id, seq)
);

CREATE INDEX invalidations_in_progress ON invalidations (distribution_id, status);

CREATE TABLE access_keys (
    access_key_id     TEXT PRIMARY KEY,
    secret_access_key TEXT NOT NULL,
    distributions     TEXT,                    -- JSON array, NULL = all distributions
    created_at        TEXT NOT NULL,
    revoked           INTEGER NOT NULL DEFAULT 0,
    description       TEXT NOT NULL DEFAULT ''
);
