"""An in-process control plane for propagation tests: real SqliteStore, Coordinator and
services, a manual clock, counting ids, and edges reaching it through `FaultLink`s.

The coordinator is only loaded, not started: tests call `plane.coordinator.complete_ready()`
where the real loop would tick, so nothing depends on wall time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from invalidator.cli.origin_config import config_for_origin
from invalidator.domain.batches import Limits
from invalidator.domain.distribution_service import DistributionService
from invalidator.domain.invalidations import InvalidationService
from invalidator.domain.models import Invalidation, InvalidationStatus
from invalidator.domain.serving import ServingConfig, cache_identity
from invalidator.edge.agent import EdgeAgent
from invalidator.edge.cache import EdgeCache
from invalidator.propagation.coordinator import Coordinator
from invalidator.propagation.local_link import LocalLink
from invalidator.store.sqlite import SqliteStore
from tests.support.fault_link import FaultLink

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
LIMITS = Limits(max_batch_paths=100, max_in_progress_files=10**6, max_in_progress_wildcards=10**6)


class ManualClock:
    """Monotonic seconds (call it) and UTC time (`now()`), both moved only by `advance`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def now(self) -> datetime:
        """Wall time derived from the monotonic reading."""
        return EPOCH + timedelta(seconds=self.t)

    def advance(self, seconds: float) -> None:
        """Let time pass."""
        self.t += seconds


class CountingIds:
    """Deterministic ids: prefix + a zero-padded counter."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def new_id(self, prefix: str, length: int = 14) -> str:
        """The next id."""
        return prefix + str(next(self._next)).rjust(length - len(prefix), "0")


class Table:
    """The proxy's distribution table, as a dict."""

    def __init__(self) -> None:
        self.configs: dict[str, ServingConfig] = {}

    def set_distributions(self, configs: list[ServingConfig]) -> None:
        """Replace every distribution."""
        self.configs = {c.distribution_id: c for c in configs}

    def upsert_distribution(self, config: ServingConfig) -> bool:
        """Add or replace one; True when its cache identity changed (as the proxy)."""
        previous = self.configs.get(config.distribution_id)
        self.configs[config.distribution_id] = config
        return previous is not None and cache_identity(previous) != cache_identity(config)

    def remove_distribution(self, distribution_id: str) -> None:
        """Forget one."""
        self.configs.pop(distribution_id, None)


@dataclass
class Plane:
    """The control plane under test and the links handed to its edges."""

    store: SqliteStore
    clock: ManualClock
    lease_seconds: float = 1.0
    margin_seconds: float = 0.2
    ids: CountingIds = field(default_factory=CountingIds)
    links: list[FaultLink] = field(default_factory=list)
    coordinator: Coordinator = field(init=False)
    service: InvalidationService = field(init=False)
    distributions: DistributionService = field(init=False)

    def __post_init__(self) -> None:
        self._wire()

    def _wire(self) -> None:
        self.coordinator = Coordinator(
            self.store,
            self.clock,
            self.ids,
            lease_seconds=self.lease_seconds,
            margin_seconds=self.margin_seconds,
            monotonic=self.clock,
        )
        self.service = InvalidationService(
            self.store, self.coordinator, self.clock, self.ids, LIMITS, create_wait=0.0
        )
        self.distributions = DistributionService(
            self.store, self.coordinator, self.clock, self.ids, "invalidator.test"
        )
        for link in self.links:
            link.inner = LocalLink(self.coordinator, self.store, in_process=False)

    async def restart(self) -> None:
        """A new coordinator process over the same store; calls in flight are lost."""
        for link in self.links:
            link.fail_all()
        await self.coordinator.stop()
        self._wire()
        await self.coordinator.load()

    def link(self) -> FaultLink:
        """A new edge's link to this plane."""
        link = FaultLink(LocalLink(self.coordinator, self.store, in_process=False))
        self.links.append(link)
        return link

    def edge(
        self,
        name: str,
        cache: EdgeCache | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> tuple[EdgeAgent, FaultLink]:
        """An edge agent (not registered yet) over a fresh link and cache; its lease clock is
        the plane's unless `monotonic` gives it its own."""
        link = self.link()
        cache = cache or EdgeCache(1 << 24, 1 << 20, monotonic=self.clock)
        agent = EdgeAgent(
            link, cache, Table(), name, f"http://{name}", monotonic=monotonic or self.clock
        )
        return agent, link

    async def create_distribution(self, tag_header: str | None = "X-Cache-Tags") -> str:
        """A distribution (its config event is on the log); its id."""
        view, _ = await self.distributions.create_distribution(
            config_for_origin("http://origin.test", tag_header=tag_header)
        )
        return view.distribution.id

    async def invalidate(self, distribution_id: str, *paths: str) -> Invalidation:
        """CreateInvalidation through the service (committed and published)."""
        reference = self.ids.new_id("ref-", 20)
        invalidation, _ = await self.service.create_invalidation(
            distribution_id, reference, len(paths), paths
        )
        return invalidation

    async def status(self, invalidation: Invalidation) -> InvalidationStatus:
        """What GetInvalidation reads now."""
        found = await self.service.get_invalidation(invalidation.distribution_id, invalidation.id)
        return found.status


async def open_plane(path: Path, lease_seconds: float = 1.0, margin_seconds: float = 0.2) -> Plane:
    """A loaded plane over a fresh store at `path`."""
    plane = Plane(SqliteStore(path), ManualClock(), lease_seconds, margin_seconds)
    await plane.coordinator.load()
    return plane
