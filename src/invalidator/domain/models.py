"""Domain objects: distributions, invalidations, access keys. Frozen, typed, wire-agnostic."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class InvalidationStatus(enum.StrEnum):
    """The two statuses CloudFront reports; waiters compare these strings exactly."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"


@dataclass(frozen=True)
class Distribution:
    """What the control plane knows of a distribution and what edges need to serve it.

    `config` is the full CloudFront DistributionConfig (JSON-shaped, member names as keys) as
    the Distribution API stored it; the other serving fields are derived from it on write.
    """

    id: str
    caller_reference: str
    domain_name: str
    aliases: tuple[str, ...]
    origin_url: str
    tag_header: str | None
    enabled: bool
    created_at: datetime
    modified_at: datetime
    etag: str
    config: dict[str, Any]
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Invalidation:
    """One accepted invalidation batch. `seq` orders a distribution's invalidations."""

    id: str
    distribution_id: str
    seq: int
    caller_reference: str
    paths: tuple[str, ...]
    status: InvalidationStatus
    create_time: datetime
    complete_time: datetime | None = None
    pos: int = 0  # position in the event log every edge consumes in order


@dataclass(frozen=True)
class InvalidationDraft:
    """An invalidation about to be stored: validated, not yet numbered or committed."""

    id: str
    distribution_id: str
    caller_reference: str
    paths: tuple[str, ...]
    file_paths: int
    wildcard_paths: int
    create_time: datetime


@dataclass(frozen=True)
class InProgressCounts:
    """How many file and wildcard paths a distribution has in progress right now."""

    file_paths: int = 0
    wildcard_paths: int = 0


@dataclass(frozen=True)
class InvalidationPage:
    """One page of ListInvalidations, newest first."""

    items: tuple[Invalidation, ...]
    marker: str
    max_items: int
    next_marker: str | None

    @property
    def is_truncated(self) -> bool:
        """True when another page follows."""
        return self.next_marker is not None


@dataclass(frozen=True)
class AccessKey:
    """An API credential. `distributions` None means every distribution."""

    access_key_id: str
    secret_access_key: str
    distributions: frozenset[str] | None
    created_at: datetime
    revoked: bool = False
    description: str = ""

    def allows(self, distribution_id: str) -> bool:
        """Whether this key may act on the distribution."""
        return self.distributions is None or distribution_id in self.distributions


class EventKind(enum.StrEnum):
    """What an event in the edges' log says."""

    INVALIDATION = "invalidation"
    DISTRIBUTION = "distribution"
    DISTRIBUTION_DELETED = "distribution_deleted"


@dataclass(frozen=True)
class Event:
    """One entry of the ordered log edges consume (the outbox). `stamp` (when it was
    committed) names it together with `pos`: an edge compares the stamp of the event at its
    cursor with the control plane's, so a log with the same positions but another history (a
    store restored from a backup) is not taken for the one it followed."""

    pos: int
    kind: EventKind
    distribution_id: str
    paths: tuple[str, ...] = ()
    stamp: str = ""


@dataclass(frozen=True)
class EdgeRecord:
    """One edge session: a running edge process from registration to its clean stop or the
    expiry of its lease. `id` is the session's own; `name` is only a label (several processes
    may carry the same one). `seen_at` is when the control plane last noted a heartbeat (coarse,
    refreshed now and then; only used to forget sessions long gone). The lease itself lives in
    the coordinator's memory; `lease_seconds` is the length it was granted (0: not recorded), so
    a later control plane waits out that lease even when its own is shorter."""

    id: str
    name: str
    url: str
    registered_at: datetime
    seen_at: datetime | None = None  # None: registered_at
    in_process: bool = False  # the control plane's own (built-in) edge: dies with its process
    lease_seconds: float = 0.0


@dataclass(frozen=True)
class LeaseGrant:
    """What a registering or heartbeating edge session is told by the coordinator.

    `epoch` changes whenever the control plane may have stopped waiting for this session (a
    heartbeat found its lease expired; a restarted control plane); `lapsed` says this very
    answer found it so. An edge seeing either treats itself as having been without a lease.
    `foreign`: the position the edge reported is not one of this log (beyond its head, or
    another event there: a store restored from a backup); it was not counted as an
    acknowledgement, and the edge must drop its cache and follow this log from its head.
    """

    edge_id: str
    lease_seconds: float
    head: int
    cursor: int
    epoch: str = ""
    lapsed: bool = False
    foreign: bool = False
