"""Edge session leases as the coordinator sees them: pure bookkeeping on the lease clock.

Every registration is its own session (one running edge process), with its own lease and
cursor; the edge's name is only a label, so two processes carrying one name never share an
acknowledgement, and the clean stop of one leaves the other's lease alone.

A session's lease runs from when the coordinator RECEIVED its heartbeat plus the lease length
plus a margin, while the edge itself counts from when it SENT the heartbeat, without margin;
so the edge always stops serving from cache before the coordinator stops waiting for it. The
margin also has to cover the difference in rate between the two hosts' lease clocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EdgeLease:
    """One edge session's progress and lease."""

    edge_id: str  # the session id
    name: str
    url: str
    cursor: int
    expires_at: float  # lease-clock seconds
    heartbeats: int = 0
    confirmed: bool = False  # False until the session heartbeated to this process
    lapses: int = 0  # heartbeats of this process that found the lease expired
    stale: bool = False  # loaded long unseen: forget it as soon as its assumed lease ends
    touched_at: float = 0.0  # lease-clock time its `seen_at` was last stored


@dataclass
class LeaseTable:
    """Every known session; decides which ones an invalidation still waits for."""

    lease_seconds: float
    margin_seconds: float
    edges: dict[str, EdgeLease] = field(default_factory=dict)

    def renew(self, edge_id: str, cursor: int, now: float) -> bool:
        """Record a heartbeat (or ack) that arrived at `now`; True when it found the session
        lapsed: its lease expired here, or it is new to this process (loaded after a restart:
        what the previous process completed without it is unknown)."""
        lease = self.edges[edge_id]
        lapsed = not lease.confirmed or lease.expires_at <= now
        if lapsed and lease.confirmed:
            lease.lapses += 1
        lease.cursor = max(lease.cursor, cursor)  # a late, older heartbeat never undoes an ack
        lease.expires_at = now + self.lease_seconds + self.margin_seconds
        lease.heartbeats += 1
        lease.confirmed = True
        lease.stale = False
        return lapsed

    def live(self, now: float) -> list[EdgeLease]:
        """Sessions whose lease has not expired."""
        return [lease for lease in self.edges.values() if lease.expires_at > now]

    def low_water_mark(self, now: float) -> int | None:
        """The lowest cursor among live sessions; None when none is live (nothing to wait for)."""
        cursors = [lease.cursor for lease in self.live(now)]
        return min(cursors) if cursors else None

    def next_expiry(self, now: float) -> float | None:
        """When the next live lease expires."""
        times = [lease.expires_at for lease in self.live(now)]
        return min(times) if times else None

    def forgettable(self, now: float, forget_after: float) -> list[EdgeLease]:
        """Sessions whose lease ended at least `forget_after` ago (stale ones: at all)."""
        return [
            lease
            for lease in self.edges.values()
            if now >= lease.expires_at + (0.0 if lease.stale else forget_after)
        ]
