"""How the edge fetches and answers, end to end: shared downloads, viewers that stall or leave,
Date, 204, preconditions, ranges, bad request targets and revalidation."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from email.utils import formatdate

import pytest

from tests.support.edge_harness import HOST, MAX60, Edge, running_edge
from tests.support.origin import Origin

HIT, MISS = "Hit from invalidator", "Miss from invalidator"
REFRESH_HIT = "RefreshHit from invalidator"


def stalled_viewer(port: int, path: str) -> socket.socket:
    """A viewer that sends a GET and never reads the answer (a tiny receive window)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAccept-Encoding: gzip\r\n\r\n"
    sock.sendall(request.encode())
    return sock


async def until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def test_a_stalled_leader_does_not_delay_a_follower(origin: Origin) -> None:
    """The first viewer stops reading; a second one for the same object gets it all at once
    from the same origin download, and the object is cached."""
    size = 16 << 20  # far more than the socket buffers can absorb
    origin.set("/big", headers=MAX60, stream_size=size)
    async with running_edge(origin, max_bytes=128 << 20, max_object_bytes=32 << 20) as edge:
        leader = stalled_viewer(edge.port, "/big")
        try:
            await until(lambda: origin.count("/big") == 1)
            follower = await asyncio.wait_for(
                edge.get("/big", headers={"accept-encoding": "gzip"}), 15
            )
            assert (follower.status_code, len(follower.content)) == (200, size)
            assert origin.count("/big") == 1
            await until(lambda: edge.cache.stats().entries == 1)
            assert (await edge.get("/big")).headers["x-cache"] == HIT
        finally:
            leader.close()


async def test_a_request_after_a_purge_never_joins_an_older_download(edge: Edge) -> None:
    """A download that started before a purge is not shared with a request made after it."""
    hold = threading.Event()
    edge.origin.set("/j", b"old", headers=MAX60, hold=hold)
    leader = asyncio.create_task(edge.get("/j"))
    await until(lambda: edge.origin.count("/j") == 1)
    edge.purge("/j")
    edge.origin.set("/j", b"new", headers=MAX60)
    follower = asyncio.create_task(edge.get("/j"))
    await asyncio.sleep(0.2)  # the follower is waiting on the leader's flight
    hold.set()
    assert (await leader).content == b"old"  # its request came before the purge
    assert (await follower).content == b"new"
    assert (await edge.get("/j")).content == b"new"


async def test_followers_of_a_hung_origin_wait_only_the_origin_timeout(edge: Edge) -> None:
    """When the origin never answers, the leader and its followers get a 504 within the origin
    timeouts instead of waiting forever."""
    edge.origin.set("/hung", headers=MAX60, hold=threading.Event())
    leader = asyncio.create_task(edge.get("/hung"))
    await until(lambda: edge.origin.count("/hung") == 1)
    followers = [asyncio.create_task(edge.get("/hung")) for _ in range(3)]
    answers = await asyncio.wait_for(asyncio.gather(leader, *followers), 15)
    assert {r.status_code for r in answers} == {504}


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/nostore", [("Cache-Control", "no-store")]), ("/oversize", MAX60)],
)
async def test_a_viewer_leaving_stops_a_download_nothing_keeps(
    edge: Edge, path: str, headers: list[tuple[str, str]]
) -> None:
    """A body that is not cached (not storable, or larger than an object may be) stops
    downloading from the origin as soon as its viewer leaves."""
    size = 64 << 20
    edge.origin.set(path, headers=headers, stream_size=size, chunk_delay=0.005)
    async with edge.client.stream("GET", path, headers={"host": HOST}) as response:
        async for _ in response.aiter_raw():
            break
    await until(
        lambda: bool(edge.origin.streamed(path)) and edge.origin.streamed(path)[0].left_early
    )
    assert edge.origin.streamed(path)[0].sent < size // 4


async def test_a_cacheable_body_completes_for_the_cache_when_its_viewer_leaves(
    edge: Edge,
) -> None:
    """A storable body within the object limit is still downloaded and cached."""
    size = 512 << 10
    edge.origin.set("/keep", headers=MAX60, stream_size=size, chunk_delay=0.02)
    async with edge.client.stream("GET", "/keep", headers={"host": HOST}) as response:
        async for _ in response.aiter_raw():
            break
    await until(lambda: edge.cache.stats().entries == 1)
    assert edge.origin.streamed("/keep")[0].sent == size
    again = await edge.get("/keep")
    assert (again.headers["x-cache"], len(again.content)) == (HIT, size)


@pytest.mark.parametrize(("size", "cached"), [(3 << 20, False), (300 << 10, True)])
async def test_bodies_of_unknown_length(edge: Edge, size: int, cached: bool) -> None:
    """Without Content-Length: within the object limit it is cached; beyond it the viewer
    still gets every byte, and it is not cached."""
    edge.origin.set("/chunked", headers=MAX60, stream_size=size, chunked=True)
    first = await edge.get("/chunked")
    assert (first.status_code, len(first.content)) == (200, size)
    assert "content-length" not in first.headers
    again = await edge.get("/chunked")
    assert len(again.content) == size
    assert again.headers["x-cache"] == (HIT if cached else MISS)
    if cached:
        assert again.headers["content-length"] == str(size)


async def test_exactly_one_date_on_every_response(edge: Edge) -> None:
    """Misses and hits carry the origin's Date; the edge's own answers carry its own."""
    edge.origin.set("/d", b"d", headers=MAX60)
    miss = await edge.get("/d")
    hit = await edge.get("/d")
    assert len(miss.headers.get_list("date")) == 1
    assert hit.headers.get_list("date") == miss.headers.get_list("date")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    edge.serve("E2", "down.example", origin_url=f"http://127.0.0.1:{closed}")
    edge.origin.set("/slow", headers=MAX60, delay=2.0)
    for response in (
        await edge.get("/x", host="unknown.example"),
        await edge.get("/x", host="down.example"),
        await edge.get("/slow"),
    ):
        assert response.status_code in (404, 502, 504)
        assert len(response.headers.get_list("date")) == 1


async def test_no_content_length_on_a_204(edge: Edge) -> None:
    """A 204, from the origin or from cache, carries no Content-Length."""
    edge.origin.set("/empty", status=204, headers=MAX60)
    for expected in (MISS, HIT):
        response = await edge.get("/empty")
        assert (response.status_code, response.headers["x-cache"]) == (204, expected)
        assert "content-length" not in response.headers


async def test_if_match_and_if_unmodified_since_are_evaluated(edge: Edge) -> None:
    """On a cached object, a failed If-Match or If-Unmodified-Since is a 412."""
    modified = time.time() - 3600
    edge.origin.set("/pre", b"body", headers=[
        *MAX60, ("ETag", '"v1"'), ("Last-Modified", formatdate(modified, usegmt=True)),
    ])  # fmt: skip
    await edge.get("/pre")
    cases = [
        ({"if-match": '"v1"'}, 200),
        ({"if-match": '"v2", "v1"'}, 200),
        ({"if-match": "*"}, 200),
        ({"if-match": 'W/"v1"'}, 412),
        ({"if-match": '"v2"'}, 412),
        ({"if-unmodified-since": formatdate(modified - 60, usegmt=True)}, 412),
        ({"if-unmodified-since": formatdate(modified + 60, usegmt=True)}, 200),
    ]
    for headers, status in cases:
        response = await edge.get("/pre", headers=headers)
        assert (response.status_code, response.headers["x-cache"]) == (status, HIT), headers
        assert response.content == (b"body" if status == 200 else b"")


async def test_ranges_from_a_cached_object(edge: Edge) -> None:
    """One range is a 206 with Content-Range; past the end a 416; several ranges the whole 200."""
    edge.origin.set("/r", b"0123456789", headers=[*MAX60, ("ETag", '"r1"')])
    await edge.get("/r")
    cases = [
        ("bytes=2-5", {}, 206, b"2345", "bytes 2-5/10"),
        ("bytes=-3", {}, 206, b"789", "bytes 7-9/10"),
        ("bytes=8-", {}, 206, b"89", "bytes 8-9/10"),
        ("bytes=5-100", {}, 206, b"56789", "bytes 5-9/10"),
        ("bytes=20-", {}, 416, b"", "bytes */10"),
        ("bytes=0-1,4-5", {}, 200, b"0123456789", None),
        ("bytes=2-5", {"if-range": '"other"'}, 200, b"0123456789", None),
        ("bytes=2-5", {"if-range": '"r1"'}, 206, b"2345", "bytes 2-5/10"),
    ]
    for value, extra, status, body, content_range in cases:
        response = await edge.get("/r", headers={"range": value, **extra})
        assert (response.status_code, response.content) == (status, body), value
        assert response.headers.get("content-range") == content_range
        assert response.headers["x-cache"] == HIT
    assert edge.origin.count("/r") == 1


async def test_a_range_on_a_miss_caches_the_whole_object(edge: Edge) -> None:
    """A ranged miss fetches the full object (no Range to the origin), answers the range and
    keeps the object for the next request."""
    edge.origin.set("/m", b"abcdefghij", headers=MAX60)
    part = await edge.get("/m", headers={"range": "bytes=3-4"})
    assert (part.status_code, part.content, part.headers["x-cache"]) == (206, b"de", MISS)
    assert "range" not in edge.origin.last("/m").headers
    whole = await edge.get("/m")
    assert (whole.status_code, whole.content, whole.headers["x-cache"]) == (200, b"abcdefghij", HIT)


@pytest.mark.parametrize("line", ["OPTIONS * HTTP/1.1", "GET * HTTP/1.1"])
async def test_a_request_target_that_is_not_a_path_is_a_400(edge: Edge, line: str) -> None:
    """`*` (or any target not starting with `/`) gets a 400, not a 500."""
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    writer.write(f"{line}\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.split()[1] == b"400"


async def test_an_expired_copy_is_revalidated_and_refreshed(edge: Edge) -> None:
    """An expired copy with an ETag is revalidated with If-None-Match; the origin's 304
    refreshes it (its new Cache-Control too) and the stored body is served."""
    edge.origin.set(
        "/v",
        b"stored",
        headers=[("Cache-Control", "max-age=10"), ("ETag", '"e1"')],
        revalidate=True,
        not_modified_headers=[("Cache-Control", "max-age=100"), ("ETag", '"e1"')],
    )
    await edge.get("/v")
    edge.clock.now += 11
    refreshed = await edge.get("/v")
    assert (refreshed.content, refreshed.headers["x-cache"]) == (b"stored", REFRESH_HIT)
    assert edge.origin.last("/v").headers["if-none-match"] == '"e1"'
    assert refreshed.headers["cache-control"] == "max-age=100"
    edge.clock.now += 50  # within the refreshed lifetime
    assert (await edge.get("/v")).headers["x-cache"] == HIT
    assert edge.origin.count("/v") == 2


async def test_a_purged_copy_is_never_revalidated(edge: Edge) -> None:
    """After a purge the edge asks for the full object, never a 304 for the purged copy."""
    validators = [("Cache-Control", "max-age=10"), ("ETag", '"same"')]
    edge.origin.set("/p", b"old", headers=validators, revalidate=True)
    await edge.get("/p")
    edge.clock.now += 11
    edge.purge("/p")
    edge.origin.set("/p", b"new", headers=validators, revalidate=True)
    response = await edge.get("/p")
    assert (response.content, response.headers["x-cache"]) == (b"new", MISS)
    assert "if-none-match" not in edge.origin.last("/p").headers


async def test_a_purge_during_revalidation_wins_over_the_304(edge: Edge) -> None:
    """A purge recorded while the conditional request is in flight: the 304 does not bring the
    copy back; the edge fetches the full object."""
    hold = threading.Event()
    validators = [("Cache-Control", "max-age=10"), ("ETag", '"same"')]
    edge.origin.set("/race", b"old", headers=validators, revalidate=True)
    await edge.get("/race")
    edge.clock.now += 11
    edge.origin.set("/race", b"old", headers=validators, revalidate=True, hold=hold)
    request = asyncio.create_task(edge.get("/race"))
    await until(lambda: edge.origin.count("/race") == 2)
    edge.purge("/race")
    edge.origin.set("/race", b"new", headers=validators, revalidate=True)
    hold.set()
    response = await request
    assert response.content == b"new"
    assert edge.origin.count("/race") == 3
    assert "if-none-match" not in edge.origin.last("/race").headers
    assert (await edge.get("/race")).content == b"new"


async def test_a_304_updates_the_tags(edge: Edge) -> None:
    """Tags named by the 304's tag header replace the stored ones."""
    edge.origin.set("/t", b"tagged", revalidate=True, headers=[
        ("Cache-Control", "max-age=10"), ("ETag", '"t"'), ("Cache-Tag", "old-tag"),
    ], not_modified_headers=[("Cache-Control", "max-age=10"), ("ETag", '"t"'),
                             ("Cache-Tag", "new-tag")])  # fmt: skip
    await edge.get("/t")
    edge.clock.now += 11
    assert (await edge.get("/t")).headers["x-cache"] == REFRESH_HIT
    edge.purge("#new-tag")
    assert (await edge.get("/t")).headers["x-cache"] == MISS


async def test_a_304_adding_a_purged_tag_is_a_miss_not_a_refresh(edge: Edge) -> None:
    """The origin tags the object `new-tag` after it was cached as `old-tag`; `#new-tag` is
    purged (the copy, still `old-tag`, is not matched, and the sweep re-stamps it); the 304
    that names `new-tag` does not bring the copy back: the object is fetched in full."""
    edge.origin.set("/t2", b"tagged", revalidate=True, headers=[
        ("Cache-Control", "max-age=10"), ("ETag", '"t"'), ("Cache-Tag", "old-tag"),
    ], not_modified_headers=[("Cache-Control", "max-age=10"), ("ETag", '"t"'),
                             ("Cache-Tag", "old-tag, new-tag")])  # fmt: skip
    await edge.get("/t2")
    edge.purge("#new-tag")
    edge.cache.sweep()  # the snapshot
    edge.cache.sweep()  # the walk: the copy passes (no new-tag yet) and is re-stamped
    edge.clock.now += 11
    again = await edge.get("/t2")
    assert again.headers["x-cache"] == MISS
    assert again.headers["x-cache"] != REFRESH_HIT
    assert edge.origin.count("/t2") == 3  # the fill, the conditional request, the full one
    assert "if-none-match" not in edge.origin.last("/t2").headers


async def test_a_copy_without_validators_is_refetched_in_full(edge: Edge) -> None:
    """An expired copy without ETag or Last-Modified is fetched again, unconditionally."""
    edge.origin.set("/nv", b"x", headers=[("Cache-Control", "max-age=10")])
    await edge.get("/nv")
    edge.clock.now += 11
    assert (await edge.get("/nv")).headers["x-cache"] == MISS
    seen = edge.origin.last("/nv").headers
    assert "if-none-match" not in seen and "if-modified-since" not in seen


async def test_conditional_request_on_a_miss_is_answered_by_the_edge(edge: Edge) -> None:
    """The origin is asked for the full object; the viewer's If-None-Match gets its 304."""
    edge.origin.set("/c", b"c", headers=[*MAX60, ("ETag", '"c"')])
    response = await edge.get("/c", headers={"if-none-match": '"c"'})
    assert (response.status_code, response.content) == (304, b"")
    assert "if-none-match" not in edge.origin.last("/c").headers
    assert "content-length" not in response.headers


async def test_other_methods_keep_their_method_and_send_no_empty_body(edge: Edge) -> None:
    """A DELETE without a body reaches the origin as a DELETE with no body framing; a GET that
    carries a body is fetched for the cache without it."""
    edge.origin.set("/res", b"done", headers=MAX60)
    deleted = await edge.client.request("DELETE", "/res", headers={"host": HOST})
    seen = edge.origin.last("/res")
    assert (deleted.status_code, seen.method) == (200, "DELETE")
    assert "transfer-encoding" not in seen.headers and "content-length" not in seen.headers
    got = await asyncio.wait_for(
        edge.client.request("GET", "/res", content=b"abc", headers={"host": HOST}), 10
    )
    assert got.content == b"done" and edge.origin.last("/res").body == b""


async def test_an_error_is_cached_for_the_error_caching_ttl_not_a_day(edge: Edge) -> None:
    """A 404 without caching headers stays 10 s, as on CloudFront (it was kept DefaultTTL, a
    day: a file published later stayed missing), and as long as a custom error response's
    ErrorCachingMinTTL says; a 503 marked no-store is still kept those 10 s."""
    edge.origin.set("/missing", b"nope", status=404)
    edge.origin.set("/down", b"later", status=503, headers=[("Cache-Control", "no-store")])
    for path in ("/missing", "/down"):
        await edge.get(path)
        assert (await edge.get(path)).headers["x-cache"] == "Hit from invalidator", path
    edge.clock.now += 11
    for path in ("/missing", "/down"):
        assert (await edge.get(path)).headers["x-cache"] == "Miss from invalidator", path
    edge.serve("E1", HOST, error_ttls=((404, 60),))
    edge.clock.now += 11  # the copy fetched above, under the 10 s default, is gone
    await edge.get("/missing")
    edge.clock.now += 30
    assert (await edge.get("/missing")).headers["x-cache"] == "Hit from invalidator"
