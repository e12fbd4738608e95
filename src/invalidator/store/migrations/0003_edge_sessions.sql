-- Edge sessions instead of edges by name: every registration is its own session with its own
-- lease, so two live processes carrying one name never share an acknowledgement. `seen_at`
-- is refreshed now and then while the session heartbeats (to forget sessions long gone).
CREATE TABLE edge_sessions (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,            -- a label, not unique
    url              TEXT NOT NULL,
    registered_at    TEXT NOT NULL,
    seen_at          TEXT NOT NULL
);

INSERT INTO edge_sessions (id, name, url, registered_at, seen_at)
    SELECT id, name, url, registered_at, registered_at FROM edges;

DROP TABLE edges;
