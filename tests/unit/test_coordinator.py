"""The coordinator completes an invalidation exactly when no edge holding a lease still owes
its acknowledgement (real SqliteStore, edges through LocalLink, a manual clock)."""

from __future__ import annotations

import asyncio

from invalidator.domain.distribution_service import DEPLOYED, IN_PROGRESS
from invalidator.domain.invalidations import InvalidationService
from invalidator.domain.models import InvalidationStatus
from invalidator.propagation.coordinator import Coordinator
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
    assert await plane.coordinator.wait_completed(invalidation.id, 0)


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
    assert not await plane.coordinator.wait_completed(slow.id, 0.05)
    waiting = asyncio.create_task(plane.coordinator.wait_completed(slow.id, 5.0))
    await edge.poll_once(0)
    assert await waiting
    assert await plane.status(slow) is COMPLETED


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
    events, head = await plane.coordinator.events(0, 0)
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
