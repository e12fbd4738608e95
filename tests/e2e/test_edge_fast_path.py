"""The edge protocol's fast path for plain hits (`edge.fast_http`), against a real uvicorn with a
real origin: it answers exactly what the ASGI path answers, keeps pipelined responses in order,
and leaves everything that is not a plain hit to the full path."""

from __future__ import annotations

import asyncio

from tests.support.edge_harness import HOST, MAX60, Edge, running_edge
from tests.support.origin import Origin

HIT, MISS = "Hit from invalidator", "Miss from invalidator"


async def read_response(reader: asyncio.StreamReader, with_body: bool = True) -> bytes:
    """One response, head and (Content-Length framed) body; no body for a HEAD."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    if not with_body:
        return head
    length = int(split(head)[1].get(b"content-length", [b"0"])[0])
    return head + await asyncio.wait_for(reader.readexactly(length), 10)


async def raw_exchange(edge: Edge, request: bytes, answers: int = 1) -> list[bytes]:
    """Send raw bytes on one connection; read `answers` responses."""
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    try:
        writer.write(request)
        await writer.drain()
        sent = request.split(b"\r\n\r\n")
        return [
            await read_response(reader, not sent[n].startswith(b"HEAD")) for n in range(answers)
        ]
    finally:
        writer.close()


def request(path: str, method: str = "GET", version: str = "1.1", extra: str = "") -> bytes:
    return f"{method} {path} HTTP/{version}\r\nHost: {HOST}\r\n{extra}\r\n".encode()


def split(response: bytes) -> tuple[bytes, dict[bytes, list[bytes]], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers: dict[bytes, list[bytes]] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, headers, body


async def test_fast_hit_answers_what_the_asgi_path_answers(edge: Edge) -> None:
    """A plain HTTP/1.1 hit (fast path) and an HTTP/1.0 hit (ASGI path) carry the same status,
    headers (one Date, the origin's) and body; only Age may differ."""
    edge.origin.set("/same", b"x" * 1500, headers=[*MAX60, ("ETag", '"v1"')])
    (first,) = await raw_exchange(edge, request("/same"))
    assert split(first)[1][b"x-cache"] == [MISS.encode()]
    (fast,) = await raw_exchange(edge, request("/same"))
    (full,) = await raw_exchange(edge, request("/same", version="1.0"))
    fast_status, fast_headers, fast_body = split(fast)
    full_status, full_headers, full_body = split(full)
    assert fast_status == full_status == b"HTTP/1.1 200 OK"
    assert fast_body == full_body == b"x" * 1500
    assert fast_headers[b"x-cache"] == [HIT.encode()]
    assert len(fast_headers[b"date"]) == 1
    fast_headers.pop(b"age"), full_headers.pop(b"age")
    full_headers.pop(b"connection", None)  # HTTP/1.0: uvicorn adds Connection: close
    assert fast_headers == full_headers
    assert edge.origin.count("/same") == 1


async def test_pipelined_requests_are_answered_in_order(edge: Edge) -> None:
    """A hit pipelined behind a miss waits its turn: responses come back in request order."""
    edge.origin.set("/hot", b"hot", headers=MAX60)
    edge.origin.set("/slow", b"slow", headers=MAX60, delay=0.3)
    await raw_exchange(edge, request("/hot"))
    answers = await raw_exchange(edge, request("/slow") + request("/hot") + request("/hot"), 3)
    bodies = [split(a)[2] for a in answers]
    assert bodies == [b"slow", b"hot", b"hot"]
    caches = [split(a)[1][b"x-cache"][0] for a in answers]
    assert caches == [MISS.encode(), HIT.encode(), HIT.encode()]


async def test_head_hit_has_the_length_but_no_body(edge: Edge) -> None:
    """HEAD on a hit: the GET's Content-Length, no body, and the next request still parses."""
    edge.origin.set("/h", b"12345", headers=MAX60)
    await raw_exchange(edge, request("/h"))
    head, after = await raw_exchange(edge, request("/h", "HEAD") + request("/h"), 2)
    status, headers, body = split(head)
    assert (status, headers[b"content-length"], body) == (b"HTTP/1.1 200 OK", [b"5"], b"")
    assert split(after)[2] == b"12345"


async def test_conditional_and_range_requests_take_the_full_path(edge: Edge) -> None:
    """A request asking a precondition or a range is not a plain hit: 304 and 206 as usual."""
    edge.origin.set("/c", b"0123456789", headers=[*MAX60, ("ETag", '"e"')])
    await raw_exchange(edge, request("/c"))
    (not_modified,) = await raw_exchange(edge, request("/c", extra='If-None-Match: "e"\r\n'))
    (ranged,) = await raw_exchange(edge, request("/c", extra="Range: bytes=2-4\r\n"))
    assert split(not_modified)[0] == b"HTTP/1.1 304 Not Modified"
    assert split(ranged)[0] == b"HTTP/1.1 206 Partial Content" and split(ranged)[2] == b"234"


async def test_no_fast_hit_without_the_lease_or_after_a_purge(edge: Edge) -> None:
    """The fast path applies the gate and the purge rules: a closed gate or a purge means the
    origin is asked."""
    edge.origin.set("/g", b"old", headers=MAX60)
    await raw_exchange(edge, request("/g"))
    (hit,) = await raw_exchange(edge, request("/g"))
    assert split(hit)[2] == b"old" and split(hit)[1][b"x-cache"] == [HIT.encode()]
    edge.origin.set("/g", b"new", headers=MAX60)
    edge.gate.open = False
    (closed,) = await raw_exchange(edge, request("/g"))
    assert split(closed)[2] == b"new" and split(closed)[1][b"x-cache"] == [MISS.encode()]
    edge.gate.open = True
    edge.origin.set("/g", b"newer", headers=MAX60)
    edge.purge("/g")
    (purged,) = await raw_exchange(edge, request("/g"))
    assert split(purged)[2] == b"newer"


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server closes the connection within `seconds` (EOF, nothing more sent)."""
    try:
        return await asyncio.wait_for(reader.read(1), seconds) == b""
    except TimeoutError:
        return False


async def _answer(reader: asyncio.StreamReader) -> bytes:
    """The body of the next response."""
    return split(await read_response(reader))[2]


async def test_idle_keep_alive_connections_close_and_busy_ones_do_not(origin: Origin) -> None:
    """The keep-alive timeout (one self-re-arming timer per connection) closes a connection idle
    for the whole timeout after a fast hit or an ASGI answer, and never one that keeps asking,
    nor one whose request is still being answered (also when that request came in the same
    read as a hit)."""
    origin.set("/k", b"k", headers=MAX60)
    origin.set("/slow", b"s", headers=MAX60, delay=2.0)
    async with running_edge(origin, keep_alive=1.0, read_timeout=10) as edge:
        await raw_exchange(edge, request("/k"))
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
        try:
            for _ in range(8):  # 2 s of hits, never idle for 1 s
                writer.write(request("/k"))
                assert await _answer(reader) == b"k"
                await asyncio.sleep(0.25)
            writer.write(request("/k") + request("/slow"))  # a hit, then a 2 s miss: busy
            assert await _answer(reader) == b"k"
            assert await _answer(reader) == b"s"
            assert not await _closed_within(reader, 0.4)
            assert await _closed_within(reader, 5.0)
        finally:
            writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
        try:
            writer.write(request("/k", extra='If-None-Match: "x"\r\n'))
            assert await _answer(reader) == b"k"  # the ASGI path
            assert await _closed_within(reader, 5.0)
        finally:
            writer.close()


async def test_an_upgrade_request_is_answered_as_a_plain_request(edge: Edge) -> None:
    """`Upgrade: h2c` (as `curl --http2` sends on plain http) is not a websocket: the request
    is answered as usual, and the connection is not torn down by the upgrade."""
    edge.origin.set("/u", b"up", headers=MAX60)
    await raw_exchange(edge, request("/u"))
    (answer,) = await raw_exchange(
        edge, request("/u", extra="Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n")
    )
    assert split(answer)[0] == b"HTTP/1.1 200 OK" and split(answer)[2] == b"up"


async def test_expect_100_continue_reaches_the_full_path(edge: Edge) -> None:
    """A request sent with `Expect: 100-continue` (not a plain hit) gets uvicorn's interim 100
    before its body is read, then the origin's answer."""
    edge.origin.set("/post", b"ok")
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    try:
        writer.write(
            f"POST /post HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 4\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(b"data")
        assert await _answer(reader) == b"ok"
    finally:
        writer.close()
    assert edge.origin.last("/post").body == b"data"
