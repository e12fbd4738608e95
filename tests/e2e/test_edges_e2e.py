"""Edges end to end: `invalidator serve --edge-port 0` plus two standalone `invalidator edge`
processes in front of a real origin whose content changes; invalidations created with boto3.

After an invalidation reads Completed, no edge serves the copy it covers, also when an edge
was killed, cut off from the control plane, raced by a slow origin response, or when the
control plane itself restarted mid-propagation.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.edge_process import EdgeProcess
from tests.support.origin import Origin
from tests.support.server import ServerProcess, server_env
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

LEASE = ["--lease-seconds", "1", "--heartbeat-seconds", "0.2"]
EDGE = ["--heartbeat-seconds", "0.2"]
CACHEABLE = [("Cache-Control", "max-age=3600")]
TAG_HEADER = "X-Cache-Tags"
HIT, MISS = "Hit from invalidator", "Miss from invalidator"


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


@dataclass
class Fleet:
    """A control plane with its built-in edge, standalone edges, an origin, a distribution."""

    server: ServerProcess
    edges: list[EdgeProcess]
    origin: Origin
    host: str
    dist_id: str
    client: Any

    def edge_urls(self) -> list[str]:
        return [self.server.edge_url, *(e.url for e in self.edges)]

    def get(self, edge_url: str, path: str) -> httpx.Response:
        return httpx.get(edge_url + path, headers={"host": self.host}, timeout=10)

    def body(self, edge_url: str, path: str) -> tuple[bytes, str]:
        response = self.get(edge_url, path)
        assert response.status_code == 200, response.text
        return response.content, response.headers["x-cache"]

    def wait_serving(self, edge_url: str) -> None:
        """Until the edge knows the distribution."""
        not_serving = ("No distribution", "This edge has not reached")  # unknown; not loaded
        wait_until(lambda: not self.get(edge_url, "/").text.startswith(not_serving),
                   what=f"{edge_url} config")  # fmt: skip

    def cache_everywhere(self, path: str, expected: bytes) -> None:
        for url in self.edge_urls():
            self.get(url, path)
            self.wait_hit(url, path, expected)

    def wait_hit(self, url: str, path: str, expected: bytes) -> None:
        wait_until(lambda: self.body(url, path) == (expected, HIT), what=f"{url}{path} cached")

    def invalidate(self, *paths: str) -> str:
        answer = self.client.create_invalidation(
            DistributionId=self.dist_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(paths), "Items": list(paths)},
                "CallerReference": str(uuid.uuid4()),
            },
        )
        return str(answer["Invalidation"]["Id"])

    def status(self, invalidation_id: str) -> str:
        answer = self.client.get_invalidation(DistributionId=self.dist_id, Id=invalidation_id)
        return str(answer["Invalidation"]["Status"])

    def wait_completed(self, invalidation_id: str, timeout: float = 15.0) -> None:
        wait_until(lambda: self.status(invalidation_id) == "Completed", timeout,
                   f"{invalidation_id} Completed")  # fmt: skip


def fleet_of(server: ServerProcess, edges: list[EdgeProcess], origin: Origin) -> Fleet:
    """Wait for the spawned `edges`, create a distribution of `origin`, wait until every edge
    (the built-in one too) serves it."""
    for edge in edges:
        edge.wait_ready()
    dist = server.create_distribution(origin_url=origin.url, tag_header=TAG_HEADER)
    made = Fleet(server, edges, origin, dist.domain_name, dist.id, server.client())
    for url in made.edge_urls():
        made.wait_serving(url)
    return made


@pytest.fixture
def origin() -> Iterator[Origin]:
    with Origin() as running:
        yield running


@pytest.fixture
def fleet(
    start_server: Callable[..., ServerProcess], origin: Origin, tmp_path: Path
) -> Iterator[Callable[..., Fleet]]:
    """Build a fleet: serve (+ built-in edge) and `standalone` edges (optionally behind
    proxies: pass control-plane URLs)."""
    spawned: list[EdgeProcess] = []

    def build(
        control_planes: list[str] | None = None, standalone: int = 2, args: list[str] | None = None
    ) -> Fleet:
        server = start_server(args=[*LEASE, *(args or [])])
        planes = control_planes or [server.url] * standalone
        edges = [EdgeProcess(url, extra_args=EDGE).spawn() for url in planes]
        spawned.extend(edges)
        return fleet_of(server, edges, origin)

    yield build
    for edge in spawned:
        edge.kill()


def test_invalidations_reach_every_edge(fleet: Callable[..., Fleet], origin: Origin) -> None:
    """Exact, wildcard and tag invalidations: edges keep the old copy after the origin changed,
    the invalidation reaches Completed, and from then on every edge serves the new copy."""
    cases = [("/exact.txt", "/exact.txt", []), ("/img/logo.png", "/img/*", []),
             ("/tagged.html", "#product-7", [(TAG_HEADER, "product-7, home")])]  # fmt: skip
    for path, _, tags in cases:
        origin.set(path, b"v1 " + path.encode(), headers=[*CACHEABLE, *tags])
    running = fleet()
    assert len(set(running.edge_urls())) == 3
    for path, item, tags in cases:
        running.cache_everywhere(path, b"v1 " + path.encode())
        origin.set(path, b"v2 " + path.encode(), headers=[*CACHEABLE, *tags])
        for url in running.edge_urls():
            assert running.body(url, path) == (b"v1 " + path.encode(), HIT)
        invalidation = running.invalidate(item)
        running.wait_completed(invalidation)
        for url in running.edge_urls():
            assert running.body(url, path)[0] == b"v2 " + path.encode(), (url, item)


def test_an_edge_keeps_the_first_50_tags_of_a_response(
    fleet: Callable[..., Fleet], origin: Origin
) -> None:
    """As CloudFront: a tag listed after the first 50 is not stored, so invalidating it leaves
    the copy; the 50th still purges it."""
    listed = [(TAG_HEADER, ", ".join(f"t{i}" for i in range(60)))]
    origin.set("/many-tags.html", b"v1", headers=[*CACHEABLE, *listed])
    running = fleet(standalone=0)
    running.cache_everywhere("/many-tags.html", b"v1")
    origin.set("/many-tags.html", b"v2", headers=[*CACHEABLE, *listed])
    running.wait_completed(running.invalidate("#t50"))
    assert running.body(running.server.edge_url, "/many-tags.html") == (b"v1", HIT)
    running.wait_completed(running.invalidate("#t49"))
    assert running.body(running.server.edge_url, "/many-tags.html")[0] == b"v2"


def test_a_change_of_cache_keys_or_tag_header_leaves_no_copy_an_invalidation_misses(
    fleet: Callable[..., Fleet], origin: Origin
) -> None:
    """Copies cached under one keying are not matched by the invalidations of another. After
    an update that stops keying the query string and names another tag header, invalidating
    the URL a viewer now uses (`/q?x=1`, served the copy cached for `/q`), or a tag the origin
    lists under the new header, leaves no old copy on any edge: each edge purges the
    distribution's copies when its keys or tag header change."""
    origin.set("/q", b"v1 q", headers=CACHEABLE)
    origin.set("/t", b"v1 t", headers=[*CACHEABLE, ("X-Other-Tags", "red")])
    running = fleet(standalone=1)
    running.cache_everywhere("/q", b"v1 q")
    running.cache_everywhere("/t", b"v1 t")
    origin.set("/q", b"v2 q", headers=CACHEABLE)
    origin.set("/t", b"v2 t", headers=[*CACHEABLE, ("X-Other-Tags", "red")])
    cf = running.client
    got = cf.get_distribution_config(Id=running.dist_id)
    config = got["DistributionConfig"]
    config["DefaultCacheBehavior"]["ForwardedValues"]["QueryString"] = False
    config["CacheTagConfig"] = {"HeaderName": "X-Other-Tags"}
    cf.update_distribution(Id=running.dist_id, IfMatch=got["ETag"], DistributionConfig=config)
    cf.get_waiter("distribution_deployed").wait(
        Id=running.dist_id, WaiterConfig={"Delay": 1, "MaxAttempts": 15}
    )
    for path, item, fresh in (("/q?x=1", "/q?x=1", b"v2 q"), ("/t", "#red", b"v2 t")):
        running.wait_completed(running.invalidate(item))
        for url in running.edge_urls():
            assert running.body(url, path)[0] == fresh, (url, item)


def test_killed_edge_does_not_hold_completion_nor_serve_stale(
    fleet: Callable[..., Fleet], origin: Origin
) -> None:
    """An edge SIGKILLed during propagation: Completed once its lease ran out; restarted on the
    same address it serves the new copy."""
    origin.set("/page", b"v1", headers=CACHEABLE)
    running = fleet()
    running.cache_everywhere("/page", b"v1")
    origin.set("/page", b"v2", headers=CACHEABLE)
    victim = running.edges[1]
    victim.kill()
    killed_at = time.monotonic()
    invalidation = running.invalidate("/page")
    assert running.status(invalidation) == "InProgress"
    running.wait_completed(invalidation, timeout=10)
    assert time.monotonic() - killed_at >= 1.0  # waited for the dead edge's lease
    for url in running.edge_urls()[:2]:
        assert running.body(url, "/page")[0] == b"v2"
    victim.spawn().wait_ready()
    running.wait_serving(victim.url)
    for _ in range(5):
        assert running.body(victim.url, "/page")[0] == b"v2"


def test_cut_off_edge_serves_nothing_stale_and_catches_up(
    fleet: Callable[..., Fleet], start_server: Callable[..., ServerProcess], origin: Origin
) -> None:
    """An edge cut off from the control plane: the invalidation completes after its lease;
    meanwhile and after healing it never serves the old copy, and serves hits again once
    caught up."""
    origin.set("/cut", b"v1", headers=CACHEABLE)
    origin.set("/other", b"other", headers=CACHEABLE)
    holder: dict[str, TcpProxy] = {}

    def build() -> Fleet:
        # The proxy needs the control plane's port: start serve first, then the edges.
        server = start_server(args=LEASE)
        proxy = TcpProxy("127.0.0.1", int(server.url.rsplit(":", 1)[1])).__enter__()
        holder["proxy"] = proxy
        edges = [EdgeProcess(server.url, extra_args=EDGE).spawn(),
                 EdgeProcess(proxy.url, extra_args=EDGE).spawn()]  # fmt: skip
        return fleet_of(server, edges, origin)

    running = build()
    proxy = holder["proxy"]
    try:
        cut = running.edges[1]
        running.cache_everywhere("/cut", b"v1")
        running.cache_everywhere("/other", b"other")
        origin.set("/cut", b"v2", headers=CACHEABLE)
        proxy.sever()
        invalidation = running.invalidate("/cut")
        seen: list[tuple[bytes, str]] = []
        while running.status(invalidation) != "Completed":
            seen.append(running.body(cut.url, "/cut"))
            time.sleep(0.05)
        after = [running.body(cut.url, "/cut") for _ in range(5)]
        assert all(body == b"v2" for body, _ in after), after
        assert running.body(cut.url, "/other")[1] == MISS  # no lease: nothing from cache
        proxy.heal()
        wait_until(lambda: running.body(cut.url, "/other") == (b"other", HIT), what="caught up")
        for _ in range(5):
            assert running.body(cut.url, "/cut")[0] == b"v2"
        assert running.body(cut.url, "/cut") == (b"v2", HIT)
        assert seen  # it was observed while the invalidation was InProgress
    finally:
        running.edges[1].kill()
        running.edges[0].kill()
        proxy.__exit__()


def test_origin_response_racing_a_purge_is_not_kept(
    fleet: Callable[..., Fleet], origin: Origin
) -> None:
    """A fetch in flight when an invalidation is created delivers its (old) answer to its
    viewer, but after Completed no edge serves that answer from cache."""
    running = fleet(standalone=1)
    hold = threading.Event()
    slow = origin.set("/race", b"v1", headers=CACHEABLE, hold=hold)
    results: list[httpx.Response] = []
    fetchers = [
        threading.Thread(target=lambda url=url: results.append(running.get(url, "/race")))
        for url in running.edge_urls()
    ]
    for thread in fetchers:
        thread.start()
    wait_until(lambda: origin.count("/race") == len(fetchers), what="fetches in flight")
    origin.set("/race", b"v2", headers=CACHEABLE)
    invalidation = running.invalidate("/race")
    running.wait_completed(invalidation)
    slow.hold = None
    hold.set()
    for thread in fetchers:
        thread.join(10)
    assert [r.content for r in results] == [b"v1"] * len(fetchers)
    for url in running.edge_urls():
        for _ in range(3):
            assert running.body(url, "/race")[0] == b"v2"
        assert running.body(url, "/race") == (b"v2", HIT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_control_plane_restart_mid_propagation(
    start_server: Callable[..., ServerProcess], origin: Origin, tmp_path: Path
) -> None:
    """serve SIGKILLed while an invalidation is InProgress (an edge is cut off); restarted on
    the same data and port: the invalidation is still there and reaches Completed, and every
    edge serves the new copy. `invalidator edges list` shows leases and cursors."""
    origin.set("/restart", b"v1", headers=CACHEABLE)
    port = _free_port()
    data = tmp_path / "plane"
    args = ["--lease-seconds", "3", "--heartbeat-seconds", "0.2", "--port", str(port)]
    server = start_server(data_dir=data, args=args)
    edges: list[EdgeProcess] = []
    with TcpProxy("127.0.0.1", port) as proxy:
        try:
            edges = [EdgeProcess(server.url, extra_args=EDGE).spawn(),
                     EdgeProcess(proxy.url, extra_args=EDGE).spawn()]  # fmt: skip
            running = fleet_of(server, edges, origin)
            urls = [e.url for e in edges]
            running.cache_everywhere("/restart", b"v1")
            origin.set("/restart", b"v2", headers=CACHEABLE)
            proxy.sever()
            invalidation = running.invalidate("/restart")
            assert running.status(invalidation) == "InProgress"
            server.kill()
            proxy.heal()
            restarted = start_server(data_dir=data, args=args)
            assert restarted.url == server.url
            running.server, running.client = restarted, restarted.client()
            running.wait_completed(invalidation, timeout=15)
            listed = running.client.list_invalidations(DistributionId=running.dist_id)
            assert invalidation in [i["Id"] for i in listed["InvalidationList"]["Items"]]
            for url in [restarted.edge_url, *urls]:
                running.wait_serving(url)
                assert running.body(url, "/restart")[0] == b"v2"
            listing = edges_list(restarted.url)
            for edge in edges:
                row = next(line for line in listing.splitlines() if edge.url in line)
                assert " live " in row, listing
                assert row.split()[3].isdigit()  # the cursor column
            head = int(listing.splitlines()[0].rsplit(" ", 1)[1])
            assert head >= 1
        finally:
            for edge in edges:
                edge.kill()


def edges_list(endpoint: str) -> str:
    """`invalidator edges list` against `endpoint`."""
    done = subprocess.run(
        [sys.executable, "-m", "invalidator", "edges", "list", "--endpoint-url", endpoint],
        env=server_env(), capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return done.stdout


def test_edges_sharing_a_name_each_hold_their_own_lease(
    start_server: Callable[..., ServerProcess], origin: Origin
) -> None:
    """Two edge processes started with one --edge-name are two sessions: while one is frozen
    (SIGSTOP) an invalidation waits for its lease although the other acknowledged at once;
    the thawed one serves nothing stale; after a clean stop of one, the other still counts."""
    origin.set("/twin", b"v1", headers=CACHEABLE)
    server = start_server(args=LEASE)
    named = [*EDGE, "--edge-name", "twin"]
    edges = [EdgeProcess(server.url, extra_args=named).spawn() for _ in range(2)]
    try:
        running = fleet_of(server, edges, origin)
        awake, frozen = edges
        listing = edges_list(server.url)
        twins = [line for line in listing.splitlines() if line.startswith("twin ")]
        assert len(twins) == 2 and len({line.split()[5] for line in twins}) == 2, listing
        running.cache_everywhere("/twin", b"v1")
        origin.set("/twin", b"v2", headers=CACHEABLE)

        frozen.freeze()
        frozen_at = time.monotonic()
        invalidation = running.invalidate("/twin")
        wait_until(lambda: running.body(awake.url, "/twin")[0] == b"v2", what="awake purged")
        assert running.status(invalidation) == "InProgress"  # the frozen twin still owes it
        running.wait_completed(invalidation, timeout=10)
        assert time.monotonic() - frozen_at >= 1.0  # waited for the frozen twin's own lease
        frozen.thaw()
        for _ in range(5):
            assert running.body(frozen.url, "/twin")[0] == b"v2"

        assert awake.terminate() == 0  # a clean stop deregisters its own session only
        origin.set("/twin", b"v3", headers=CACHEABLE)
        running.wait_hit(frozen.url, "/twin", b"v2")
        frozen.freeze()
        frozen_at = time.monotonic()
        second = running.invalidate("/twin")
        time.sleep(0.5)
        assert running.status(second) == "InProgress"  # the remaining twin still counts
        running.wait_completed(second, timeout=10)
        assert time.monotonic() - frozen_at >= 1.0
        frozen.thaw()
        assert running.body(frozen.url, "/twin")[0] == b"v3"
    finally:
        for edge in edges:
            edge.kill()
