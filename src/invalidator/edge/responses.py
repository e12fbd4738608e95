"""The responses the edge sends: from a stored copy, from a download, or its own errors.

Every response carries exactly one `Date` (the origin's, kept with a stored copy, else the
edge's own), `Via` with `1.1 invalidator` appended, `Age` and `X-Cache`. The edge answers
preconditions, ranges and 304s itself (see `conditional`); statuses without a body (204, 304)
carry no Content-Length.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Protocol

from invalidator.edge.cache import CachedResponse
from invalidator.edge.conditional import (
    UNSATISFIABLE,
    ByteRange,
    precondition_status,
    requested_range,
)

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

VIA = "1.1 invalidator"
HIT, MISS, ERROR = "Hit from invalidator", "Miss from invalidator", "Error from invalidator"
REFRESH_HIT = "RefreshHit from invalidator"
_VIA = VIA.encode()
_HIT = HIT.encode()
_NO_BODY = frozenset({204, 304})
_ASKS = frozenset({"if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
                   "range"})  # fmt: skip
_NOT_MODIFIED = frozenset({b"cache-control", b"content-location", b"date", b"etag", b"expires",
                           b"last-modified", b"vary"})  # fmt: skip
_DATES: dict[int, str] = {}


def http_date(now: float | None = None) -> str:
    """An IMF-fixdate for now (formatted once a second)."""
    second = int(time.time() if now is None else now)
    date = _DATES.get(second)
    if date is None:
        _DATES.clear()
        date = _DATES[second] = formatdate(second, usegmt=True)
    return date


def via_value(origin_via: bytes | None) -> bytes:
    """The Via sent to the viewer: the origin's, then ours."""
    return origin_via + b", " + _VIA if origin_via else _VIA


class Body(Protocol):
    """Where an answer's body comes from: bytes [start, end) as they become available."""

    def chunks(self, start: int, end: int | None) -> AsyncIterator[bytes]:
        """Yield the bytes of [start, end) (end None: to the end)."""
        ...


@dataclass(frozen=True, slots=True)
class BytesBody:
    """A body held in memory."""

    body: bytes

    async def chunks(self, start: int, end: int | None) -> AsyncIterator[bytes]:
        """The slice, at once."""
        yield self.body[start:end] if start or end is not None else self.body


@dataclass(frozen=True, slots=True)
class Head:
    """The object an answer is built from (headers encoded, lowercased, without
    Content-Length, Age, Via and X-Cache)."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    via: bytes | None
    etag: str | None
    last_modified: str | None
    length: int | None  # the body's length, when known
    age: int

    @staticmethod
    def of(cached: CachedResponse) -> Head:
        """The head of a stored copy."""
        return Head(cached.status, cached.headers, cached.via, cached.etag,
                    cached.last_modified, len(cached.body), cached.age)  # fmt: skip


def _edge(head: Head, x_cache: str) -> Headers:
    return [(b"age", str(head.age).encode()), (b"via", via_value(head.via)),
            (b"x-cache", x_cache.encode())]  # fmt: skip


def plain_request(request: Mapping[str, str]) -> bool:
    """True when the request asks for no precondition or range: a copy is answered as it is."""
    return _ASKS.isdisjoint(request)


def hit_headers(cached: CachedResponse, x_cache: str = HIT) -> list[tuple[bytes, bytes]]:
    """The headers of a hit: the stored ones, then Age, Via and X-Cache."""
    via = cached.via + b", " + _VIA if cached.via else _VIA
    x = _HIT if x_cache is HIT else x_cache.encode()
    return [*cached.wire, (b"age", str(cached.age).encode()), (b"via", via), (b"x-cache", x)]


async def send_cached(
    method: str, request: dict[str, str], cached: CachedResponse, send: Send, x_cache: str = HIT
) -> None:
    """Answer from a stored copy (the hot path: no precondition or range asked)."""
    if not plain_request(request):
        await respond(method, request, Head.of(cached), BytesBody(cached.body), send, x_cache)
        return
    headers = hit_headers(cached, x_cache)
    await send({"type": "http.response.start", "status": cached.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else cached.body})


async def respond(
    method: str,
    request: dict[str, str],
    head: Head,
    body: Body,
    send: Send,
    x_cache: str,
    *,
    gone: Callable[[], bool] = lambda: False,
) -> None:
    """Answer `method` with `head` and `body`: 412, 304, 206 or 416 when the request asks.

    Streaming stops when `gone()` says the viewer left.
    """
    status = head.status
    decided = precondition_status(request, status, head.etag, head.last_modified)
    if decided == 304:
        headers = [(n, v) for n, v in head.headers if n in _NOT_MODIFIED]
        await _send_empty(send, 304, [*headers, *_edge(head, x_cache)])
        return
    if decided == 412:
        date = (b"date", http_date().encode())
        await _send_empty(send, 412, [date, (b"content-length", b"0"), *_edge(head, x_cache)])
        return
    wanted: ByteRange | str | None = None
    if method == "GET" and status == 200:
        wanted = requested_range(request, head.length, head.etag, head.last_modified)
    if wanted == UNSATISFIABLE:
        await _send_empty(send, 416, [
            (b"date", http_date().encode()), (b"content-range", f"bytes */{head.length}".encode()),
            (b"content-length", b"0"), *_edge(head, x_cache),
        ])  # fmt: skip
        return
    headers = list(head.headers)
    start, end = 0, None
    if isinstance(wanted, ByteRange):
        status, start, end = 206, wanted.start, wanted.end + 1
        headers.append((b"content-range", wanted.content_range.encode()))
        headers.append((b"content-length", str(wanted.size).encode()))
    elif head.length is not None and status not in _NO_BODY:
        headers.append((b"content-length", str(head.length).encode()))
    headers.extend(_edge(head, x_cache))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if method != "HEAD" and status not in _NO_BODY:
        async for chunk in body.chunks(start, end):
            if gone():
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_empty(send: Send, status: int, headers: Iterable[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": b""})


def _plain_headers(body: bytes, x_cache: str | None) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store"),
            (b"date", http_date().encode()), (b"age", b"0"), (b"via", _VIA),
            (b"x-cache", (x_cache or ERROR).encode())]  # fmt: skip


async def send_plain(send: Send, status: int, text: str, x_cache: str | None = None) -> None:
    """An error the edge generates itself: text body, never stored, with its own Date, and
    `Age: 0`, `Via` and `X-Cache` (`Error from invalidator` unless told) like every answer."""
    body = text.encode()
    headers = _plain_headers(body, x_cache)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def plain_response(status: int, text: str) -> bytes:
    """`send_plain`'s answer as bytes on the wire, closing the connection (for what the
    protocol refuses before the app runs)."""
    body = text.encode()
    reason = HTTPStatus(status).phrase.encode()
    lines = [b"HTTP/1.1 %d %s" % (status, reason)]
    lines += [name + b": " + value for name, value in _plain_headers(body, None)]
    lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
