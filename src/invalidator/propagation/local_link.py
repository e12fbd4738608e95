"""The built-in edge's in-process link to the coordinator (no HTTP, same event loop).

Errors are translated at this boundary as `HttpLink` does for HTTP answers: a ServiceError
(e.g. NoSuchEdge) becomes a LinkError carrying its code, so the agent handles both links alike.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from invalidator.domain.errors import ServiceError
from invalidator.domain.models import Event, LeaseGrant
from invalidator.domain.ports import Store
from invalidator.domain.serving import ServingConfig, serving_config_of
from invalidator.edge.link import LinkError
from invalidator.propagation.coordinator import Coordinator

T = TypeVar("T")


async def _translated(call: Awaitable[T]) -> T:
    try:
        return await call
    except ServiceError as exc:
        raise LinkError(f"control plane refused: {exc.message}", exc.code, exc.status) from exc


class LocalLink:
    """ControlPlaneLink straight to a Coordinator and Store.

    `in_process`: the edge lives in the control plane's process and dies with it, so the next
    control plane forgets its session at once (tests that model remote edges pass False).
    """

    def __init__(self, coordinator: Coordinator, store: Store, *, in_process: bool = True) -> None:
        self._coordinator = coordinator
        self._store = store
        self._in_process = in_process

    async def register(
        self, name: str, url: str, cursor: int | None, stamp: str = ""
    ) -> LeaseGrant:
        """Register with the coordinator."""
        return await _translated(
            self._coordinator.register(name, url, cursor, stamp=stamp, in_process=self._in_process)
        )

    async def heartbeat(self, edge_id: str, cursor: int, stamp: str = "") -> LeaseGrant:
        """Renew the lease and acknowledge."""
        return await _translated(self._coordinator.heartbeat(edge_id, cursor, stamp))

    async def deregister(self, edge_id: str) -> None:
        """Leave cleanly."""
        await _translated(self._coordinator.deregister(edge_id))

    async def events(self, after: int, wait: float) -> tuple[list[Event], int, str | None]:
        """Long-poll the log."""
        return await _translated(self._coordinator.events(after, wait))

    async def distributions(self) -> list[ServingConfig]:
        """Every serving config."""
        return [serving_config_of(d) for d in await self._store.list_distributions()]

    async def distribution(self, distribution_id: str) -> ServingConfig | None:
        """One serving config."""
        found = await self._store.get_distribution(distribution_id)
        return None if found is None else serving_config_of(found)

    async def aclose(self) -> None:
        """Nothing to release."""
