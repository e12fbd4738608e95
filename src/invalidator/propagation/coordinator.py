"""The coordinator: hands the event log to edges, tracks their leases, completes invalidations.

An invalidation (at log position p) is Completed when every edge session holding a lease has
acknowledged a cursor >= p; a session whose lease expired is not waited for, because an edge
without a lease serves nothing from cache until it has caught up (see edge/agent.py). With no
live session an invalidation completes at once. Each registration is a session of its own
(one running edge process); names are labels. After a restart every stored session is assumed
live for one lease period (the longer of the new process's and the one it was granted, which
the edge counts), so nothing completes behind the back of an edge that was serving when the
previous process died; sessions whose lease is long over are forgotten.

Only the process that `start()`s a coordinator completes anything: the in-process API of the
CLI builds one but never starts it, so its `published()` only records and never completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from invalidator.domain.clock import Clock, lease_clock
from invalidator.domain.errors import NoSuchEdge
from invalidator.domain.ids import IdSource
from invalidator.domain.models import (
    Distribution,
    EdgeRecord,
    Event,
    Invalidation,
    InvalidationStatus,
    LeaseGrant,
)
from invalidator.domain.ports import Store
from invalidator.propagation.leases import EdgeLease, LeaseTable
from invalidator.propagation.metrics import PropagationMetrics

log = logging.getLogger("invalidator.propagation")
_TICK = 0.05
COMPLETED = InvalidationStatus.COMPLETED
_HOUSEKEEPING = 1.0
_STAMPS_KEPT = 1024  # seconds between forgetting long-gone sessions and noting `seen_at`


class Coordinator:
    """The Propagation port for the embedded deployment, and the edges' counterpart."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        ids: IdSource,
        lease_seconds: float = 5.0,
        margin_seconds: float = 0.5,
        monotonic: Callable[[], float] = lease_clock,
        forget_after: float | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._monotonic = monotonic
        self._leases = LeaseTable(lease_seconds, margin_seconds)
        # An expired session is kept (shown as expired, and recognised if it comes back) this
        # long, then forgotten: a crashed edge's session does not stay in the store forever.
        self._forget_after = (
            forget_after if forget_after is not None else max(60.0, 12 * lease_seconds)
        )
        self._incarnation = ids.new_id("C")  # part of every lease epoch this process hands out
        self.metrics = PropagationMetrics()
        self._pending: dict[str, Invalidation] = {}
        self._waiters: dict[str, list[asyncio.Future[Invalidation | None]]] = {}
        self._config_pos: dict[str, int] = {}
        self._stamps: dict[int, str] = {}  # position -> stamp of its event (see _stamp_at)
        self._head = 0
        self._synced = 0  # store positions up to here have been adopted (see sync_with_store)
        self._new_events = asyncio.Condition()
        self._sync_now = False  # another process committed: sync on the next wake-up
        self._released = 0  # bumped by `stopping` to send the long-polls parked in `events` home
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
        """Load edge sessions (each assumed live for one lease: the longer of this process's
        and the one the session was granted), positions, unfinished work.

        A session not heard from for longer than `forget_after` (by its stored `seen_at`) is
        still assumed live for that one lease, and forgotten as soon as it ends unrenewed: the
        wall clock may only shorten how long a dead session is remembered, never the wait.
        """
        self._head = self._synced = await self._store.head_position()
        self._config_pos = await self._store.config_positions()
        now = self._monotonic()
        long_ago = self._clock.now() - timedelta(seconds=self._forget_after)
        sessions = await self._store.list_edges()
        # An in-process edge died with the control plane that ran it, cache and all (a new
        # coordinator means a new process; `serve` holds the data-directory lock).
        gone = [edge.id for edge in sessions if edge.in_process]
        await self._store.delete_edges(gone)
        # The sessions heartbeating this process get its leases: a later process must know.
        await self._store.raise_edge_leases(self._leases.lease_seconds)
        for edge in (e for e in sessions if not e.in_process):
            # The edge counts the lease it was granted: a previous process's may be longer.
            held = max(edge.lease_seconds, self._leases.lease_seconds)
            self._leases.edges[edge.id] = EdgeLease(
                edge.id, edge.name, edge.url, cursor=0,
                expires_at=now + held + self._leases.margin_seconds,
                stale=(edge.seen_at or edge.registered_at) < long_ago, touched_at=now,
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

    def store_changed(self) -> None:
        """Another process committed to the store (the CLI says so): look now, not at the
        next tick."""
        self._sync_now = True
        self._wake.set()

    @property
    def is_stopping(self) -> bool:
        """True once `stopping()` ran (HTTP long-polls then answer without waiting)."""
        return self._released > 0

    async def stopping(self) -> None:
        """The process is shutting down: answer the parked long-polls and every create wait
        now (with what is true now: no new events, not Completed yet), so in-flight requests
        finish within the graceful shutdown instead of being cancelled. Later create waits
        answer at once; later long-polls wait as usual (the in-process edge polls on until
        it is stopped, and must not spin), so the HTTP side asks for no wait (`edge_ops`)."""
        self._released += 1  # the polls parked now return; later ones wait as usual
        for waiters in self._waiters.values():
            for future in waiters:
                _settle(future, None)
        async with self._new_events:
            self._new_events.notify_all()

    async def published(self, invalidation: Invalidation) -> None:
        """A committed invalidation: announce it to edges, wait for their acks."""
        if invalidation.id not in self._pending:
            self.metrics.created += 1
        self._pending[invalidation.id] = invalidation
        await self._advance_head(invalidation.pos)
        self._wake.set()

    async def wait_completed(
        self, invalidation: Invalidation, timeout: float
    ) -> Invalidation | None:
        """Wait (bounded) for completion: the invalidation as stored once Completed (resolved
        by `complete_ready` after its commit, so no re-read), None when still InProgress."""
        if invalidation.id not in self._pending:  # completed already (or never ours): the store
            stored = await self._store.get_invalidation(
                invalidation.distribution_id, invalidation.id
            )
            return stored if stored is not None and stored.status is COMPLETED else None
        if timeout <= 0 or self.is_stopping:
            return None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Invalidation | None] = loop.create_future()
        waiters = self._waiters.setdefault(invalidation.id, [])
        waiters.append(future)
        # One timer, not asyncio.timeout + shield: this runs for every create under load.
        timer = loop.call_later(timeout, _settle, future, None)
        try:
            return await future
        finally:
            timer.cancel()
            if self._waiters.get(invalidation.id) is waiters:  # not completed: timed out
                waiters.remove(future)  # (or cancelled); completion pops the whole list
                if not waiters:
                    del self._waiters[invalidation.id]

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

    async def register(
        self,
        name: str,
        url: str,
        cursor: int | None,
        *,
        stamp: str = "",
        in_process: bool = False,
    ) -> LeaseGrant:
        """An edge process starts, or comes back after being forgotten: a new session with its
        own lease. `cursor` None: its cache is empty, so it starts at the head; a cursor that
        is not a position of this log (see `foreign`) starts it at 0, waited for until it has
        reset. `in_process`: the edge runs in this process (forgotten at once by the next
        control plane)."""
        foreign = cursor is not None and await self._foreign(cursor, stamp)
        now_wall = self._clock.now()
        record = await self._store.register_edge(
            EdgeRecord(
                self._ids.new_id("S"),
                name,
                url,
                now_wall,
                now_wall,
                in_process,
                self._leases.lease_seconds,
            )
        )
        head = self._head
        start = head if cursor is None else 0 if foreign else cursor
        now = self._monotonic()
        lease = EdgeLease(record.id, name, url, start, 0.0, touched_at=now)
        self._leases.edges[record.id] = lease
        self._leases.renew(record.id, start, now)
        log.info("edge registered", extra={"edge_id": record.id, "edge": name, "cursor": start})
        self._wake.set()
        return LeaseGrant(
            record.id, self._leases.lease_seconds, head, start, self._epoch(lease), False, foreign
        )

    async def heartbeat(self, edge_id: str, cursor: int, stamp: str = "") -> LeaseGrant:
        """Renew a session's lease and record its progress (acks ride on heartbeats); the
        answer says whether the lease had lapsed here (and carries the lease epoch). A cursor
        that is not a position of this log (`foreign`) renews the lease but acknowledges
        nothing: the edge followed another log and resets on this answer."""
        if edge_id not in self._leases.edges:
            raise NoSuchEdge()
        foreign = await self._foreign(cursor, stamp)
        lease = self._leases.edges.get(edge_id)
        if lease is None:  # deregistered or forgotten meanwhile
            raise NoSuchEdge()
        acked = lease.cursor if foreign else cursor
        lapsed = self._leases.renew(edge_id, acked, self._monotonic())
        if lapsed:
            log.info("edge lease had lapsed", extra={"edge_id": edge_id, "edge": lease.name})
        self._wake.set()
        return LeaseGrant(
            edge_id,
            self._leases.lease_seconds,
            self._head,
            cursor,
            self._epoch(lease),
            lapsed,
            foreign,
        )

    async def _foreign(self, cursor: int, stamp: str) -> bool:
        """Whether an edge's cursor is not a position of this log: beyond its head, or (when
        the edge knows the stamp of the event there) another event at that position."""
        if cursor > self._head:
            return True
        if not stamp or cursor <= 0:
            return False
        return await self._stamp_at(cursor) != stamp

    async def _stamp_at(self, pos: int) -> str:
        """The stamp of the event at `pos` ("" when there is none), remembered: an event never
        changes under one process (a restored store means a new process), and every edge's
        heartbeat and poll asks for the position it is at, mostly the same few."""
        found = self._stamps.get(pos)
        if found is None:
            found = await self._store.event_stamp(pos) or ""
            if found:  # "" may still be written there by another process: ask again next time
                if len(self._stamps) >= _STAMPS_KEPT:
                    self._stamps.clear()
                self._stamps[pos] = found
        return found

    def _epoch(self, lease: EdgeLease) -> str:
        # Changes whenever this side may have stopped waiting for the session: at each lapse
        # found, and with every new process (which cannot know what its predecessor did).
        return f"{self._incarnation}.{lease.lapses}"

    async def deregister(self, edge_id: str) -> None:
        """A session stopped cleanly: its cache is gone, nothing waits for it. Other sessions
        (also of the same name) are not touched."""
        self._leases.edges.pop(edge_id, None)
        await self._store.delete_edge(edge_id)
        self._wake.set()

    async def housekeeping(self) -> list[str]:
        """Forget sessions whose lease ended `forget_after` ago (stale loaded ones: once their
        assumed lease ended), and note `seen_at` for sessions heard from; the forgotten ids.

        A forgotten session that heartbeats again is told NoSuchEdge and registers anew,
        catching up before it serves from cache (nothing waited for it meanwhile).
        """
        now = self._monotonic()
        gone = [lease.edge_id for lease in self._leases.forgettable(now, self._forget_after)]
        for edge_id in gone:
            self._leases.edges.pop(edge_id, None)
        if gone:
            log.info("edge sessions forgotten", extra={"edge_ids": gone})
            self.metrics.sessions_forgotten += len(gone)
            await self._store.delete_edges(gone)
        every = self._forget_after / 4
        due = [
            lease
            for lease in self._leases.live(now)
            if lease.confirmed and now - lease.touched_at >= every
        ]
        if due:
            for lease in due:
                lease.touched_at = now
            await self._store.touch_edges([lease.edge_id for lease in due], self._clock.now())
        return gone

    async def events(
        self, after: int, wait: float, limit: int = 1000
    ) -> tuple[list[Event], int, str | None]:
        """Events after `after` (long-poll up to `wait` seconds when there are none), the head,
        and the anchor: the stamp of the event at `after` ("" when this log has none there;
        None for 0), which the edge compares with the one it applied there."""
        if self._head <= after and wait > 0:
            released = self._released
            async with self._new_events:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):  # unlike wait_for, never eats a cancel
                        await self._new_events.wait_for(
                            lambda: self._head > after or self._released != released
                        )
        anchor = None if after <= 0 else await self._stamp_at(after)
        if self._head <= after:
            return [], self._head, anchor
        found = await self._store.events_after(after, limit)
        if found:  # committed events not announced yet (or never: a deleted distribution)
            await self._advance_head(found[-1].pos)
        return found, self._head, anchor

    def edges(self) -> list[tuple[EdgeLease, bool, float]]:
        """Each known session (by name, then id) with whether its lease is live and seconds
        left."""
        now = self._monotonic()
        return [
            (lease, lease.expires_at > now, max(0.0, lease.expires_at - now))
            for lease in sorted(self._leases.edges.values(), key=lambda e: (e.name, e.edge_id))
        ]

    @property
    def pending_count(self) -> int:
        """Invalidations this process still propagates."""
        return len(self._pending)

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
        synced_at = kept_at = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_TICK):  # unlike wait_for, never eats a cancel
                    await self._wake.wait()
            self._wake.clear()
            try:
                # Other processes' commits are looked for once a tick, not on every wake-up
                # (acks and publishes of this process wake the loop hundreds of times a second).
                now = time.monotonic()  # real time, like the tick itself
                if now - synced_at >= _TICK or self._sync_now:
                    synced_at = now
                    self._sync_now = False
                    await self.sync_with_store()
                await self.complete_ready()
                if now - kept_at >= _HOUSEKEEPING:
                    kept_at = now
                    await self.housekeeping()
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
            if invalidation.id not in self._pending:
                self._pending[invalidation.id] = invalidation
                self.metrics.created += 1
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
        at = self._clock.now()
        await self._store.complete_invalidations([inv.id for inv in ready], at)
        logged = log.isEnabledFor(logging.INFO)
        for inv in ready:
            self._pending.pop(inv.id, None)
            self.metrics.completed += 1
            self.metrics.completion_seconds.observe(
                max(0.0, (at - inv.create_time).total_seconds())
            )
            waiters = self._waiters.pop(inv.id, None)
            if waiters:
                done = replace(inv, status=COMPLETED, complete_time=at)
                for future in waiters:
                    _settle(future, done)
            if logged:
                log.info(
                    "invalidation completed",
                    extra={"invalidation_id": inv.id, "distribution_id": inv.distribution_id},
                )
        return [inv.id for inv in ready]


def _settle(future: asyncio.Future[Invalidation | None], result: Invalidation | None) -> None:
    if not future.done():
        future.set_result(result)
