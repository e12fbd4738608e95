"""The edge agent's serve gate: a lease counted from when heartbeats were sent, and after any
moment without one, catching up to the head reported at regain before serving from cache."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from invalidator.domain.invalidations import InvalidationService
from invalidator.edge.agent import EdgeAgent
from invalidator.edge.cache import EdgeCache
from invalidator.edge.freshness import Freshness
from invalidator.propagation.coordinator import Coordinator
from invalidator.propagation.local_link import LocalLink
from invalidator.store.sqlite import SqliteStore
from tests.support.fault_link import FaultLink
from tests.support.plane import LIMITS, CountingIds, ManualClock, Plane, Table

FRESH = Freshness(storable=True, ttl=3600)


def new_cache(plane: Plane) -> EdgeCache:
    return EdgeCache(1 << 24, 1 << 20, monotonic=plane.clock)


def put(cache: EdgeCache, dist: str, path: str, born_pos: int) -> None:
    """Store a copy as the proxy would after a fetch stamped `born_pos`."""
    cache.store(dist, path, "", {}, status=200, headers=[], body=path.encode(),
                freshness=FRESH, born_pos=born_pos)  # fmt: skip


async def settle(link: FaultLink, count: int) -> None:
    """Wait until `count` calls are parked on the link."""
    for _ in range(1000):
        if len(link.parked) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"expected {count} parked calls, saw {link.parked}")


async def test_no_lease_no_cache(plane: Plane) -> None:
    """Before registering, and once the lease ran out, nothing is served from cache."""
    edge, link = plane.edge("edge")
    assert not edge.may_serve_from_cache()
    await edge.join()
    assert edge.may_serve_from_cache()
    link.cut = True
    plane.clock.advance(0.99)
    assert not await edge.renew()
    assert edge.may_serve_from_cache()
    plane.clock.advance(0.02)
    assert not edge.may_serve_from_cache()


async def test_lease_counts_from_when_the_heartbeat_was_sent(plane: Plane) -> None:
    """A heartbeat answered late extends the lease from its sending time, not its answer."""
    edge, link = plane.edge("edge")
    await edge.join()
    link.parking = True
    sent_at = plane.clock()
    renewing = asyncio.create_task(edge.renew())
    await settle(link, 1)
    plane.clock.advance(0.5)
    link.release(link.parked[0])  # arrives now
    await settle(link, 1)
    plane.clock.advance(0.3)
    link.release(link.parked[0])  # answer arrives later still
    assert await renewing
    plane.clock.t = sent_at + 0.999
    assert edge.may_serve_from_cache()
    plane.clock.t = sent_at + 1.0
    assert not edge.may_serve_from_cache()


async def test_regained_lease_waits_until_caught_up(plane: Plane) -> None:
    """An edge cut off while an invalidation completed without it regains its lease but serves
    from cache only after reaching the head it was told at regain; the stale copy is gone."""
    dist = await plane.create_distribution()
    cache = new_cache(plane)
    edge, link = plane.edge("edge", cache)
    await edge.join()
    put(cache, dist, "/a", edge.position())
    put(cache, dist, "/b", edge.position())
    link.cut = True
    invalidation = await plane.invalidate(dist, "/a")
    plane.clock.advance(1.25)
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    link.cut = False
    assert await edge.renew()
    assert edge.position() < invalidation.pos
    assert not edge.may_serve_from_cache()
    await edge.poll_once(0)
    assert edge.may_serve_from_cache()
    assert cache.lookup(dist, "/a", "", {}) is None
    assert cache.lookup(dist, "/b", "", {}) is not None


async def test_heartbeat_delivered_after_expiry_counts_as_a_lapse(plane: Plane) -> None:
    """A heartbeat sent in time but delivered after the coordinator gave up on the edge: the
    answer finds the edge's own lease over, so it must catch up first."""
    dist = await plane.create_distribution()
    edge, link = plane.edge("edge")
    await edge.join()
    link.parking = True
    renewing = asyncio.create_task(edge.renew())
    await settle(link, 1)
    invalidation = await plane.invalidate(dist, "/a")
    plane.clock.advance(1.25)
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    link.parking = False
    link.release(link.parked[0])
    assert await renewing
    assert not edge.may_serve_from_cache()
    await edge.poll_once(0)
    assert edge.may_serve_from_cache()


async def test_forgotten_edge_rejoins_and_catches_up(plane: Plane) -> None:
    """When the control plane no longer knows the edge (NoSuchEdge), nothing waited for it:
    after re-registering it must catch up before serving, even with time left on its lease."""
    dist = await plane.create_distribution()
    cache = new_cache(plane)
    edge, _ = plane.edge("edge", cache)
    await edge.join()
    put(cache, dist, "/a", edge.position())
    await plane.coordinator.deregister(edge.edge_id)
    invalidation = await plane.invalidate(dist, "/a")
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    assert await edge.renew()
    assert [lease.name for lease, _, _ in plane.coordinator.edges()] == ["edge"]
    assert not edge.may_serve_from_cache()
    await edge.poll_once(0)
    assert edge.may_serve_from_cache()
    assert cache.lookup(dist, "/a", "", {}) is None


async def test_late_heartbeat_answer_does_not_wipe_the_cache(plane: Plane) -> None:
    """A heartbeat answer carrying an older head, overtaken by a poll that applied newer events,
    is not mistaken for a reset log."""
    dist = await plane.create_distribution()
    cache = new_cache(plane)
    edge, link = plane.edge("edge", cache)
    await edge.join()
    put(cache, dist, "/kept", edge.position())
    link.parking = True
    renewing = asyncio.create_task(edge.renew())
    await settle(link, 1)
    link.release(link.parked[0])  # delivered: the head it reports is the old one
    await settle(link, 1)
    late = link.parked[0]
    await plane.invalidate(dist, "/other")
    polling = asyncio.create_task(edge.poll_once(0))
    while not polling.done():
        for call in link.parked:
            if call is not late:
                link.release(call)
        await asyncio.sleep(0)
    await polling
    link.release(late)
    assert await renewing
    assert cache.lookup(dist, "/kept", "", {}) is not None
    assert edge.may_serve_from_cache()


async def test_unannounced_event_does_not_wipe_the_cache(plane: Plane) -> None:
    """Events another writer committed (not announced to this coordinator) are applied
    without the edge taking the lower announced head for a reset log."""
    dist = await plane.create_distribution()
    cache = new_cache(plane)
    edge, _ = plane.edge("edge", cache)
    await edge.join()
    put(cache, dist, "/kept", edge.position())
    await plane.invalidate(dist, "/announced")
    other = Coordinator(plane.store, plane.clock, plane.ids)
    writer = InvalidationService(plane.store, other, plane.clock, plane.ids, LIMITS)
    unannounced, _ = await writer.create_invalidation(dist, "elsewhere", 1, ("/gone",))
    await edge.poll_once(0)
    assert edge.position() == unannounced.pos
    assert await edge.renew()
    assert cache.lookup(dist, "/kept", "", {}) is not None
    assert edge.may_serve_from_cache()


async def test_reset_log_clears_the_cache(tmp_path: Path, plane: Plane) -> None:
    """A control plane whose log is behind the edge's cursor is a different log: the cache
    is dropped and the edge follows the new log from its head."""
    dist = await plane.create_distribution()
    cache = new_cache(plane)
    edge, link = plane.edge("edge", cache)
    await plane.invalidate(dist, "/x")
    await edge.join()
    put(cache, dist, "/a", edge.position())
    fresh = SqliteStore(tmp_path / "other.sqlite")
    try:
        other = Coordinator(fresh, plane.clock, CountingIds(), lease_seconds=1.0,
                            monotonic=plane.clock)  # fmt: skip
        await other.load()
        link.inner = LocalLink(other, fresh)
        assert await edge.renew()
        assert cache.stats().entries == 0
        assert edge.position() == 0
    finally:
        await fresh.close()


async def test_in_flight_fetch_is_born_stale(plane: Plane) -> None:
    """A fetch stamped before a purge is applied is not stored once the purge arrived."""
    dist = await plane.create_distribution()
    cache = new_cache(plane)
    edge, _ = plane.edge("edge", cache)
    await edge.join()
    born = edge.position()
    await plane.invalidate(dist, "/a*")
    await edge.poll_once(0)
    put(cache, dist, "/a/1", born)
    assert cache.lookup(dist, "/a/1", "", {}) is None
    put(cache, dist, "/a/1", edge.position())
    assert cache.lookup(dist, "/a/1", "", {}) is not None


async def test_heartbeats_fit_several_times_in_a_short_lease(tmp_path: Path) -> None:
    """With the real loops and clock, a lease shorter than the configured heartbeat interval
    is still renewed in time: the agent beats at least three times per lease."""
    store = SqliteStore(tmp_path / "db.sqlite")
    coordinator = Coordinator(store, ManualClock(), CountingIds(), lease_seconds=0.3)
    await coordinator.start()
    edge = EdgeAgent(LocalLink(coordinator, store), EdgeCache(1 << 20, 1 << 16), Table(),
                     "edge", "http://edge", heartbeat_interval=5.0, poll_wait=0.2)  # fmt: skip
    try:
        await edge.start()
        deadline = time.monotonic() + 0.9
        while time.monotonic() < deadline:
            assert edge.may_serve_from_cache()
            await asyncio.sleep(0.01)
    finally:
        await edge.stop()
        await coordinator.stop()
        await store.close()


async def test_a_clock_that_stood_still_is_caught_by_the_lapse_answer(plane: Plane) -> None:
    """An edge whose lease clock did not run while its host was suspended (CLOCK_MONOTONIC)
    still believes in its lease; the heartbeat answer says it had lapsed, so it stops serving
    from cache until caught up, and the copy purged meanwhile is gone."""
    dist = await plane.create_distribution()
    cache = new_cache(plane)
    frozen = ManualClock(plane.clock())
    edge, _ = plane.edge("edge", cache, monotonic=frozen)
    await edge.join()
    put(cache, dist, "/a", edge.position())
    invalidation = await plane.invalidate(dist, "/a")
    plane.clock.advance(30.0)  # suspended: the control plane's time runs, the edge's does not
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    assert edge.may_serve_from_cache()  # what a stopped clock believes
    assert await edge.renew()
    assert not edge.may_serve_from_cache()
    await edge.poll_once(0)
    assert edge.may_serve_from_cache()
    assert cache.lookup(dist, "/a", "", {}) is None


async def test_a_changed_epoch_counts_as_a_lapse_when_the_lapse_answer_was_lost(
    plane: Plane,
) -> None:
    """The answer that said "lapsed" is lost; the next one does not say it again, but its
    epoch differs from the last one the edge saw, so the edge still catches up first."""
    dist = await plane.create_distribution()
    frozen = ManualClock(plane.clock())
    edge, link = plane.edge("edge", monotonic=frozen)
    await edge.join()
    invalidation = await plane.invalidate(dist, "/a")
    plane.clock.advance(1.25)
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    link.parking = True
    renewing = asyncio.create_task(edge.renew())
    await settle(link, 1)
    link.release(link.parked[0])  # delivered: the coordinator finds the lapse
    await settle(link, 1)
    link.fail(link.parked[0])  # its answer is lost
    assert not await renewing
    link.parking = False
    assert edge.may_serve_from_cache()
    assert await edge.renew()
    assert not edge.may_serve_from_cache()
    await edge.poll_once(0)
    assert edge.may_serve_from_cache()


async def test_after_a_control_plane_restart_edges_catch_up_before_serving(plane: Plane) -> None:
    """A restarted control plane cannot vouch for what its predecessor completed: an edge
    behind the head at its first heartbeat to the new process catches up before serving."""
    dist = await plane.create_distribution()
    edge, _ = plane.edge("edge")
    await edge.join()
    await plane.invalidate(dist, "/a")
    await plane.restart()
    assert edge.may_serve_from_cache()
    assert await edge.renew()
    assert not edge.may_serve_from_cache()
    await edge.poll_once(0)
    assert edge.may_serve_from_cache()


async def test_concurrent_refused_heartbeats_register_one_new_session(plane: Plane) -> None:
    """Two heartbeats both answered NoSuchEdge lead to one new session, not two (a second
    one would hold invalidations for a lease it never renews)."""
    edge, link = plane.edge("edge")
    await edge.join()
    forgotten = edge.edge_id
    await plane.coordinator.deregister(forgotten)
    link.parking = True
    beats = [asyncio.create_task(edge.renew()) for _ in range(2)]
    await settle(link, 2)
    for call in list(link.parked):
        link.release(call)
    link.parking = False
    for _ in range(10):
        for call in list(link.parked):
            link.release(call)
        await asyncio.sleep(0)
    results = await asyncio.gather(*beats)
    assert sorted(results) == [False, True]
    sessions = [lease.edge_id for lease, _, _ in plane.coordinator.edges()]
    assert sessions == [edge.edge_id] and edge.edge_id != forgotten


def test_leases_are_counted_on_a_clock_that_runs_through_suspend() -> None:
    """On Linux the lease clock is CLOCK_BOOTTIME (it keeps counting while the host sleeps),
    and it is what edges and the coordinator use unless a test injects its own."""
    import inspect

    from invalidator.domain import clock

    if not hasattr(time, "CLOCK_BOOTTIME"):
        assert clock.LEASE_CLOCK_NAME == "time.monotonic"
        return
    assert clock.LEASE_CLOCK_NAME == "CLOCK_BOOTTIME"
    before = time.clock_gettime(time.CLOCK_BOOTTIME)
    reading = clock.lease_clock()
    assert before <= reading <= time.clock_gettime(time.CLOCK_BOOTTIME)
    for made in (EdgeAgent.__init__, Coordinator.__init__):
        assert inspect.signature(made).parameters["monotonic"].default is clock.lease_clock


class _FailingCache(EdgeCache):
    """A cache whose purge of `/boom` raises, as a bug in item handling once did."""

    def purge(self, distribution_id: str, items: Sequence[str], pos: int) -> None:
        if "/boom" in items:
            raise UnicodeEncodeError("latin-1", "/boom", 1, 2, "simulated")
        super().purge(distribution_id, items, pos)


async def test_a_purge_that_fails_purges_the_whole_distribution(plane: Plane) -> None:
    """An invalidation the cache cannot apply as named purges all of its distribution (more,
    never less), and the edge goes on following the log and acknowledging."""
    dist = await plane.create_distribution()
    cache = _FailingCache(1 << 24, 1 << 20, monotonic=plane.clock)
    edge, _ = plane.edge("edge", cache=cache)
    await edge.join()
    await edge.poll_once(0)
    put(cache, dist, "/kept-elsewhere", edge.position())
    put(cache, dist, "/x", edge.position())
    put(cache, "OTHER", "/x", edge.position())
    failing = await plane.invalidate(dist, "/boom")
    after = await plane.invalidate(dist, "/y")
    await edge.poll_once(0)
    assert edge.position() == after.pos
    assert cache.lookup(dist, "/x", "", {}) is None
    assert cache.lookup(dist, "/kept-elsewhere", "", {}) is None
    assert cache.lookup("OTHER", "/x", "", {}) is not None
    assert await plane.coordinator.complete_ready() == [failing.id, after.id]


async def test_a_store_restored_from_a_backup_is_another_log(tmp_path: Path, plane: Plane) -> None:
    """The control plane's store is restored from a backup taken before events the edge has
    applied, and writes new ones at the same positions until its head passes the edge's
    cursor. Positions alone look continuous; the stamp of the event at the cursor does not
    match, so the edge drops its cache (the copy the restored log invalidated at a position
    the edge had already passed) and reads the configs again before serving from cache."""
    dist, cache, edge, backup = await _caught_up_then_backed_up(tmp_path, plane)
    view = await plane.distributions.get_distribution(dist)
    renamed = {**view.distribution.config, "CacheTagConfig": {"HeaderName": "X-Other-Tags"}}
    await plane.distributions.update_distribution(dist, renamed, view.distribution.etag)
    for n in range(5):
        await plane.invalidate(dist, f"/noise/{n}")
    await edge.poll_once(0)
    table: Table = edge._table  # type: ignore[assignment]
    assert table.configs[dist].tag_header == "X-Other-Tags"
    put(cache, dist, "/a", edge.position())
    cursor = edge.position()
    await _restore(plane, backup)
    await plane.invalidate(dist, "/a")  # at a position the edge has already passed
    for n in range(8):
        await plane.invalidate(dist, f"/later/{n}")
    assert plane.coordinator.head > cursor
    assert cache.lookup(dist, "/a", "", {}) is not None
    await edge.poll_once(0)
    assert cache.lookup(dist, "/a", "", {}) is None
    assert edge.position() == plane.coordinator.head
    assert table.configs[dist].tag_header == "X-Cache-Tags"  # the restored log's config
    assert edge.may_serve_from_cache()


async def _caught_up_then_backed_up(
    tmp_path: Path, plane: Plane
) -> tuple[str, EdgeCache, EdgeAgent, Path]:
    """A distribution, an edge caught up with the log, and a backup of the store taken then."""
    dist = await plane.create_distribution()
    cache = new_cache(plane)
    edge, _ = plane.edge("edge", cache)
    await edge.join()
    await edge.poll_once(0)
    backup = tmp_path / "backup.sqlite"
    _backup(tmp_path / "db.sqlite", backup)
    return dist, cache, edge, backup


def _backup(source: Path, target: Path) -> None:
    """An online copy of the store, as an operator's backup would be."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()


async def _restore(plane: Plane, backup: Path) -> None:
    """A new control plane process over the restored copy."""
    await plane.coordinator.stop()
    await plane.store.close()
    plane.store = SqliteStore(backup)
    plane._wire()
    await plane.coordinator.load()


async def test_the_old_logs_cursor_is_no_acknowledgement_of_the_restored_log(
    tmp_path: Path, plane: Plane
) -> None:
    """An edge heartbeating a restored control plane with the cursor of the log it followed
    (beyond the restored head, or another event there) acknowledges nothing: an invalidation
    the restored log writes at a position the edge had passed waits until the edge, reset by
    that answer, has applied it. (Counted, it completed at once while the edge kept its copy.)"""
    dist, cache, edge, backup = await _caught_up_then_backed_up(tmp_path, plane)
    await plane.invalidate(dist, "/noise")
    await edge.poll_once(0)
    await _restore(plane, backup)
    assert await edge.renew()  # its cursor is beyond the restored head: reset, nothing acked
    put(cache, dist, "/a", edge.position())
    invalidation = await plane.invalidate(dist, "/a")
    assert await plane.coordinator.complete_ready() == []
    await edge.poll_once(0)
    assert cache.lookup(dist, "/a", "", {}) is None
    assert await plane.coordinator.complete_ready() == [invalidation.id]


async def test_a_heartbeat_naming_another_event_at_its_cursor_is_foreign(plane: Plane) -> None:
    """The stamp of the event at the cursor must be this log's for the cursor to count."""
    dist = await plane.create_distribution()
    edge, _ = plane.edge("edge")
    await edge.join()
    await plane.invalidate(dist, "/a")
    head = plane.coordinator.head
    wrong = await plane.coordinator.heartbeat(edge.edge_id, head, "2001-01-01T00:00:00+00:00")
    assert wrong.foreign
    invalidation = await plane.invalidate(dist, "/b")
    assert await plane.coordinator.complete_ready() == []  # nothing was acknowledged
    stamp = await plane.store.event_stamp(invalidation.pos)
    assert stamp is not None
    right = await plane.coordinator.heartbeat(edge.edge_id, invalidation.pos, stamp)
    assert not right.foreign
    assert set(await plane.coordinator.complete_ready()) >= {invalidation.id}


async def test_a_longer_lease_granted_by_a_later_process_is_waited_out(plane: Plane) -> None:
    """A session registered under a 1 s lease, renewed by a control plane granting 30 s, is
    waited for 30 s by the next one, even when that one grants 1 s again (the stored length
    was the one at registration)."""
    dist = await plane.create_distribution()
    cache = new_cache(plane)
    edge, link = plane.edge("edge", cache)
    await edge.join()
    await edge.poll_once(0)
    plane.lease_seconds = 30.0
    await plane.restart()
    assert await edge.renew()  # the same session, now granted 30 s
    put(cache, dist, "/a", edge.position())
    plane.lease_seconds = 1.0
    await plane.restart()
    link.cut = True
    invalidation = await plane.invalidate(dist, "/a")
    plane.clock.advance(1.5)  # past 1 s and the margin, well within 30 s
    assert edge.may_serve_from_cache()
    assert await plane.coordinator.complete_ready() == []
    plane.clock.advance(30.0)
    assert not edge.may_serve_from_cache()
    assert await plane.coordinator.complete_ready() == [invalidation.id]


async def test_an_edge_knows_the_stamp_at_its_cursor_once_joined(plane: Plane) -> None:
    """The stamp of the event at the cursor is asked for when the edge joins (its first
    long-poll may not return for 20 s), so a heartbeat to a restored log is foreign at once."""
    await plane.create_distribution()
    edge, _ = plane.edge("edge")
    await edge.join()
    assert edge._stamp == await plane.store.event_stamp(edge.position())
    assert edge._stamp
