"""The domain's seams: what it needs from a store and from propagation (typing.Protocol).

Implementations live in adapters (`invalidator.store`, `invalidator.propagation`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from invalidator.domain.models import (
    AccessKey,
    Distribution,
    EdgeRecord,
    Event,
    InProgressCounts,
    Invalidation,
    InvalidationDraft,
)

AdmitFn = Callable[[Invalidation | None, InProgressCounts], Invalidation | None]
"""Called inside the create transaction with the invalidation already holding the batch's
CallerReference (or None) and the distribution's in-progress counts. Returns an invalidation
to answer with instead of creating one (idempotent replay), None to create, or raises."""


class DistributionIndex(Protocol):
    """The stored distributions a distribution write is checked against, read inside its
    transaction: by CallerReference and by alias, so a check costs the same however many
    distributions there are."""

    def with_caller_reference(self, caller_reference: str) -> Distribution | None:
        """The distribution created with this CallerReference, or None."""
        ...

    def owning(self, aliases: Iterable[str]) -> list[Distribution]:
        """The distributions holding any of these aliases (compared as `alias_key` does:
        case and one trailing dot ignored)."""
        ...


DecideCreateFn = Callable[[DistributionIndex], Distribution | None]
ChangeFn = Callable[[Distribution, DistributionIndex], Distribution]
CheckFn = Callable[[Distribution], None]


class Store(Protocol):
    """Durable state. Every write is committed (fsync-durable) before its call returns."""

    # distributions
    async def get_distribution(self, distribution_id: str) -> Distribution | None:
        """The distribution, or None."""
        ...

    async def list_distributions(self) -> list[Distribution]:
        """All distributions, oldest first."""
        ...

    async def list_distributions_page(
        self, after: str, limit: int, only: frozenset[str] | None = None
    ) -> list[Distribution]:
        """At most `limit` distributions whose Id sorts after `after`, in Id order; only those
        whose Id is in `only` when it is given."""
        ...

    async def create_distribution(
        self, candidate: Distribution, decide: DecideCreateFn
    ) -> tuple[Distribution, bool]:
        """Atomically run `decide` over the stored distributions (an index of them) and
        insert `candidate` unless it returns an existing one (idempotent replay). Returns
        (distribution, created)."""
        ...

    async def update_distribution(self, distribution_id: str, change: ChangeFn) -> Distribution:
        """Atomically replace a distribution by `change(current, index of the stored ones)`;
        NoSuchDistribution if it does not exist. The invalidation sequence is kept."""
        ...

    async def delete_distribution(self, distribution_id: str, check: CheckFn) -> None:
        """Atomically run `check(current)` and delete the distribution and its invalidations;
        NoSuchDistribution if it does not exist."""
        ...

    # invalidations
    async def create_invalidation(
        self, draft: InvalidationDraft, admit: AdmitFn
    ) -> tuple[Invalidation, bool]:
        """Atomically: look up the CallerReference, run `admit`, insert with the next seq.

        Returns (invalidation, created). Two racing identical drafts create one invalidation.
        Raises NoSuchDistribution when the distribution is gone.
        """
        ...

    async def get_invalidation(
        self, distribution_id: str, invalidation_id: str
    ) -> Invalidation | None:
        """The invalidation if it belongs to that distribution, else None."""
        ...

    async def list_invalidations(
        self, distribution_id: str, before_id: str | None, limit: int
    ) -> list[Invalidation] | None:
        """Up to `limit` invalidations newest first, starting after `before_id` (a marker).

        Returns None when `before_id` is not an invalidation of that distribution.
        """
        ...

    async def in_progress_invalidations(self, after: int = 0) -> list[Invalidation]:
        """Every invalidation still InProgress, oldest first (for resuming after restarts);
        with `after` > 0 only those whose event position is above it (cheap: a range)."""
        ...

    async def complete_invalidations(self, invalidation_ids: Sequence[str], at: datetime) -> None:
        """Mark invalidations Completed at `at` (idempotent: completed ones keep their time)."""
        ...

    async def count_in_progress(self, distribution_id: str) -> int:
        """How many invalidation batches of the distribution are InProgress."""
        ...

    # the edges' event log (the outbox) and registry
    async def events_after(self, pos: int, limit: int) -> list[Event]:
        """Up to `limit` events after position `pos`, in order."""
        ...

    async def event_stamp(self, pos: int) -> str | None:
        """The stamp of the event at `pos` (see Event), None when there is none."""
        ...

    async def head_position(self) -> int:
        """The newest event's position (0 when none)."""
        ...

    async def config_positions(self, after: int = 0) -> dict[str, int]:
        """Per distribution, the position of its newest config event (with `after` > 0: only
        distributions with a config event above that position)."""
        ...

    async def register_edge(self, edge: EdgeRecord) -> EdgeRecord:
        """Insert a new edge session (a name may be carried by several sessions)."""
        ...

    async def list_edges(self) -> list[EdgeRecord]:
        """Every stored edge session."""
        ...

    async def delete_edge(self, edge_id: str) -> None:
        """Forget an edge session."""
        ...

    async def delete_edges(self, edge_ids: Sequence[str]) -> None:
        """Forget several edge sessions."""
        ...

    async def raise_edge_leases(self, lease_seconds: float) -> None:
        """Record that every stored session may be granted leases of `lease_seconds` (the
        stored length only grows: a later process waits out the longest an edge may hold)."""
        ...

    async def touch_edges(self, edge_ids: Sequence[str], at: datetime) -> None:
        """Record that these sessions were heard from at `at` (their `seen_at`)."""
        ...

    # access keys
    async def get_access_key(self, access_key_id: str) -> AccessKey | None:
        """The key (revoked ones too), or None."""
        ...

    async def list_access_keys(self) -> list[AccessKey]:
        """All keys, oldest first."""
        ...

    async def put_access_key(self, key: AccessKey) -> None:
        """Insert or replace a key."""
        ...

    async def close(self) -> None:
        """Flush and release resources."""
        ...


class Propagation(Protocol):
    """Carries committed invalidations to the edges and decides when they are Completed."""

    async def start(self) -> None:
        """Begin work, resuming invalidations left InProgress by an earlier run."""
        ...

    async def published(self, invalidation: Invalidation) -> None:
        """A new invalidation was committed; deliver it (never called before commit)."""
        ...

    async def wait_completed(
        self, invalidation: Invalidation, timeout: float
    ) -> Invalidation | None:
        """Wait up to `timeout` seconds for the invalidation to be Completed: as it now stands
        in the store (status and completion time), or None when it is not Completed yet."""
        ...

    async def distribution_changed(self, distribution: Distribution) -> None:
        """A distribution's config was committed; edges must pick it up."""
        ...

    def config_pending(self, distribution: Distribution) -> bool:
        """True while some edge has not yet picked up this version of the config."""
        ...

    async def stop(self) -> None:
        """Stop, leaving undelivered work in the store for the next start."""
        ...
