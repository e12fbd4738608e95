"""HTTP plumbing over raw ASGI: the request we hand to operations and the response they return.

Reading the body is where hostile clients live: the size limit is enforced from
Content-Length before anything is read and again while streaming, and the whole body must
arrive within a deadline, so a slow or endless body costs one timer, not a worker.

Every response carries a `Date` of the moment it is sent (uvicorn's own is off: it is cached
per second and taken when the request headers arrived, so a response sent after a slow body
carried a Date seconds old; the JS SDK corrects its clock from it).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from invalidator.domain.errors import BatchTooLarge, InvalidArgument, RequestTimeout

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected before its request was complete."""


@dataclass
class Request:
    """One API request after the body is read."""

    method: str
    raw_path: str
    query_string: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    request_id: str
    received_at: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> str | None:
        """A header value (lowercase name); repeated headers joined with ','."""
        values = [v for k, v in self.headers if k == name]
        return ",".join(values) if values else None

    def query(self) -> dict[str, str]:
        """Query parameters (last one wins)."""
        return dict(parse_qsl(self.query_string, keep_blank_values=True))


@dataclass
class Response:
    """What an operation answers."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "text/xml"


def decode_headers(scope: Scope) -> tuple[tuple[str, str], ...]:
    """ASGI headers as (lowercase name, value) text; latin-1 as HTTP/1.1 defines."""
    return tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"])


# RFC 3986 host (a name, IPv4, or an IP literal in brackets) and an optional port
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::[0-9]{1,5})?")


def check_host(headers: tuple[tuple[str, str], ...], http_version: str) -> None:
    """InvalidArgument unless there is one `Host` holding host[:port] (RFC 9112 §3.2: a
    request with none, under HTTP/1.1, or with several is answered 400). The API builds the
    `Location` of what it creates from it, which must be a URL a client can follow."""
    hosts = [value for name, value in headers if name == "host"]
    if not hosts and http_version == "1.0":
        return
    if len(hosts) != 1 or len(hosts[0]) > 300 or not _HOST.fullmatch(hosts[0].strip()):
        raise InvalidArgument("The request must carry exactly one Host header holding host[:port].")


async def read_body(
    receive: Receive, headers: tuple[tuple[str, str], ...], limit: int, timeout: float
) -> bytes:
    """The whole body, at most `limit` bytes, within `timeout` seconds."""
    for name, value in headers:
        if name == "content-length" and value.strip().isdigit() and int(value) > limit:
            raise BatchTooLarge(f"The request body exceeds the limit of {limit} bytes.")

    async def collect() -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BatchTooLarge(f"The request body exceeds the limit of {limit} bytes.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    try:
        async with asyncio.timeout(timeout):
            return await collect()
    except TimeoutError:
        raise RequestTimeout(
            f"The request body was not received within {timeout:g} seconds."
        ) from None


class HttpDate:
    """The `Date` header value for now (RFC 7231 IMF-fixdate), formatted once per second."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._cached: tuple[int, bytes] = (-1, b"")  # one tuple: read and replaced atomically

    def now(self) -> bytes:
        """`Sun, 06 Nov 1994 08:49:37 GMT` for the current whole second."""
        second = int(self._clock())
        cached = self._cached
        if cached[0] != second:
            cached = (second, formatdate(second, usegmt=True).encode("latin-1"))
            self._cached = cached
        return cached[1]


async def send_response(send: Send, response: Response, date: HttpDate) -> None:
    """Send status, headers (with a `Date` taken now) and body."""
    headers = [
        (b"date", date.now()),
        (b"content-type", response.content_type.encode("latin-1")),
        (b"content-length", str(len(response.body)).encode("latin-1")),
    ]
    headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers)
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
