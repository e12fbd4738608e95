-- A session of an edge running inside the control plane's own process (the built-in edge)
-- dies with that process, cache and all: the next control plane forgets it at once instead of
-- waiting out its lease (the data-directory lock makes sure that process is gone).
ALTER TABLE edge_sessions ADD COLUMN in_process INTEGER NOT NULL DEFAULT 0;
