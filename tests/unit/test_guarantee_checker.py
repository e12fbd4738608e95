"""The no-stale guarantee, checked over many seeded random interleavings.

Each run wires a real SqliteStore, Coordinator, InvalidationService and three edges (real
EdgeAgent + EdgeCache) reaching the control plane through FaultLinks that park every call,
so the scheduler decides when each heartbeat, poll and registration arrives and when its answer
comes back. Viewer requests drive the cache as the proxy does: served from cache when the gate
allows and the lookup hits, else fetched from a model origin, stamped with `agent.position()`
when the fetch starts and stored after a random delay. Other steps: invalidations, origin
changes, clock advances, link cuts and heals, lost calls, edge crashes and restarts, cache
sweeps, control-plane restarts and completion checks. Edges' names repeat (a name is a label:
each process holds its own session), each edge's lease clock runs at its own rate (within
what the coordinator's margin covers), and edges are suspended for a while (no step of theirs
runs, no answer reaches them) with their clock running on, as CLOCK_BOOTTIME does.

The invariant, checked after every step (and on every response served from cache): for every
invalidation that reads Completed, no edge serves from cache a copy whose fetch started before
that invalidation was created and that the invalidation covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from invalidator.domain.models import EdgeRecord, Invalidation, InvalidationStatus
from invalidator.edge.agent import EdgeAgent
from invalidator.edge.cache import EdgeCache
from invalidator.edge.freshness import Freshness
from invalidator.edge.link import LinkError
from invalidator.store.sqlite import SqliteStore
from tests.support.fault_link import FaultLink
from tests.support.plane import ManualClock, Plane, Table

RUNS = 500
STEPS = 80
EDGES = 3
NAMES = ("edge-a", "edge-b")  # three edges, two names: duplicates in every run
LEASE, MARGIN = 1.0, 0.2
# An edge's lease (counted from sending) must end before the coordinator's (from receipt,
# plus margin): safe for clock rates >= LEASE / (LEASE + MARGIN) = 0.83.
RATES = (0.9, 0.95, 1.0, 1.0, 1.05, 1.5)
PATHS = ("/a/1", "/a/2", "/b/1", "/b/2")
TAGS = {"/a/1": ("red",), "/a/2": ("blue",), "/b/1": ("red", "blue"), "/b/2": ()}
ITEMS = ("/a/1", "/a/2", "/b/1", "/b/2", "/a/*", "/b*", "/*", "#red", "#blue")
FRESH = Freshness(storable=True, ttl=10**6)
TAG_HEADER = "X-Cache-Tags"


class StaleServed(AssertionError):
    """The guarantee was broken."""


def covers(item: str, path: str) -> bool:
    """The model's own reading of an invalidation item (independent of PurgeRules)."""
    if item.startswith("#"):
        return item[1:] in TAGS[path]
    if item.endswith("*"):
        return path.startswith(item[:-1])
    return item == path


@dataclass
class Fetch:
    """One origin fetch as the proxy makes it."""

    number: int
    path: str
    born_pos: int
    started: int  # scheduler step
    version: int
    done: contextlib.ExitStack


class EdgeClock:
    """An edge host's lease clock: `rate` times the plane's; stands still while `stopped`."""

    def __init__(self, base: ManualClock, rate: float) -> None:
        self.base = base
        self.rate = rate
        self._anchor_base = self._anchor = base.t
        self.stopped = False

    def __call__(self) -> float:
        if self.stopped:
            return self._anchor
        return self._anchor + (self.base.t - self._anchor_base) * self.rate

    def stop(self) -> None:
        """Stand still (CLOCK_MONOTONIC while the host is suspended)."""
        self._anchor, self._anchor_base = self(), self.base.t
        self.stopped = True

    def resume(self) -> None:
        """Run again from where it stood."""
        self._anchor_base = self.base.t
        self.stopped = False


@dataclass
class Edge:
    """One edge slot: an agent and cache while the process lives."""

    name: str
    clock: EdgeClock
    suspended_until: int = 0  # scheduler step; while above the current one, nothing runs
    agent: EdgeAgent | None = None
    cache: EdgeCache | None = None
    table: Table | None = None
    link: FaultLink | None = None
    tasks: dict[str, list[asyncio.Task[Any]]] = field(default_factory=dict)
    fetches: list[Fetch] = field(default_factory=list)


@dataclass
class Created:
    """An invalidation, when it was created (scheduler step) and its items."""

    invalidation: Invalidation
    step: int
    completed: bool = False


AgentFactory = Callable[..., EdgeAgent]


class World:
    """One run: the plane, the edges, the model origin and the history."""

    def __init__(
        self,
        plane: Plane,
        rng: random.Random,
        agent_factory: AgentFactory,
        rates: tuple[float, ...] = RATES,
        suspend_stops_clock: bool = False,
    ) -> None:
        self.plane = plane
        self.rng = rng
        self.agent_factory = agent_factory
        self.suspend_stops_clock = suspend_stops_clock
        self.edges = [
            Edge(rng.choice(NAMES), EdgeClock(plane.clock, rng.choice(rates))) for _ in range(EDGES)
        ]
        self.versions = dict.fromkeys(PATHS, 1)
        self.fetches: dict[int, Fetch] = {}
        self.created: list[Created] = []
        self.step = 0
        self.history: list[str] = []
        self.dist = ""

    # -- plumbing --------------------------------------------------------------------------

    def _tasks(self) -> list[asyncio.Task[Any]]:
        return [t for e in self.edges for ts in e.tasks.values() for t in ts]

    async def settle(self) -> None:
        """Run every task until it is done or parked on a link."""
        for spin in range(100_000):
            parked = {c.task for e in self.edges if e.link for c in e.link.parked}
            if all(t.done() or t in parked for t in self._tasks()):
                break
            await asyncio.sleep(0 if spin < 50 else 0.0005)
        else:
            raise AssertionError("tasks did not settle")
        for edge in self.edges:
            for tasks in edge.tasks.values():
                for task in [t for t in tasks if t.done()]:
                    tasks.remove(task)
                    error = None if task.cancelled() else task.exception()
                    if error is not None and not isinstance(error, LinkError):
                        raise error

    def spawn(self, edge: Edge, kind: str, coro: Any) -> None:
        edge.tasks.setdefault(kind, []).append(asyncio.create_task(coro))

    def busy(self, edge: Edge, kind: str) -> int:
        return len(edge.tasks.get(kind, []))

    def serving(self, edge: Edge) -> bool:
        """The process lives and knows the distribution (else the proxy answers 404)."""
        return edge.table is not None and self.dist in edge.table.configs

    # -- the invariant ---------------------------------------------------------------------

    async def refresh_completed(self) -> None:
        for created in self.created:
            if not created.completed:
                status = await self.plane.status(created.invalidation)
                created.completed = status is InvalidationStatus.COMPLETED

    def verify(self, edge: Edge, path: str, body: bytes) -> None:
        fetch = self.fetches[int(body.decode().split(":")[0])]
        for created in self.created:
            if not created.completed or created.step <= fetch.started:
                continue
            if any(covers(item, path) for item in created.invalidation.paths):
                raise StaleServed(
                    f"{edge.name} served {path} from fetch #{fetch.number} (started at step "
                    f"{fetch.started}, born_pos {fetch.born_pos}) although "
                    f"{created.invalidation.paths} (pos {created.invalidation.pos}, created at "
                    f"step {created.step}) reads Completed\n" + "\n".join(self.history[-40:])
                )

    async def check(self) -> None:
        await self.refresh_completed()
        for edge in self.edges:
            if edge.agent is None or edge.cache is None or not edge.agent.may_serve_from_cache():
                continue
            for path in PATHS:
                hit = edge.cache.lookup(self.dist, path, "", {})
                if hit is not None:
                    self.verify(edge, path, hit.body)

    # -- steps -----------------------------------------------------------------------------

    async def start_edge(self, edge: Edge) -> None:
        edge.link = self.plane.link()
        edge.link.parking = True
        edge.cache = EdgeCache(1 << 20, 1 << 16, monotonic=self.plane.clock)
        edge.table = Table()
        edge.agent = self.agent_factory(
            edge.link, edge.cache, edge.table, edge.name, f"http://{edge.name}",
            monotonic=edge.clock,
        )  # fmt: skip
        self.spawn(edge, "join", edge.agent.join())

    def suspended(self, edge: Edge) -> bool:
        return edge.suspended_until > self.step

    def wake_up(self) -> None:
        """Resume edges whose suspension is over."""
        for edge in self.edges:
            if edge.clock.stopped and not self.suspended(edge):
                edge.clock.resume()

    async def crash(self, edge: Edge) -> None:
        edge.suspended_until = 0
        if edge.clock.stopped:
            edge.clock.resume()
        for task in self._tasks_of(edge):
            task.cancel()
        await asyncio.gather(*self._tasks_of(edge), return_exceptions=True)
        if edge.link is not None:
            edge.link.fail_all()
            self.plane.links.remove(edge.link)
        for fetch in edge.fetches:
            fetch.done.close()
        edge.agent = edge.cache = edge.table = edge.link = None
        edge.tasks, edge.fetches = {}, []

    def _tasks_of(self, edge: Edge) -> list[asyncio.Task[Any]]:
        return [t for ts in edge.tasks.values() for t in ts]

    def request(self, edge: Edge, path: str) -> str:
        assert edge.agent is not None and edge.cache is not None
        if edge.agent.may_serve_from_cache():
            hit = edge.cache.lookup(self.dist, path, "", {})
            if hit is not None:
                self.verify(edge, path, hit.body)
                return f"hit {hit.body.decode()}"
        number = len(self.fetches) + 1
        born = edge.agent.position()
        done = contextlib.ExitStack()
        done.enter_context(edge.cache.fetching(born))
        fetch = Fetch(number, path, born, self.step, self.versions[path], done)
        self.fetches[number] = fetch
        edge.fetches.append(fetch)
        return f"miss: fetch #{number} born {born}"

    def finish_fetch(self, edge: Edge) -> str:
        assert edge.cache is not None
        fetch = edge.fetches.pop(self.rng.randrange(len(edge.fetches)))
        headers = [(TAG_HEADER, ",".join(TAGS[fetch.path]))] if TAGS[fetch.path] else []
        stored = edge.cache.store(
            self.dist, fetch.path, "", {}, status=200, headers=headers,
            body=f"{fetch.number}:v{fetch.version}".encode(), freshness=FRESH,
            born_pos=fetch.born_pos, tags=frozenset(TAGS[fetch.path]),
        )  # fmt: skip
        fetch.done.close()
        return f"fetch #{fetch.number} {'stored' if stored else 'refused'}"

    async def one_step(self) -> str:
        """Take one applicable random step; what it did."""
        for _ in range(20):
            what = await self.try_step()
            if what:
                return what
        return "idle"

    async def try_step(self) -> str:
        rng = self.rng
        edge = rng.choice(self.edges)
        # A suspended edge's requests already on the wire may still arrive; no answer reaches it.
        parked = [(e, c) for e in self.edges if e.link for c in e.link.parked
                  if c.phase == "request" or not self.suspended(e)]  # fmt: skip
        choice = rng.choices(
            ["invalidate", "origin", "request", "fetched", "heartbeat", "poll", "deliver",
             "lose", "complete", "advance", "cut", "heal", "crash", "start", "plane", "sweep",
             "suspend"],
            [3, 1, 10, 6, 4, 2, 10, 1, 3, 3, 1, 1, 0.5, 1.5, 0.3, 1, 0.7],
        )[0]  # fmt: skip
        if choice == "invalidate":
            items = tuple(rng.sample(ITEMS, rng.choice((1, 1, 2))))
            invalidation = await self.plane.invalidate(self.dist, *items)
            self.created.append(Created(invalidation, self.step))
            return f"invalidate {items} at pos {invalidation.pos}"
        if choice == "origin":
            path = rng.choice(PATHS)
            self.versions[path] += 1
            return f"origin {path} -> v{self.versions[path]}"
        if choice == "plane":
            await self.plane.restart()
            return "control plane restarted"
        if choice == "complete":
            await self.plane.coordinator.sync_with_store()
            return f"complete_ready -> {await self.plane.coordinator.complete_ready()}"
        if choice == "advance":
            seconds = rng.choice((0.1, 0.3, 0.6, 1.3))
            self.plane.clock.advance(seconds)
            return f"clock +{seconds}"
        if choice in ("deliver", "lose") and parked:
            owner, call = rng.choice(parked)
            assert owner.link is not None
            if choice == "deliver":
                owner.link.release(call)
            else:
                owner.link.fail(call)
            return f"{choice} {owner.name} {call.operation} {call.phase}"
        if choice == "start" and edge.agent is None:
            await self.start_edge(edge)
            return f"start {edge.name}"
        if edge.agent is None or edge.link is None:
            return ""
        if choice == "crash":
            await self.crash(edge)
            return f"crash {edge.name}"
        if self.suspended(edge):
            return ""
        if choice == "suspend":
            edge.suspended_until = self.step + rng.choice((2, 5, 12))
            if self.suspend_stops_clock:
                edge.clock.stop()
            return f"suspend {edge.name} until step {edge.suspended_until}"
        if choice == "start" and not self.serving(edge) and not self.busy(edge, "join"):
            self.spawn(edge, "join", edge.agent.join())
            return f"join again {edge.name}"
        if choice in ("cut", "heal"):
            edge.link.cut = choice == "cut"
            return f"{choice} {edge.name}"
        if choice == "sweep" and edge.cache is not None:
            edge.cache.sweep()
            return f"sweep {edge.name}"
        if not self.serving(edge):
            return ""
        if choice == "request":
            path = rng.choice(PATHS)
            return f"request {edge.name} {path}: {self.request(edge, path)}"
        if choice == "fetched" and edge.fetches:
            return f"{edge.name} {self.finish_fetch(edge)}"
        if choice == "heartbeat" and self.busy(edge, "renew") < 2:
            self.spawn(edge, "renew", edge.agent.renew())
            return f"heartbeat {edge.name} (cursor {edge.agent.position()})"
        if choice == "poll" and not self.busy(edge, "poll"):
            self.spawn(edge, "poll", edge.agent.poll_once(0))
            return f"poll {edge.name} (cursor {edge.agent.position()})"
        return ""

    async def run(self, steps: int) -> None:
        self.dist = await self.plane.create_distribution(tag_header=TAG_HEADER)
        for edge in self.edges:
            await self.start_edge(edge)
        for self.step in range(1, steps + 1):
            self.wake_up()
            what = await self.one_step()
            await self.settle()
            await self.check()
            gates = "".join(
                "-" if e.agent is None
                else "z" if self.suspended(e)
                else "S" if e.agent.may_serve_from_cache()
                else "x"
                for e in self.edges
            )  # fmt: skip
            self.history.append(f"{self.step:3d} t={self.plane.clock():.1f} [{gates}] {what}")

    async def close(self) -> None:
        """Crash every edge (cancelling their calls)."""
        for edge in self.edges:
            await self.crash(edge)


async def run_checker(
    tmp_path: Path,
    runs: int,
    agent_factory: AgentFactory = EdgeAgent,
    first_seed: int = 0,
    rates: tuple[float, ...] = RATES,
    suspend_stops_clock: bool = False,
    store_type: type[SqliteStore] = SqliteStore,
) -> int:
    """Run `runs` seeded interleavings; the number of completed invalidations checked."""
    completed = 0
    for seed in range(first_seed, first_seed + runs):
        plane = Plane(store_type(tmp_path / f"run-{seed}.sqlite"), ManualClock(),
                      lease_seconds=LEASE, margin_seconds=MARGIN)  # fmt: skip
        await plane.coordinator.load()
        world = World(plane, random.Random(seed), agent_factory, rates, suspend_stops_clock)
        try:
            await world.run(STEPS)
        except StaleServed as exc:
            raise StaleServed(f"seed {seed}: {exc}") from None
        finally:
            await world.close()
            await plane.coordinator.stop()
            await plane.store.close()
        completed += sum(c.completed for c in world.created)
    return completed


async def test_no_stale_copy_after_completed(tmp_path: Path) -> None:
    """Over 500 random interleavings no edge serves a purged copy once Completed is read."""
    completed = await run_checker(tmp_path, RUNS)
    assert completed > RUNS  # the runs did reach Completed, many times


class LeaseOnlyAgent(EdgeAgent):
    """A broken gate: serves from cache with a lease, without catching up after a lapse."""

    def may_serve_from_cache(self) -> bool:
        return self._monotonic() < self._lease_until


async def test_checker_catches_a_gate_that_skips_catching_up(tmp_path: Path) -> None:
    """The checker is not vacuous: with the catch-up rule removed it finds a stale copy."""
    with pytest.raises(StaleServed):
        await run_checker(tmp_path, RUNS, LeaseOnlyAgent)


async def test_checker_catches_a_clock_that_stops_while_suspended(tmp_path: Path) -> None:
    """Why leases use CLOCK_BOOTTIME: an edge clock standing still through a suspension
    (CLOCK_MONOTONIC) lets a resumed edge serve a purged copy before its next heartbeat."""
    with pytest.raises(StaleServed):
        await run_checker(tmp_path, RUNS, suspend_stops_clock=True)


async def test_checker_catches_a_clock_slower_than_the_margin_covers(tmp_path: Path) -> None:
    """The margin bounds the clock-rate difference it tolerates: an edge clock at half speed
    outlives its lease on the control plane and serves a purged copy."""
    with pytest.raises(StaleServed):
        await run_checker(tmp_path, RUNS, rates=(0.5,))


class NameKeyedStore(SqliteStore):
    """The old registry: a registration under a known name gets that name's session back."""

    async def register_edge(self, edge: EdgeRecord) -> EdgeRecord:
        for known in await self.list_edges():
            if known.name == edge.name:
                return known
        return await super().register_edge(edge)


async def test_checker_catches_edges_sharing_a_session_by_name(tmp_path: Path) -> None:
    """Duplicate names are not vacuous in the checker: when two processes of one name share
    one session, one's acknowledgement completes what the other has not purged."""
    with pytest.raises(StaleServed):
        await run_checker(tmp_path, RUNS, store_type=NameKeyedStore)
