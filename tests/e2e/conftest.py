"""Fixtures of the edge tests: a real origin, and an edge in front of it (real uvicorn with the
edge's own protocol, in the test's loop); a control plane whose only edge is frozen."""

from __future__ import annotations

import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from tests.support.edge_harness import Edge, running_edge
from tests.support.edge_process import EdgeProcess, Stalled
from tests.support.origin import Origin
from tests.support.server import ServerProcess
from tests.support.signing import SignedClient


@pytest.fixture
def origin() -> Iterator[Origin]:
    """A real origin server whose objects the test sets."""
    with Origin() as served:
        yield served


@pytest.fixture
async def edge(origin: Origin) -> AsyncIterator[Edge]:
    """An edge serving one distribution in front of `origin`."""
    async with running_edge(origin) as running:
        yield running


@pytest.fixture
def stalled(start_server: Callable[..., ServerProcess]) -> Iterator[Stalled]:
    """Server (no built-in edge, 60 s leases, limits 4 files / 2 wildcards) + a frozen edge."""
    limits = ["--max-in-progress-files", "4", "--max-in-progress-wildcards", "2"]
    srv = start_server(args=["--edge-port", "-1", "--lease-seconds", "60", *limits])
    edge = EdgeProcess(srv.url).spawn().wait_ready()
    api = SignedClient(srv.url)
    try:
        deadline = time.monotonic() + 15
        while True:
            edges = api.send("GET", "/_invalidator/edges").json()["edges"]
            if edges and edges[0]["lease"] == "live" and edges[0]["heartbeats"] >= 1:
                break
            assert time.monotonic() < deadline, edges
            time.sleep(0.1)
        assert edge.proc is not None
        edge.proc.send_signal(signal.SIGSTOP)
        yield Stalled(srv, edge, api)
    finally:
        if edge.proc is not None and edge.proc.poll() is None:
            edge.proc.send_signal(signal.SIGCONT)
        edge.kill()
        api.close()
