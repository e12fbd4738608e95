"""An EdgeProxy served by a real uvicorn (configured like `invalidator edge`) in the test's loop.

    async with running_edge(origin) as edge:
        edge.origin.set("/a", b"v1", headers=[("Cache-Control", "max-age=60")])
        response = await edge.get("/a")
        edge.purge("/a")  # recorded, then the gate's position moves, as the agent does

The gate is a switch and a log position; the cache's clock is a manual `Clock`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx

from invalidator.domain.serving import ServingConfig
from invalidator.edge.cache import EdgeCache
from invalidator.edge.fast_http import EdgeHttpProtocol
from invalidator.edge.proxy import EdgeProxy
from tests.support.origin import Origin
from tests.support.uvicorn_server import serve_in_loop

HOST = "d111111abcdef8.cloudfront.net"
MAX60 = [("Cache-Control", "max-age=60")]
# As `invalidator edge` runs uvicorn: the edge writes Date (and no Server) itself, and its
# protocol answers plain hits without the ASGI round trip.
EDGE_UVICORN = {"date_header": False, "server_header": False, "http": EdgeHttpProtocol}


class Gate:
    """The test's ServeGate: a log position and an open/closed switch."""

    def __init__(self) -> None:
        self.pos = 0
        self.open = True

    def position(self) -> int:
        return self.pos

    def may_serve_from_cache(self) -> bool:
        return self.open


class Clock:
    """A manual monotonic clock."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Edge:
    """A running edge and what drives it."""

    client: httpx.AsyncClient
    proxy: EdgeProxy
    cache: EdgeCache
    gate: Gate
    clock: Clock
    origin: Origin
    url: str

    async def get(self, path: str, host: str = HOST, **kw: Any) -> httpx.Response:
        return await self.client.get(path, headers={"host": host, **kw.pop("headers", {})}, **kw)

    def purge(self, *items: str, dist: str = "E1") -> None:
        self.cache.purge(dist, items, self.gate.pos + 1)  # recorded before the position moves
        self.gate.pos += 1

    def serve(self, dist: str, host: str, **fields: Any) -> None:
        self.proxy.upsert_distribution(distribution(self.origin, dist, host, **fields))

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


def distribution(
    origin: Origin, dist: str = "E1", host: str = HOST, **fields: Any
) -> ServingConfig:
    base = ServingConfig(
        distribution_id=dist, domain_name=host, aliases=("www.example.com",),
        origin_url=origin.url, origin_headers=(("X-Origin-Secret", "s3cret"),),
        min_ttl=0, default_ttl=86400, max_ttl=31536000, forward_query_strings=True,
        enabled=True, tag_header="Cache-Tag",
    )  # fmt: skip
    return replace(base, **fields)


@asynccontextmanager
async def running_edge(
    origin: Origin,
    *,
    max_bytes: int = 64 << 20,
    max_object_bytes: int = 1 << 20,
    read_timeout: float = 1.0,
    config: ServingConfig | None = None,
    keep_alive: float = 30,
) -> AsyncIterator[Edge]:
    """An edge serving `config` (by default `distribution(origin)`) in front of `origin`;
    idle keep-alive connections are closed after `keep_alive` seconds (as `invalidator edge`)."""
    clock = Clock()
    cache = EdgeCache(max_bytes=max_bytes, max_object_bytes=max_object_bytes, monotonic=clock)
    gate = Gate()
    proxy = EdgeProxy(cache, gate, connect_timeout=1.0, read_timeout=read_timeout)
    proxy.set_distributions([config or distribution(origin)])
    async with (
        serve_in_loop(proxy, timeout_keep_alive=keep_alive, **EDGE_UVICORN) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield Edge(client, proxy, cache, gate, clock, origin, url)
