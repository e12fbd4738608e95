"""Propagation counters of one control-plane process (exposed at `/_invalidator/metrics`)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# Seconds from CreateInvalidation to Completed: a purge acknowledged by every edge at once takes
# milliseconds; one waiting for a lost edge's lease takes the lease (5 s by default) and more.
COMPLETION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip


@dataclass
class Histogram:
    """A cumulative-bucket histogram as Prometheus exposes it."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative; +Inf last
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound label, observations at or below it), ending with +Inf."""
        found: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            found.append((bound, running))
        return found


@dataclass
class PropagationMetrics:
    """What the coordinator counted since this process started."""

    created: int = 0  # invalidations this process began propagating (its own and adopted)
    completed: int = 0
    completion_seconds: Histogram = field(default_factory=lambda: Histogram(COMPLETION_BUCKETS))
    sessions_forgotten: int = 0
