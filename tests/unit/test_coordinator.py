"""The coordinator completes an invalidation exactly when no edge holding a lease still owes
its acknowledgement (real SqliteStore, edges through LocalLink, a manual clock)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from invalidator.domain.distribution_service import DEPLOYED, IN_PROGRESS
from invalidator.domain.invalidations import InvalidationService
from invalidator.domain.models import InvalidationStatus
from invalidator.propagation.coordinator import Coordinator
from invalidator.propagation.local_link import LocalLink
from tests.support.plane import LIMITS, Plane

COMPLETED, IN_FLIGHT = InvalidationStatus.COMPLETED, InvalidationStatus.IN_PROGRESS


async def test_completes_at_once_without_edges(plane: Plane) -> None:
    """With no edge at all there is nobody to wait for: Completed on the first check."""
    dist = await plane.create_distribution()
    invalidation = await plane.invalidate(dist, "/a")
    assert await plane.status(invalidation) is IN_FLIGHT
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    found = await plane.service.get_invalidation(dist, invalidation.id)
    assert found.status is COMPLETED
    assert found.complete_time == plane.clock.now()
    done = await plane.coordinator.wait_completed(invalidation, 0)
    assert done == found  # already completed: read back from the store


async def test_waits_for_every_live_edge(plane: Plane) -> None:
    """Completed only once the last live edge has acknowledged the position."""
    dist = await plane.create_distribution()
    first, _ = plane.edge("first")
    second, _ = plane.edge("second")
    await first.join()
    await second.join()
    invalidation = await plane.invalidate(dist, "/a", "/b*")
    assert await plane.coordinator.complete_ready() == []
    await first.poll_once(0)
    assert first.position() == invalidation.pos
    assert await plane.coordinator.complete_ready() == []
    assert await plane.status(invalidation) is IN_FLIGHT
    await second.poll_once(0)
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    assert await plane.status(invalidation) is COMPLETED


async def test_any_utf8_path_is_applied_and_completes(plane: Plane) -> None:
    """Paths beyond Latin-1 (`/日本.png`, `/€`) are applied by an edge and complete, and the
    invalidations after them too (the edge once stopped at such an event for good)."""
    dist = await plane.create_distribution()
    edge, _ = plane.edge("edge")
    await edge.join()
    unicode = await plane.invalidate(dist, "/日本.png", "/€?q=é", "/ü*")
    later = await plane.invalidate(dist, "/later.png")
    await edge.poll_once(0)
    assert edge.position() == later.pos
    assert await plane.coordinator.complete_ready() == [unicode.id, later.id]
    assert await plane.status(unicode) is COMPLETED


async def test_completes_once_a_silent_edge_lease_expires(plane: Plane) -> None:
    """A silent edge is waited for until its lease plus the margin has run out, not longer."""
    dist = await plane.create_distribution()
    live, _ = plane.edge("live")
    silent, silent_link = plane.edge("silent")
    await live.join()
    await silent.join()
    silent_link.cut = True
    invalidation = await plane.invalidate(dist, "/a")
    await live.poll_once(0)
    plane.clock.advance(1.1)  # past the edge's own lease, within the coordinator's margin
    assert not silent.may_serve_from_cache()
    assert await plane.coordinator.complete_ready() == []
    plane.clock.advance(0.15)
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    assert await plane.status(invalidation) is COMPLETED


async def test_heartbeats_keep_an_edge_waited_for(plane: Plane) -> None:
    """An edge that heartbeats without applying keeps the invalidation InProgress."""
    dist = await plane.create_distribution()
    edge, _ = plane.edge("slow")
    await edge.join()
    invalidation = await plane.invalidate(dist, "/a")
    for _ in range(10):
        plane.clock.advance(0.5)
        assert await edge.renew()
        assert await plane.coordinator.complete_ready() == []
    await edge.poll_once(0)
    assert await plane.coordinator.complete_ready() == [invalidation.id]


async def test_restart_resumes_in_progress_and_assumes_edges_live(plane: Plane) -> None:
    """A new coordinator over the same store resumes InProgress work and waits one lease for
    every registered edge, and for an edge that comes back, until it acknowledges."""
    dist = await plane.create_distribution()
    edge, link = plane.edge("edge")
    await edge.join()
    invalidation = await plane.invalidate(dist, "/a")
    await plane.restart()
    assert await plane.coordinator.complete_ready() == []
    plane.clock.advance(0.9)
    assert await edge.renew()  # it heartbeats to the new process, still behind
    plane.clock.advance(0.9)
    assert await plane.coordinator.complete_ready() == []
    assert await plane.status(invalidation) is IN_FLIGHT
    await edge.poll_once(0)
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    assert not link.cut


async def test_restart_completes_after_a_dead_edge_lease(plane: Plane) -> None:
    """After a restart an edge that never comes back is waited for one lease, then not."""
    dist = await plane.create_distribution()
    edge, _ = plane.edge("dead")
    await edge.join()
    invalidation = await plane.invalidate(dist, "/a")
    await plane.restart()
    plane.clock.advance(1.15)
    assert await plane.coordinator.complete_ready() == []
    plane.clock.advance(0.1)
    assert await plane.coordinator.complete_ready() == [invalidation.id]


async def test_restart_with_a_shorter_lease_waits_out_the_granted_one(plane: Plane) -> None:
    """A control plane restarted with a shorter lease waits for a cut-off edge as long as the
    lease that edge was granted, which the edge still counts, not its own shorter one (the
    edge served a purged copy from cache, a Hit, until its old lease ran out)."""
    dist = await plane.create_distribution()
    edge, link = plane.edge("cut-off")
    await edge.join()  # granted 1.0 s, stored with the session
    (session,) = await plane.store.list_edges()
    assert session.lease_seconds == 1.0
    link.cut = True
    invalidation = await plane.invalidate(dist, "/a")
    plane.lease_seconds = 0.2
    await plane.restart()
    plane.clock.advance(0.9)  # past the new lease and its margin, within the granted lease
    assert edge.may_serve_from_cache()
    assert await plane.coordinator.complete_ready() == []
    plane.clock.advance(0.35)  # past the granted lease and the margin
    assert not edge.may_serve_from_cache()
    assert await plane.coordinator.complete_ready() == [invalidation.id]


async def test_restart_forgets_the_previous_process_in_process_edge(plane: Plane) -> None:
    """The built-in edge died with its control plane (cache and all): a new coordinator drops
    its session at once and waits only for the remote edges."""
    dist = await plane.create_distribution()
    builtin = LocalLink(plane.coordinator, plane.store)  # in_process by default
    await builtin.register("builtin", "http://builtin", None)
    remote, _ = plane.edge("remote")
    await remote.join()
    assert {e.in_process for e in await plane.store.list_edges()} == {True, False}
    invalidation = await plane.invalidate(dist, "/a")
    await plane.restart()
    assert [e.name for e in await plane.store.list_edges()] == ["remote"]
    assert await plane.coordinator.complete_ready() == []  # the remote edge still owes its ack
    await remote.poll_once(0)
    assert await plane.coordinator.complete_ready() == [invalidation.id]


async def test_deregistered_edge_is_not_waited_for(plane: Plane) -> None:
    """A cleanly stopped edge leaves the fleet at once."""
    dist = await plane.create_distribution()
    edge, _ = plane.edge("leaving")
    await edge.join()
    invalidation = await plane.invalidate(dist, "/a")
    await edge.stop()
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    assert plane.coordinator.edges() == []


async def test_create_waits_the_window_for_a_fast_purge(plane: Plane) -> None:
    """With the loop running, CreateInvalidation's window returns Completed when the only edge
    acknowledges quickly, and InProgress when it does not within the window."""
    dist = await plane.create_distribution()
    edge, _ = plane.edge("edge")
    await edge.join()
    await plane.coordinator.start()
    service = InvalidationService(
        plane.store, plane.coordinator, plane.clock, plane.ids, LIMITS, create_wait=2.0
    )

    async def ack_soon() -> None:
        while plane.coordinator.head == edge.position():
            await asyncio.sleep(0.005)
        await edge.poll_once(0)

    acker = asyncio.create_task(ack_soon())
    fast, _ = await service.create_invalidation(dist, "fast", 1, ("/a",))
    await acker
    assert fast.status is COMPLETED
    assert fast.complete_time is not None

    quick = InvalidationService(
        plane.store, plane.coordinator, plane.clock, plane.ids, LIMITS, create_wait=0.05
    )
    slow, _ = await quick.create_invalidation(dist, "slow", 1, ("/b",))
    assert slow.status is IN_FLIGHT
    assert await plane.coordinator.wait_completed(slow, 0.05) is None
    assert not plane.coordinator._waiters  # a waiter that timed out leaves nothing behind
    waiting = asyncio.create_task(plane.coordinator.wait_completed(slow, 5.0))
    cancelled = asyncio.create_task(plane.coordinator.wait_completed(slow, 5.0))
    await asyncio.sleep(0)
    cancelled.cancel()
    await edge.poll_once(0)
    done = await waiting
    # What the waiter is given is what the store now holds, without reading it again.
    assert done == await plane.service.get_invalidation(dist, slow.id)
    assert done is not None and done.status is COMPLETED and done.complete_time is not None
    assert cancelled.cancelled() and not plane.coordinator._waiters


async def test_distribution_status_follows_live_edges(plane: Plane) -> None:
    """Status reads InProgress until every live edge applied the newest config, then Deployed;
    an edge whose lease expired does not hold it back."""
    lonely = await plane.create_distribution()
    assert (await plane.distributions.get_distribution(lonely)).status == DEPLOYED
    edge, link = plane.edge("edge")
    await edge.join()
    dist = await plane.create_distribution()
    assert (await plane.distributions.get_distribution(dist)).status == IN_PROGRESS
    await edge.poll_once(0)
    assert (await plane.distributions.get_distribution(dist)).status == DEPLOYED
    assert dist in edge_table(edge)
    link.cut = True
    other = await plane.create_distribution()
    assert (await plane.distributions.get_distribution(other)).status == IN_PROGRESS
    plane.clock.advance(1.25)
    assert (await plane.distributions.get_distribution(other)).status == DEPLOYED


async def test_events_report_a_head_covering_what_they_return(plane: Plane) -> None:
    """Events committed but not yet announced (or never: another process wrote them) still
    move the head, so an edge never sees a head below the position it applied."""
    dist = await plane.create_distribution()
    other = Coordinator(plane.store, plane.clock, plane.ids)
    writer = InvalidationService(plane.store, other, plane.clock, plane.ids, LIMITS)
    unannounced, _ = await writer.create_invalidation(dist, "elsewhere", 1, ("/a",))
    assert plane.coordinator.head < unannounced.pos
    events, head, _ = await plane.coordinator.events(0, 0)
    assert events[-1].pos == unannounced.pos
    assert head == plane.coordinator.head == unannounced.pos


async def test_edges_list_shows_lease_and_cursor(plane: Plane) -> None:
    """edges() reports each edge's cursor and whether its lease is live."""
    dist = await plane.create_distribution()
    a, _ = plane.edge("a")
    b, b_link = plane.edge("b")
    await a.join()
    await b.join()
    invalidation = await plane.invalidate(dist, "/a")
    await a.poll_once(0)
    b_link.cut = True
    plane.clock.advance(0.5)
    await a.renew()
    plane.clock.advance(0.8)
    rows = {lease.name: (lease.cursor, live) for lease, live, _ in plane.coordinator.edges()}
    assert rows == {"a": (invalidation.pos, True), "b": (invalidation.pos - 1, False)}


def edge_table(edge: object) -> dict[str, object]:
    """The distributions an edge agent's table holds."""
    table = edge._table  # type: ignore[attr-defined]
    return dict(table.configs)


async def test_adopts_invalidations_another_process_committed(plane: Plane) -> None:
    """An invalidation committed through another process's control plane on the same store
    (the CLI in-process) reaches the edges and completes here."""
    dist = await plane.create_distribution()
    edge, _ = plane.edge("edge")
    await edge.join()
    other = Coordinator(plane.store, plane.clock, plane.ids)
    writer = InvalidationService(plane.store, other, plane.clock, plane.ids, LIMITS)
    foreign, _ = await writer.create_invalidation(dist, "cli", 1, ("/a",))
    await plane.coordinator.sync_with_store()
    assert plane.coordinator.head == foreign.pos
    assert await plane.coordinator.complete_ready() == []
    await edge.poll_once(0)
    assert await plane.coordinator.complete_ready() == [foreign.id]
    assert await plane.status(foreign) is COMPLETED


async def test_edges_sharing_a_name_hold_their_own_leases(plane: Plane) -> None:
    """Two processes registered under one name are two sessions: one's ack does not complete
    an invalidation the other still owes."""
    dist = await plane.create_distribution()
    first, _ = plane.edge("twin")
    second, _ = plane.edge("twin")
    await first.join()
    await second.join()
    assert first.edge_id != second.edge_id
    invalidation = await plane.invalidate(dist, "/a")
    await first.poll_once(0)
    assert await plane.coordinator.complete_ready() == []
    assert await plane.status(invalidation) is IN_FLIGHT
    await second.poll_once(0)
    assert await plane.coordinator.complete_ready() == [invalidation.id]


async def test_a_silent_twin_is_waited_for_until_its_own_lease_expires(plane: Plane) -> None:
    """The heartbeats of one process do not keep the lease of another of the same name: the
    silent one is waited for exactly one lease plus margin."""
    dist = await plane.create_distribution()
    talker, _ = plane.edge("twin")
    silent, silent_link = plane.edge("twin")
    await talker.join()
    await silent.join()
    silent_link.cut = True
    invalidation = await plane.invalidate(dist, "/a")
    await talker.poll_once(0)
    plane.clock.advance(1.1)
    assert await talker.renew()
    assert await plane.coordinator.complete_ready() == []
    plane.clock.advance(0.15)
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    rows = {lease.edge_id: live for lease, live, _ in plane.coordinator.edges()}
    assert rows == {talker.edge_id: True, silent.edge_id: False}


async def test_clean_stop_of_one_twin_leaves_the_other_registered(plane: Plane) -> None:
    """Deregistering one session removes only it: the other process of the same name is
    still waited for, in memory and in the store (so also after a restart)."""
    dist = await plane.create_distribution()
    leaving, _ = plane.edge("twin")
    staying, _ = plane.edge("twin")
    await leaving.join()
    await staying.join()
    await leaving.stop()
    assert [lease.edge_id for lease, _, _ in plane.coordinator.edges()] == [staying.edge_id]
    assert [edge.id for edge in await plane.store.list_edges()] == [staying.edge_id]
    invalidation = await plane.invalidate(dist, "/a")
    assert await plane.coordinator.complete_ready() == []
    await plane.restart()
    assert await plane.coordinator.complete_ready() == []
    await staying.poll_once(0)
    assert await staying.renew()
    assert await plane.coordinator.complete_ready() == [invalidation.id]


async def test_heartbeat_answer_says_when_the_lease_had_lapsed(plane: Plane) -> None:
    """A heartbeat arriving before expiry keeps the epoch and reads not lapsed; one arriving
    after the coordinator gave up reads lapsed, with a new epoch from then on."""
    edge, _ = plane.edge("edge")
    await edge.join()
    coordinator = plane.coordinator
    granted = await coordinator.heartbeat(edge.edge_id, 0)
    plane.clock.advance(1.15)
    in_time = await coordinator.heartbeat(edge.edge_id, 0)
    assert (in_time.lapsed, in_time.epoch) == (False, granted.epoch)
    plane.clock.advance(1.2)
    late = await coordinator.heartbeat(edge.edge_id, 0)
    assert late.lapsed and late.epoch != granted.epoch
    after = await coordinator.heartbeat(edge.edge_id, 0)
    assert (after.lapsed, after.epoch) == (False, late.epoch)


async def test_a_restarted_coordinator_reports_every_session_lapsed_once(plane: Plane) -> None:
    """A new process cannot know what its predecessor completed without an edge: the first
    heartbeat of every loaded session reads lapsed under a new epoch."""
    edge, _ = plane.edge("edge")
    await edge.join()
    before = await plane.coordinator.heartbeat(edge.edge_id, 0)
    await plane.restart()
    first = await plane.coordinator.heartbeat(edge.edge_id, 0)
    assert first.lapsed and first.epoch != before.epoch
    again = await plane.coordinator.heartbeat(edge.edge_id, 0)
    assert (again.lapsed, again.epoch) == (False, first.epoch)


async def test_expired_sessions_are_forgotten_once_long_gone(plane: Plane) -> None:
    """A crashed edge's session stays listed (expired) for `forget_after`, then it is deleted
    from memory and the store; a live one is never forgotten."""
    live, _ = plane.edge("live")
    crashed, crashed_link = plane.edge("crashed")
    await live.join()
    await crashed.join()
    crashed_link.cut = True
    for _ in range(60):
        plane.clock.advance(1.0)
        assert await live.renew()
        assert await plane.coordinator.housekeeping() == []
    plane.clock.advance(1.3)
    assert await live.renew()
    assert await plane.coordinator.housekeeping() == [crashed.edge_id]
    assert [lease.edge_id for lease, _, _ in plane.coordinator.edges()] == [live.edge_id]
    assert [edge.id for edge in await plane.store.list_edges()] == [live.edge_id]
    assert plane.coordinator.metrics.sessions_forgotten == 1


async def test_a_forgotten_edge_that_returns_registers_anew_and_catches_up(plane: Plane) -> None:
    """An edge cut off so long that its session was forgotten gets NoSuchEdge, registers a new
    session and serves from cache only once caught up."""
    dist = await plane.create_distribution()
    edge, link = plane.edge("edge")
    await edge.join()
    old_session = edge.edge_id
    link.cut = True
    invalidation = await plane.invalidate(dist, "/a")
    plane.clock.advance(62.0)
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    assert await plane.coordinator.housekeeping() == [old_session]
    link.cut = False
    assert await edge.renew()
    assert edge.edge_id != old_session
    assert not edge.may_serve_from_cache()
    await edge.poll_once(0)
    assert edge.may_serve_from_cache()


async def test_sessions_long_unseen_at_restart_are_forgotten_after_one_lease(
    plane: Plane,
) -> None:
    """A stored session whose `seen_at` is older than `forget_after` is still assumed live for
    one lease after a restart (the wall clock never shortens the wait), then forgotten at once;
    a recently seen one is kept for `forget_after`."""
    dist = await plane.create_distribution()
    old, _ = plane.edge("old")
    recent, _ = plane.edge("recent")
    await old.join()
    await recent.join()
    await plane.store.touch_edges([old.edge_id], plane.clock.now() - timedelta(seconds=61))
    invalidation = await plane.invalidate(dist, "/a")
    await plane.restart()
    assert await plane.coordinator.complete_ready() == []
    assert await plane.coordinator.housekeeping() == []
    plane.clock.advance(1.25)
    assert await plane.coordinator.housekeeping() == [old.edge_id]
    assert await plane.coordinator.complete_ready() == [invalidation.id]
    assert [edge.id for edge in await plane.store.list_edges()] == [recent.edge_id]


async def test_housekeeping_notes_when_sessions_were_heard_from(plane: Plane) -> None:
    """A heartbeating session's stored `seen_at` is refreshed now and then (not per beat)."""
    edge, _ = plane.edge("edge")
    await edge.join()
    registered = (await plane.store.list_edges())[0].seen_at
    plane.clock.advance(0.5)
    assert await edge.renew()
    await plane.coordinator.housekeeping()
    assert (await plane.store.list_edges())[0].seen_at == registered
    for _ in range(16):
        plane.clock.advance(1.0)
        assert await edge.renew()
    await plane.coordinator.housekeeping()
    assert (await plane.store.list_edges())[0].seen_at == plane.clock.now()


async def test_metrics_count_creations_completions_and_their_duration(plane: Plane) -> None:
    """created/completed counters and the create→Completed histogram follow what happened."""
    dist = await plane.create_distribution()
    edge, _ = plane.edge("edge")
    await edge.join()
    first = await plane.invalidate(dist, "/a")
    await plane.invalidate(dist, "/b")
    metrics = plane.coordinator.metrics
    assert (metrics.created, metrics.completed) == (2, 0)
    plane.clock.advance(0.3)
    await edge.poll_once(0)
    assert len(await plane.coordinator.complete_ready()) == 2
    assert (metrics.created, metrics.completed) == (2, 2)
    histogram = metrics.completion_seconds
    assert histogram.count == 2 and abs(histogram.total - 0.6) < 1e-9
    assert dict(histogram.cumulative())["0.25"] == 0
    assert dict(histogram.cumulative())["0.5"] == 2
    assert first.id not in [inv.id for inv in await plane.store.in_progress_invalidations()]


async def test_stopping_answers_parked_polls_and_create_waits(plane: Plane) -> None:
    """At shutdown a parked long-poll returns (nothing new) and a create wait says not yet;
    later create waits answer at once, later polls wait as usual (no spinning edge)."""
    dist = await plane.create_distribution()
    edge, _ = plane.edge("edge")
    await edge.join()
    await edge.poll_once(0)
    invalidation = await plane.invalidate(dist, "/slow")
    head = plane.coordinator.head
    parked = asyncio.create_task(plane.coordinator.events(head, 30.0))
    waiting = asyncio.create_task(plane.coordinator.wait_completed(invalidation, 30.0))
    await asyncio.sleep(0.05)
    assert not parked.done() and not waiting.done()
    await plane.coordinator.stopping()
    assert await asyncio.wait_for(waiting, 1) is None
    assert (await asyncio.wait_for(parked, 1))[:2] == ([], head)
    assert await asyncio.wait_for(plane.coordinator.wait_completed(invalidation, 30.0), 1) is None
    later = asyncio.create_task(plane.coordinator.events(plane.coordinator.head, 0.2))
    await asyncio.sleep(0.05)
    assert not later.done()
    assert (await later)[:2] == ([], plane.coordinator.head)
