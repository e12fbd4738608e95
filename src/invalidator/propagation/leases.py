"""Edge leases as the coordinator sees them: pure bookkeeping on a monotonic clock.

An edge's lease runs from when the coordinator RECEIVED its heartbeat plus the lease length
plus a margin, while the edge itself counts from when it SENT the heartbeat, without margin;
so the edge always stops serving from cache before the coordinator stops waiting for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EdgeLease:
    """One edge's progress and lease."""

    edge_id: str
    name: str
    url: str
    cursor: int
    expires_at: float  # monotonic seconds
    heartbeats: int = 0
    confirmed: bool = False  # False until the edge reported its cursor to this process


@dataclass
class LeaseTable:
    """Every known edge; decides which ones an invalidation still waits for."""

    lease_seconds: float
    margin_seconds: float
    edges: dict[str, EdgeLease] = field(default_factory=dict)

    def renew(self, edge_id: str, cursor: int, now: float) -> EdgeLease:
        """Record a heartbeat (or ack) that arrived at `now`."""
        lease = self.edges[edge_id]
        lease.cursor = max(lease.cursor, cursor)  # a late, older heartbeat never undoes an ack
        lease.expires_at = now + self.lease_seconds + self.margin_seconds
        lease.heartbeats += 1
        lease.confirmed = True
        return lease

    def live(self, now: float) -> list[EdgeLease]:
        """Edges whose lease has not expired."""
        return [lease for lease in self.edges.values() if lease.expires_at > now]

    def low_water_mark(self, now: float) -> int | None:
        """The lowest cursor among live edges; None when no edge is live (nothing to wait for)."""
        cursors = [lease.cursor for lease in self.live(now)]
        return min(cursors) if cursors else None

    def next_expiry(self, now: float) -> float | None:
        """When the next live lease expires."""
        times = [lease.expires_at for lease in self.live(now)]
        return min(times) if times else None
