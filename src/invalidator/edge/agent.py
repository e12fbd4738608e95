"""The edge agent: registers, follows the event log in order, purges, acknowledges, and
holds the lease that allows serving from cache (the ServeGate of the proxy).

Serving from cache requires both:
- a live lease, counted on the lease clock (CLOCK_BOOTTIME: it runs on while the host is
  suspended) from when the last successful heartbeat was SENT, so it always ends before the
  coordinator (which counts from receipt, plus a margin) stops waiting for us; and
- being caught up: after any moment without a lease, the cursor must reach the head the
  control plane reported when the lease was regained. Every invalidation that completed
  without our acknowledgement was committed before that head, so it is purged before we
  serve from cache again.
A moment without a lease is known from our own clock, and also from the control plane's
answer: it says when it found our lease lapsed, and its lease epoch changes whenever it may
have stopped waiting for us (a lapse, a restart), so a clock that ran slow or stood still
cannot hide a lapse beyond the next heartbeat.
Purges are idempotent and ordered by log position, so redelivery is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from invalidator.domain.clock import lease_clock
from invalidator.domain.models import Event, EventKind, LeaseGrant
from invalidator.domain.serving import ServingConfig
from invalidator.edge.link import ControlPlaneLink, LinkError

log = logging.getLogger("invalidator.edge")


class PurgeTarget(Protocol):
    """What the agent drives: the cache and the proxy's distribution table."""

    def purge(self, distribution_id: str, items: tuple[str, ...], pos: int) -> None:
        """Record purge rules for the items at log position `pos`."""
        ...

    def clear(self) -> None:
        """Drop everything (the log we followed was reset)."""
        ...


class DistributionTable(Protocol):
    """The proxy's host → distribution map."""

    def set_distributions(self, configs: list[ServingConfig]) -> None:
        """Replace every distribution."""
        ...

    def upsert_distribution(self, config: ServingConfig) -> bool:
        """Add or replace one distribution; True when its stored copies must be purged (they
        are keyed or tagged as the new config would not)."""
        ...

    def remove_distribution(self, distribution_id: str) -> None:
        """Forget a distribution and its cached objects."""
        ...


class EdgeAgent:
    """Keeps one edge in step with the control plane."""

    def __init__(
        self,
        link: ControlPlaneLink,
        cache: PurgeTarget,
        table: DistributionTable,
        name: str,
        url: str,
        *,
        heartbeat_interval: float = 1.0,
        poll_wait: float = 20.0,
        monotonic: Callable[[], float] = lease_clock,
    ) -> None:
        self._link = link
        self._cache = cache
        self._table = table
        self.name = name
        self.url = url
        self._interval = heartbeat_interval
        self._poll_wait = poll_wait
        self._monotonic = monotonic
        self.edge_id = ""  # this process's session id (a new one at every registration)
        self._epoch = ""
        self._rejoining = asyncio.Lock()
        self._cursor = 0
        self._stamp = ""  # the stamp of the event at the cursor, once known
        self._reloading = False  # after a reset, until the serving configs are read again
        self._resets = 0  # bumped by every reset: an application under way stops
        self._required = 0
        self._lease_until = 0.0
        self._lease_seconds = heartbeat_interval * 3
        self._tasks: list[asyncio.Task[None]] = []
        self.purges_applied = 0

    # -- ServeGate --------------------------------------------------------------------------

    def position(self) -> int:
        """The applied log position: fetches starting now are stamped with it."""
        return self._cursor

    def may_serve_from_cache(self) -> bool:
        """Lease held, caught up, and the configs of the log followed loaded."""
        return (
            self._monotonic() < self._lease_until
            and self._cursor >= self._required
            and not self._reloading
        )

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Register (retrying until the control plane answers), load configs, follow the log."""
        delay = 0.1
        while True:
            try:
                await self.join()
                break
            except LinkError as exc:
                log.warning("edge registration failed; retrying", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self._tasks = [
            asyncio.create_task(self._poll_loop(), name="edge-poll"),
            asyncio.create_task(self._heartbeat_loop(), name="edge-heartbeat"),
        ]

    async def join(self) -> None:
        """Register once with an empty cache (so at the head) and load every serving config."""
        sent = self._monotonic()
        grant = await self._link.register(self.name, self.url, None)
        configs = await self._link.distributions()
        self.edge_id = grant.edge_id
        self._epoch = grant.epoch
        self._cursor = self._required = grant.cursor
        self._stamp = ""
        self._table.set_distributions(configs)
        self._lease_seconds = grant.lease_seconds
        self._lease_until = sent + grant.lease_seconds
        await self._learn_stamp()
        log.info("edge registered", extra={"edge_id": self.edge_id, "cursor": self._cursor})

    async def _learn_stamp(self) -> None:
        """The stamp of the event at the cursor, asked for at once (a poll would learn it only
        when it returns, up to `poll_wait` later on a quiet log, and until then the edge could
        not tell another log with the same positions from its own)."""
        cursor = self._cursor
        _, _, anchor = await self._link.events(cursor, 0)
        if anchor and self._cursor == cursor and not self._stamp:
            self._stamp = anchor

    async def stop(self, deregister: bool = True) -> None:
        """Stop following; by default leave the fleet so nothing waits for this edge."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._lease_until = 0.0
        if deregister and self.edge_id:
            with contextlib.suppress(LinkError):
                await self._link.deregister(self.edge_id)

    # -- loops ------------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        delay = 0.05
        while True:
            try:
                await self.poll_once(self._poll_wait)
                delay = 0.05
            except LinkError as exc:
                log.warning("edge poll failed", extra={"error": str(exc), "edge_id": self.edge_id})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
            except Exception:  # never let the loop die: the edge would never catch up again
                log.exception("edge poll crashed", extra={"edge_id": self.edge_id})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def poll_once(self, wait: float) -> None:
        """One (long-)poll of the log: apply what arrived in order, then acknowledge it. A
        log that is not the one followed (behind the cursor, or another event at the cursor:
        a store restored from a backup) resets the edge first."""
        if self._reloading:
            await self._reload()
            if self._reloading:  # not reached: the next round tries again
                return
        after, stamp = self._cursor, self._stamp
        events, head, anchor = await self._link.events(after, wait)
        if head < after or (anchor is not None and stamp and anchor != stamp):
            if self._cursor == after:  # not reset meanwhile by a heartbeat's answer
                self._reset(head, "another event at the cursor" if head >= after else "")
                await self._reload()
            return
        if anchor and not self._stamp and self._cursor == after:
            self._stamp = anchor  # learnt where the edge joined, to compare from now on
        if events:
            await self._apply(events)  # stops at the first event it cannot apply
            await self.renew()

    async def _heartbeat_loop(self) -> None:
        while True:
            # Several heartbeats per lease, so one slow or lost call does not lapse it.
            await asyncio.sleep(min(self._interval, self._lease_seconds / 3))
            try:
                await self.renew()
            except LinkError as exc:  # re-registration failed; the lease lapses meanwhile
                log.warning("edge re-registration failed", extra={"error": str(exc)})
            except Exception:  # never let the loop die: the lease would lapse for good
                log.exception("edge heartbeat crashed", extra={"edge_id": self.edge_id})

    async def renew(self) -> bool:
        """Heartbeat now (also the acknowledgement of the applied cursor); True on success."""
        sent = self._monotonic()
        cursor, stamp = self._cursor, self._stamp
        session = self.edge_id
        rejoined = False
        try:
            grant = await self._link.heartbeat(session, cursor, stamp)
        except LinkError as exc:
            if exc.code != "NoSuchEdge":
                log.warning(
                    "edge heartbeat failed", extra={"error": str(exc), "edge_id": self.edge_id}
                )
                return False
            # Forgotten by the control plane: nothing waited for us meanwhile.
            regranted = await self._reregister(session)
            if regranted is None:  # a concurrent call already registered a new session
                return False
            grant = regranted
            rejoined = True
        if grant.edge_id != self.edge_id:  # the answer of a session we have since replaced
            return False
        lapsed = (
            rejoined
            or grant.lapsed
            or grant.epoch != self._epoch
            or self._lease_until <= self._monotonic()
        )
        self._epoch = grant.epoch
        if (grant.head < cursor or grant.foreign) and self._cursor == cursor:
            # `head` was read after the control plane saw `cursor`; comparing with the
            # cursor now would mistake an answer overtaken by a concurrent poll for a reset.
            self._reset(grant.head, "another event at the cursor" if grant.foreign else "")
        if lapsed:
            # We were without a lease: invalidations may have completed without us.
            self._required = max(self._required, grant.head)
            log.info(
                "edge lease regained; catching up",
                extra={"edge_id": self.edge_id, "required": self._required},
            )
        self._lease_seconds = grant.lease_seconds
        self._lease_until = sent + grant.lease_seconds
        return True

    async def _reregister(self, forgotten: str) -> LeaseGrant | None:
        """A new session after `forgotten` was refused; None when another call already
        replaced it (one process never holds two sessions it knows of)."""
        async with self._rejoining:
            if self.edge_id != forgotten:
                return None
            grant = await self._link.register(self.name, self.url, self._cursor, self._stamp)
            self.edge_id = grant.edge_id
            return grant

    def _reset(self, head: int, why: str = "") -> None:
        """The control plane's log is not the one followed: drop the cache, follow the new
        log from its head, and serve from cache again only once the distributions' configs
        are read from it (those of the old log may key or tag differently). The poll task
        reads them (`_reload`): the one task that applies events, so a late answer never
        replaces a config applied after it."""
        log.warning(
            "event log reset; clearing the cache",
            extra={"edge_id": self.edge_id, "head": head, "reason": why or "head behind cursor"},
        )
        self._cache.clear()
        self._cursor = self._required = head
        self._stamp = ""
        self._reloading = True
        self._resets += 1

    async def _reload(self) -> None:
        """Read every serving config and the stamp at the cursor again after a reset, from the
        poll task only (retried by its next round when the control plane cannot be reached);
        what was cached meanwhile is dropped again. A reset during the reload restarts it."""
        resets = self._resets
        try:
            configs = await self._link.distributions()
            await self._learn_stamp()
        except LinkError as exc:
            log.warning("reading the configs after a reset failed", extra={"error": str(exc)})
            return
        if resets != self._resets:
            return  # reset again meanwhile: the next round reads the newer log's
        self._table.set_distributions(configs)
        self._cache.clear()
        self._reloading = False

    def _purge(self, event: Event) -> None:
        """Apply one invalidation; one that cannot be applied as named (a bug: the control
        plane accepted its items) purges the whole distribution instead. A purge may cover
        more than it names, never less, and the edge must not stop following the log."""
        try:
            self._cache.purge(event.distribution_id, event.paths, event.pos)
        except Exception:
            log.exception(
                "purge failed; purging the whole distribution instead",
                extra={"edge_id": self.edge_id, "distribution_id": event.distribution_id},
            )
            self._cache.purge(event.distribution_id, ("/*",), event.pos)

    async def _apply(self, events: list[Event]) -> None:
        resets = self._resets
        for event in events:
            if resets != self._resets:
                return  # reset while applying: these events are of the log left behind
            if event.pos <= self._cursor:
                continue
            if event.kind is EventKind.INVALIDATION:
                self._purge(event)
                self.purges_applied += 1
            elif event.kind is EventKind.DISTRIBUTION:
                config = await self._link.distribution(event.distribution_id)
                if resets != self._resets:
                    return  # reset while the config was read
                if config is None:
                    self._table.remove_distribution(event.distribution_id)
                elif self._table.upsert_distribution(config):
                    log.info(
                        "cache keys or tag header changed; purging the distribution",
                        extra={"edge_id": self.edge_id, "distribution_id": event.distribution_id},
                    )
                    self._cache.purge(event.distribution_id, ("/*",), event.pos)
            else:
                self._table.remove_distribution(event.distribution_id)
            self._cursor = event.pos
            self._stamp = event.stamp
