"""A small controllable origin server for edge tests.

    with Origin() as origin:
        origin.set("/a.txt", b"v1", headers=[("Cache-Control", "max-age=60")])
        ...  # point a distribution at origin.url
        origin.count("/a.txt")  # requests that reached the origin for this path

Each resource has a status, headers, body (or a generated body of `stream_size` bytes sent in
chunks, so huge bodies cost no memory), a delay before answering and an optional
`threading.Event` the response waits for. Every request is recorded (method, path, query,
headers, body). Served by a real uvicorn in a background thread; safe to drive from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.support.uvicorn_server import ThreadedUvicorn

CHUNK = b"x" * 65536


@dataclass
class Resource:
    """What the origin answers for one path."""

    body: bytes = b""
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    stream_size: int | None = None  # generated body of this many bytes, streamed
    hold: threading.Event | None = None  # answer only once this is set


@dataclass(frozen=True)
class Seen:
    """One request as the origin received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class Origin:
    """The origin: resources by decoded path, request counters, a real HTTP server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resources: dict[str, Resource] = {}
        self._counts: Counter[str] = Counter()
        self.seen: list[Seen] = []
        self._server = ThreadedUvicorn(self._app, lifespan="off")
        self.url = self._server.url
        self.port = self._server.port

    def __enter__(self) -> Origin:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for resource in self._resources.values():
            if resource.hold is not None:
                resource.hold.set()
        self._server.stop()

    def set(self, path: str, body: bytes = b"", **fields: Any) -> Resource:
        """Define (or replace) what `path` answers."""
        resource = Resource(body=body, **fields)
        with self._lock:
            self._resources[path] = resource
        return resource

    def count(self, path: str) -> int:
        """How many requests for `path` (any query) reached the origin."""
        with self._lock:
            return self._counts[path]

    def last(self, path: str) -> Seen:
        """The latest request for `path`."""
        with self._lock:
            return next(s for s in reversed(self.seen) if s.path == path)

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen = Seen(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers={k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
        )
        with self._lock:
            self._counts[seen.path] += 1
            self.seen.append(seen)
            resource = self._resources.get(seen.path)
        if resource is None:
            resource = Resource(b"not found", status=404, headers=[("Cache-Control", "no-store")])
        if resource.hold is not None:
            await asyncio.to_thread(resource.hold.wait, 30)
        if resource.delay:
            await asyncio.sleep(resource.delay)
        headers = [(n.lower().encode(), v.encode()) for n, v in resource.headers]
        size = resource.stream_size if resource.stream_size is not None else len(resource.body)
        headers.append((b"content-length", str(size).encode()))
        await send({"type": "http.response.start", "status": resource.status, "headers": headers})
        if resource.stream_size is None:
            await send({"type": "http.response.body", "body": resource.body})
            return
        left = resource.stream_size
        while left > 0:
            chunk = CHUNK[: min(left, len(CHUNK))]
            left -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
