"""The coordinator: hands the event log to edges, tracks their leases, completes invalidations.

An invalidation (at log position p) is Completed when every edge holding a lease has
acknowledged a cursor >= p; an edge whose lease expired is not waited for, because an edge
without a lease serves nothing from cache until it has caught up (see edge/agent.py). With no
live edge an invalidation completes at once. After a restart every registered edge is assumed
live for one lease period, so nothing completes behind the back of an edge that was
serving when the previous process died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from invalidator.domain.clock import Clock
from invalidator.domain.errors import NoSuchEdge
from invalidator.domain.ids import IdSource
from invalidator.domain.models import (
    Distribution,
    EdgeRecord,
    Event,
    Invalidation,
    LeaseGrant,
)
from invalidator.domain.ports import Store
from invalidator.propagation.leases import EdgeLease, LeaseTable

log = logging.getLogger("invalidator.propagation")
_TICK = 0.05


class Coordinator:
    """The Propagation port for the embedded deployment, and the edges' counterpart."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        ids: IdSource,
        lease_seconds: float = 5.0,
        margin_seconds: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._monotonic = monotonic
        self._leases = LeaseTable(lease_seconds, margin_seconds)
        self._pending: dict[str, Invalidation] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._config_pos: dict[str, int] = {}
        self._head = 0
        self._synced = 0  # store positions up to here have been adopted (see sync_with_store)
        self._new_events = asyncio.Condition()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def lease_seconds(self) -> float:
        """The lease length granted to edges."""
        return self._leases.lease_seconds

    # -- Propagation port -----------------------------------------------------------------

    async def start(self) -> None:
        """Load the state and start the completion loop."""
        await self.load()
        self._task = asyncio.create_task(self._run(), name="coordinator")
        self._wake.set()

    async def load(self) -> None:
        """Load edges (each assumed live for one lease), positions and unfinished work."""
        self._head = self._synced = await self._store.head_position()
        self._config_pos = await self._store.config_positions()
        now = self._monotonic()
        for edge in await self._store.list_edges():
            self._leases.edges[edge.id] = EdgeLease(
                edge.id, edge.name, edge.url, cursor=0,
                expires_at=now + self._leases.lease_seconds + self._leases.margin_seconds,
            )  # fmt: skip
        for invalidation in await self._store.in_progress_invalidations():
            self._pending[invalidation.id] = invalidation

    async def stop(self) -> None:
        """Stop the loop; unfinished work stays InProgress in the store."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._new_events:
            self._new_events.notify_all()

    async def published(self, invalidation: Invalidation) -> None:
        """A committed invalidation: announce it to edges, wait for their acks."""
        self._pending[invalidation.id] = invalidation
        await self._advance_head(invalidation.pos)
        self._wake.set()

    async def wait_completed(self, invalidation_id: str, timeout: float) -> bool:
        """Wait (bounded) for completion; True when it completed within `timeout`."""
        if invalidation_id not in self._pending:
            return True
        if timeout <= 0:
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(invalidation_id, []).append(future)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(future)
        except TimeoutError:
            return False
        return True

    async def distribution_changed(self, distribution: Distribution) -> None:
        """A committed config change: edges pick it up from the log."""
        head = await self._store.head_position()
        self._config_pos[distribution.id] = head
        await self._advance_head(head)

    def config_pending(self, distribution: Distribution) -> bool:
        """True while a live edge has not applied the distribution's newest config."""
        needed = self._config_pos.get(distribution.id, 0)
        return any(lease.cursor < needed for lease in self._leases.live(self._monotonic()))

    # -- the edges' side ------------------------------------------------------------------

    async def register(self, name: str, url: str, cursor: int | None) -> LeaseGrant:
        """An edge (re)starts. `cursor` None: its cache is empty, so it starts at the head."""
        record = await self._store.register_edge(
            EdgeRecord(self._ids.new_id("N"), name, url, self._clock.now())
        )
        head = self._head
        start = head if cursor is None else cursor
        self._leases.edges[record.id] = EdgeLease(record.id, name, url, start, 0.0)
        self._leases.renew(record.id, start, self._monotonic())
        log.info("edge registered", extra={"edge_id": record.id, "edge": name, "cursor": start})
        self._wake.set()
        return LeaseGrant(record.id, self._leases.lease_seconds, head, start)

    async def heartbeat(self, edge_id: str, cursor: int) -> LeaseGrant:
        """Renew a lease and record progress (acks ride on heartbeats)."""
        if edge_id not in self._leases.edges:
            raise NoSuchEdge()
        self._leases.renew(edge_id, cursor, self._monotonic())
        self._wake.set()
        return LeaseGrant(edge_id, self._leases.lease_seconds, self._head, cursor)

    async def deregister(self, edge_id: str) -> None:
        """An edge stopped cleanly: its cache is gone, nothing waits for it."""
        self._leases.edges.pop(edge_id, None)
        await self._store.delete_edge(edge_id)
        self._wake.set()

    async def events(self, after: int, wait: float, limit: int = 1000) -> tuple[list[Event], int]:
        """Events after `after` (long-poll up to `wait` seconds when there are none)."""
        if self._head <= after and wait > 0:
            async with self._new_events:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):  # unlike wait_for, never eats a cancel
                        await self._new_events.wait_for(lambda: self._head > after)
        if self._head <= after:
            return [], self._head
        found = await self._store.events_after(after, limit)
        if found:  # committed events not announced yet (or never: a deleted distribution)
            await self._advance_head(found[-1].pos)
        return found, self._head

    def edges(self) -> list[tuple[EdgeLease, bool, float]]:
        """Each known edge with whether its lease is live and seconds left."""
        now = self._monotonic()
        return [
            (lease, lease.expires_at > now, max(0.0, lease.expires_at - now))
            for lease in sorted(self._leases.edges.values(), key=lambda e: e.name)
        ]

    @property
    def head(self) -> int:
        """The newest event position."""
        return self._head

    # -- completion -----------------------------------------------------------------------

    async def _advance_head(self, pos: int) -> None:
        if pos > self._head:
            self._head = pos
            async with self._new_events:
                self._new_events.notify_all()

    async def _run(self) -> None:
        synced_at = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_TICK):  # unlike wait_for, never eats a cancel
                    await self._wake.wait()
            self._wake.clear()
            try:
                # Other processes' commits are looked for once a tick, not on every wake-up
                # (acks and publishes of this process wake the loop hundreds of times a second).
                now = time.monotonic()  # real time, like the tick itself
                if now - synced_at >= _TICK:
                    synced_at = now
                    await self.sync_with_store()
                await self.complete_ready()
            except Exception:
                log.exception("completing invalidations failed; will retry")
                await asyncio.sleep(0.5)

    async def sync_with_store(self) -> None:
        """Pick up events another process committed to the shared store (the CLI in-process,
        a store written directly): advance the head, adopt their unfinished invalidations.

        Only the log above the last synced position is read (a range, however long the log),
        and it is tracked apart from the head: `events()` may advance the head over another
        process's invalidation, which must still be adopted here. Positions grow in commit
        order across processes, so everything committed after `head` was read lies above it.
        """
        head = await self._store.head_position()
        if head <= self._synced:
            return
        after = self._synced
        self._config_pos.update(await self._store.config_positions(after))
        for invalidation in await self._store.in_progress_invalidations(after):
            self._pending.setdefault(invalidation.id, invalidation)
        self._synced = head
        await self._advance_head(head)

    async def complete_ready(self) -> list[str]:
        """Complete every pending invalidation no live edge still owes; their ids."""
        if not self._pending:
            return []
        mark = self._leases.low_water_mark(self._monotonic())
        ready = [inv for inv in self._pending.values() if mark is None or inv.pos <= mark]
        if not ready:
            return []
        await self._store.complete_invalidations([inv.id for inv in ready], self._clock.now())
        logged = log.isEnabledFor(logging.INFO)
        for inv in ready:
            self._pending.pop(inv.id, None)
            for future in self._waiters.pop(inv.id, []):
                if not future.done():
                    future.set_result(None)
            if logged:
                log.info(
                    "invalidation completed",
                    extra={"invalidation_id": inv.id, "distribution_id": inv.distribution_id},
                )
        return [inv.id for inv in ready]
