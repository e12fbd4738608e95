-- The lease length each edge session was granted. A control plane restarted with a shorter
-- lease must still wait out the longer one an edge cut off from it may hold: the edge counts
-- the lease it was granted, not the new process's. 0: registered before this was recorded.
ALTER TABLE edge_sessions ADD COLUMN lease_seconds REAL NOT NULL DEFAULT 0;
