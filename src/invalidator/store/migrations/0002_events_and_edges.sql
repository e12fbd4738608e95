-- The outbox every edge consumes in order, and the registered edges.
-- SQLite-specific: AUTOINCREMENT (positions are never reused, also after deletes); PostgreSQL
-- migrations will be their own files (an identity column there).
CREATE TABLE events (
    pos              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL,            -- invalidation | distribution | distribution_deleted
    distribution_id  TEXT NOT NULL,
    invalidation_id  TEXT,
    created_at       TEXT NOT NULL
);

ALTER TABLE invalidations ADD COLUMN pos INTEGER NOT NULL DEFAULT 0;

CREATE TABLE edges (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    url              TEXT NOT NULL,
    registered_at    TEXT NOT NULL
);
