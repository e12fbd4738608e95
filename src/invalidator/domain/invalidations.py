"""The invalidation operations: CreateInvalidation, GetInvalidation, ListInvalidations."""

from __future__ import annotations

from invalidator.domain.batches import Limits, admit, validate_batch
from invalidator.domain.clock import Clock
from invalidator.domain.errors import InvalidArgument, NoSuchDistribution, NoSuchInvalidation
from invalidator.domain.ids import IdSource
from invalidator.domain.models import (
    Distribution,
    InProgressCounts,
    Invalidation,
    InvalidationDraft,
    InvalidationPage,
)
from invalidator.domain.ports import Propagation, Store

MAX_ITEMS_CAP = 100


class InvalidationService:
    """Applies the batch rules against a store and hands committed work to propagation.

    `create_wait` is how long CreateInvalidation may wait for completion before answering,
    so a purge that finishes fast already reads Completed in the 201.
    """

    def __init__(
        self,
        store: Store,
        propagation: Propagation,
        clock: Clock,
        ids: IdSource,
        limits: Limits,
        create_wait: float = 0.0,
    ) -> None:
        self._create_wait = create_wait
        self._store = store
        self._propagation = propagation
        self._clock = clock
        self._ids = ids
        self._limits = limits

    @property
    def limits(self) -> Limits:
        """The batch and in-progress limits this service applies."""
        return self._limits

    async def _distribution(self, distribution_id: str) -> Distribution:
        distribution = await self._store.get_distribution(distribution_id)
        if distribution is None:
            raise NoSuchDistribution()
        return distribution

    async def create_invalidation(
        self, distribution_id: str, caller_reference: str, quantity: int, paths: tuple[str, ...]
    ) -> tuple[Invalidation, bool]:
        """Validate, store durably, publish. Returns (invalidation, created)."""
        distribution = await self._distribution(distribution_id)
        batch = validate_batch(
            caller_reference,
            quantity,
            paths,
            tags_allowed=distribution.tag_header is not None,
            limits=self._limits,
        )
        draft = InvalidationDraft(
            id=self._ids.new_id("I"),
            distribution_id=distribution_id,
            caller_reference=caller_reference,
            paths=paths,
            file_paths=batch.file_paths,
            wildcard_paths=batch.wildcard_paths,
            create_time=self._clock.now(),
        )
        limits = self._limits

        def decide(existing: Invalidation | None, counts: InProgressCounts) -> Invalidation | None:
            return admit(batch, existing, counts, limits)

        invalidation, created = await self._store.create_invalidation(draft, decide)
        if created:
            await self._propagation.published(invalidation)
            # A fast purge may finish within the window: answer with the truth at that moment.
            completed = await self._propagation.wait_completed(invalidation, self._create_wait)
            invalidation = completed or invalidation
        return invalidation, created

    async def get_invalidation(self, distribution_id: str, invalidation_id: str) -> Invalidation:
        """The invalidation, or NoSuchDistribution / NoSuchInvalidation."""
        await self._distribution(distribution_id)
        invalidation = await self._store.get_invalidation(distribution_id, invalidation_id)
        if invalidation is None:
            raise NoSuchInvalidation()
        return invalidation

    async def list_invalidations(
        self, distribution_id: str, marker: str, max_items: str | None
    ) -> InvalidationPage:
        """One page, newest first; `max_items` as the client sent it (validated here)."""
        await self._distribution(distribution_id)
        limit = parse_max_items(max_items)
        rows = await self._store.list_invalidations(distribution_id, marker or None, limit + 1)
        if rows is None:
            raise InvalidArgument(f"The marker {marker[:64]!r} is not valid for this list.")
        items = tuple(rows[:limit])
        next_marker = items[-1].id if len(rows) > limit and items else None
        return InvalidationPage(
            items=items, marker=marker, max_items=limit, next_marker=next_marker
        )


def parse_max_items(value: str | None) -> int:
    """MaxItems: default 100; any larger number (however many digits) is capped at 100;
    non-numeric or < 1 is InvalidArgument."""
    if value is None or value == "":
        return MAX_ITEMS_CAP
    text = value.strip()
    if not (text.isascii() and text.isdigit()):  # int() would also take "²" or "1_0"
        raise InvalidArgument("MaxItems must be a positive integer.")
    significant = text.lstrip("0")
    if not significant:
        raise InvalidArgument("MaxItems must be a positive integer.")
    if len(significant) > len(str(MAX_ITEMS_CAP)):  # no int() of 10,000 digits
        return MAX_ITEMS_CAP
    return min(int(significant), MAX_ITEMS_CAP)
