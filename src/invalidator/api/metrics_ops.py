"""`GET /_invalidator/metrics`: propagation state in the Prometheus text format (0.0.4).

Unauthenticated, on purpose: Prometheus and most scrapers cannot sign SigV4, and what is
shown is operational only: counters, the completion-time histogram, the event-log head and
each edge session's label, session id, lease and lag. No distribution, invalidation, path,
access key or edge address appears. Not rate limited (no key to count against).
"""

from __future__ import annotations

from collections.abc import Iterable

from invalidator.api.http import Response
from invalidator.api.routing import Call, Route, route
from invalidator.domain.clock import LEASE_CLOCK_NAME
from invalidator.propagation.coordinator import Coordinator

PATH = "/_invalidator/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


def _family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


def render(coordinator: Coordinator) -> str:
    """The exposition text for one coordinator (this process's counters, current leases)."""
    metrics = coordinator.metrics
    head = coordinator.head
    sessions = coordinator.edges()
    live = sum(1 for _, is_live, _ in sessions if is_live)
    hist = metrics.completion_seconds
    lines = [
        *_family("invalidator_invalidations_created_total", "counter",
                 "Invalidations this process began propagating (created through it, or "
                 "committed by another process on the same store and adopted).",
                 [f"invalidator_invalidations_created_total {metrics.created}"]),
        *_family("invalidator_invalidations_completed_total", "counter",
                 "Invalidations this process marked Completed.",
                 [f"invalidator_invalidations_completed_total {metrics.completed}"]),
        *_family("invalidator_invalidations_in_progress", "gauge",
                 "Invalidations still waiting for an edge acknowledgement or lease expiry.",
                 [f"invalidator_invalidations_in_progress {coordinator.pending_count}"]),
        *_family("invalidator_invalidation_completion_seconds", "histogram",
                 "Seconds from CreateInvalidation to Completed (as stored).",
                 [*(f"invalidator_invalidation_completion_seconds_bucket{_labels(le=le)} {n}"
                    for le, n in hist.cumulative()),
                  f"invalidator_invalidation_completion_seconds_sum {hist.total!r}",
                  f"invalidator_invalidation_completion_seconds_count {hist.count}"]),
        *_family("invalidator_event_log_head", "gauge",
                 "Position of the newest event in the log edges follow.",
                 [f"invalidator_event_log_head {head}"]),
        *_family("invalidator_edge_sessions", "gauge",
                 "Edge sessions known to the control plane, by lease state.",
                 [f"invalidator_edge_sessions{_labels(state='live')} {live}",
                  f"invalidator_edge_sessions{_labels(state='expired')} {len(sessions) - live}"]),
        *_family("invalidator_edge_sessions_forgotten_total", "counter",
                 "Expired edge sessions forgotten (their lease long over).",
                 [f"invalidator_edge_sessions_forgotten_total {metrics.sessions_forgotten}"]),
        *_family("invalidator_edge_lag_events", "gauge",
                 "How many log positions an edge session's acknowledged cursor is behind the head.",
                 [f"invalidator_edge_lag_events{_labels(session=s.edge_id, name=s.name)} "
                  f"{max(0, head - s.cursor)}" for s, _, _ in sessions]),
        *_family("invalidator_edge_lease_seconds_left", "gauge",
                 "Seconds until an edge session's lease expires here (0: expired).",
                 [f"invalidator_edge_lease_seconds_left{_labels(session=s.edge_id, name=s.name)} "
                  f"{round(left, 3)!r}" for s, _, left in sessions]),
        *_family("invalidator_lease_clock_info", "gauge",
                 "The clock leases are counted on.",
                 [f"invalidator_lease_clock_info{_labels(clock=LEASE_CLOCK_NAME)} 1"]),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


class MetricsOperations:
    """The metrics route."""

    def __init__(self, coordinator: Coordinator) -> None:
        self._coordinator = coordinator

    def routes(self) -> list[Route]:
        """GET /_invalidator/metrics (public, unthrottled)."""
        return [
            route("GET", PATH, "Metrics", self.metrics, versioned=False, throttled=False,
                  public=True),
        ]  # fmt: skip

    async def metrics(self, call: Call) -> Response:
        """The current exposition."""
        return Response(200, render(self._coordinator).encode(), content_type=CONTENT_TYPE)
