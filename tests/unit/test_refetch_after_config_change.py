"""A request routed under one config and fetched later (a follower whose leader's copy could
not serve it) is stamped with the position it was routed at: a config change applied while it
waited (its purge of the distribution at that position) covers what it stores, tagged from the
old header, so an invalidation of the new header's tag leaves no old copy. (Stamped when it
fetched, its copy survived the purge and then the tag invalidation.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx

from invalidator.edge.cache import EdgeCache
from invalidator.edge.proxy import EdgeProxy
from tests.support.edge_harness import HOST, Clock, Gate, distribution


class Body(httpx.AsyncByteStream):
    """A body the origin sends in one piece."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data

    async def aclose(self) -> None:
        pass


class FakeOrigin:
    """What `distribution()` needs of an origin: its URL (the transport answers)."""

    url = "http://origin.test"


async def call(proxy: EdgeProxy, path: str = "/a") -> tuple[int, str | None, bytes]:
    """One GET through the proxy's ASGI entry: status, X-Cache, body."""
    sent: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not done.is_set():
            done.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", HOST.encode())],
        "http_version": "1.1",
        "client": ("127.0.0.1", 1),
        "scheme": "http",
    }
    await proxy(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers.get("x-cache"), body


async def test_a_follower_fetching_after_a_config_change_stores_no_copy_that_escapes() -> None:
    first = asyncio.Event()
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        n = calls
        if n == 1:
            await first.wait()
        return httpx.Response(
            200,
            headers={
                "cache-control": "max-age=600",
                "x-old": "oldtag",
                "x-new": "newtag",
                "content-length": "2",
            },
            stream=Body(f"v{n}".encode()),
        )

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    clock = Clock()
    cache = EdgeCache(max_bytes=1 << 24, max_object_bytes=1 << 20, monotonic=clock)
    gate = Gate()
    proxy = EdgeProxy(cache, gate, client=client, wall_clock=lambda: 1_700_000_000.0)
    v1 = distribution(FakeOrigin(), tag_header="X-Old")
    proxy.set_distributions([v1])

    leader = asyncio.create_task(call(proxy))
    for _ in range(20):
        await asyncio.sleep(0)
    follower = asyncio.create_task(call(proxy))
    for _ in range(20):
        await asyncio.sleep(0)
    # the agent applies a DISTRIBUTION event at pos 1 that changes the tag header
    v2 = replace(v1, tag_header="X-New")
    assert proxy.upsert_distribution(v2)
    cache.purge("E1", ("/*",), 1)
    gate.pos = 1
    first.set()
    assert (await leader)[2] == b"v1"
    assert (await follower)[2] == b"v2"  # it fetched on its own, under the old config
    # an invalidation of the new header's tag, at pos 2
    cache.purge("E1", ("#newtag",), 2)
    gate.pos = 2
    status, xcache, body = await call(proxy)
    assert (status, xcache, body) == (200, "Miss from invalidator", b"v3")
    await client.aclose()
