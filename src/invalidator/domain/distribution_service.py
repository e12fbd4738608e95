"""The distribution operations: create, read, update, delete, list and tag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from invalidator.domain.clock import Clock
from invalidator.domain.distributions import (
    change_config,
    check_deletable,
    decide_create,
    new_distribution,
    retagged,
)
from invalidator.domain.errors import InvalidArgument, NoSuchDistribution, NoSuchResource
from invalidator.domain.ids import ID_LENGTH, IdSource
from invalidator.domain.invalidations import parse_max_items
from invalidator.domain.models import Distribution
from invalidator.domain.ports import Propagation, Store
from invalidator.domain.tag_rules import check_tag_keys, check_tags

DEPLOYED = "Deployed"
IN_PROGRESS = "InProgress"


@dataclass(frozen=True)
class DistributionView:
    """A distribution with its computed fields."""

    distribution: Distribution
    status: str
    in_progress_invalidation_batches: int


@dataclass(frozen=True)
class DistributionPage:
    """One page of ListDistributions, in Id order; `next_marker` is the page's last Id."""

    items: tuple[DistributionView, ...]
    marker: str
    max_items: int
    next_marker: str | None


class DistributionService:
    """Applies the distribution rules against the store; tells propagation about changes."""

    def __init__(
        self,
        store: Store,
        propagation: Propagation,
        clock: Clock,
        ids: IdSource,
        domain_suffix: str,
    ) -> None:
        self._store = store
        self._propagation = propagation
        self._clock = clock
        self._ids = ids
        self._domain_suffix = domain_suffix

    async def _view(self, distribution: Distribution) -> DistributionView:
        pending = self._propagation.config_pending(distribution)
        batches = await self._store.count_in_progress(distribution.id)
        return DistributionView(distribution, IN_PROGRESS if pending else DEPLOYED, batches)

    async def create_distribution(
        self, config: dict[str, Any], tags: tuple[tuple[str, str], ...] = ()
    ) -> tuple[DistributionView, bool]:
        """A new distribution, or the existing one for a replayed identical request."""
        check_tags(tags)
        candidate = new_distribution(
            ids=self._ids,
            now=self._clock.now(),
            domain_suffix=self._domain_suffix,
            config=config,
            tags=tags,
        )
        distribution, created = await self._store.create_distribution(
            candidate, lambda index: decide_create(candidate, index)
        )
        if created:
            await self._propagation.distribution_changed(distribution)
        return await self._view(distribution), created

    async def get_distribution(self, distribution_id: str) -> DistributionView:
        """The distribution or NoSuchDistribution."""
        distribution = await self._store.get_distribution(distribution_id)
        if distribution is None:
            raise NoSuchDistribution()
        return await self._view(distribution)

    async def update_distribution(
        self, distribution_id: str, config: dict[str, Any], if_match: str | None
    ) -> DistributionView:
        """Replace the config (If-Match required)."""
        now = self._clock.now()
        updated = await self._store.update_distribution(
            distribution_id,
            lambda current, index: change_config(current, index, config, if_match, now),
        )
        await self._propagation.distribution_changed(updated)
        return await self._view(updated)

    async def delete_distribution(self, distribution_id: str, if_match: str | None) -> None:
        """Delete a disabled distribution whose config every edge has (If-Match required)."""
        deleted: list[Distribution] = []
        # Asked here, on the loop that owns the leases (the check runs in the writer thread).
        found = await self._store.get_distribution(distribution_id)
        deploying = found is not None and self._propagation.config_pending(found)

        def check(current: Distribution) -> None:
            check_deletable(current, if_match, deploying=deploying)
            deleted.append(current)

        await self._store.delete_distribution(distribution_id, check)
        for distribution in deleted:  # edges drop it (and its cached objects) from the log
            await self._propagation.distribution_changed(distribution)

    async def list_distributions(
        self, marker: str, max_items: str | None, allowed: frozenset[str] | None = None
    ) -> DistributionPage:
        """A page of the distributions the caller may see, in Id order; Marker = an Id.

        The page starts after the marker's place in that order, so a marker stays good when its
        distribution is deleted between pages (CloudFront's NextMarker is the last Id too).
        """
        limit = parse_max_items(max_items)
        if marker and not _is_distribution_id(marker):
            raise InvalidArgument(f"The marker {marker[:64]!r} is not valid for this list.")
        after = await self._store.list_distributions_page(marker, limit + 1, allowed)
        chunk = after[:limit]
        truncated = len(after) > limit
        views = tuple([await self._view(d) for d in chunk])
        next_marker = chunk[-1].id if truncated and chunk else None
        return DistributionPage(views, marker, limit, next_marker)

    async def tag_resource(self, distribution_id: str, tags: tuple[tuple[str, str], ...]) -> None:
        """Add or replace tags (InvalidTagging; NoSuchResource for an unknown distribution)."""
        check_tags(tags)
        await self._retag(distribution_id, tags, ())

    async def untag_resource(self, distribution_id: str, keys: tuple[str, ...]) -> None:
        """Remove tags by key (InvalidTagging; NoSuchResource for an unknown distribution)."""
        check_tag_keys(keys)
        await self._retag(distribution_id, (), keys)

    async def _retag(
        self, distribution_id: str, add: tuple[tuple[str, str], ...], remove: tuple[str, ...]
    ) -> None:
        try:
            await self._store.update_distribution(
                distribution_id, lambda current, _: retagged(current, add, remove)
            )
        except NoSuchDistribution as exc:
            raise NoSuchResource() from exc

    async def list_tags(self, distribution_id: str) -> tuple[tuple[str, str], ...]:
        """The distribution's tags (NoSuchResource for an unknown distribution)."""
        distribution = await self._store.get_distribution(distribution_id)
        if distribution is None:
            raise NoSuchResource()
        return distribution.tags


def _is_distribution_id(text: str) -> bool:
    """Whether `text` has the shape of the Ids this service makes (`E` + 13 of A-Z, 0-9)."""
    return (
        len(text) == ID_LENGTH
        and text.startswith("E")
        and all(c.isascii() and (c.isupper() or c.isdigit()) for c in text)
    )
