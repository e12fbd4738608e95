"""A small controllable origin server for edge tests.

    with Origin() as origin:
        origin.set("/a.txt", b"v1", headers=[("Cache-Control", "max-age=60")])
        ...  # point a distribution at origin.url
        origin.count("/a.txt")  # requests that reached the origin for this path

Each resource has a status, headers, body (or a generated body of `stream_size` bytes sent in
chunks, so huge bodies cost no memory, optionally `chunk_delay` apart), a delay before answering
and an optional `threading.Event` the response waits for. With `revalidate` it answers a
matching If-None-Match / If-Modified-Since with a 304 (headers `not_modified_headers`, else its
own); with `echo` its body is the raw path and query it was asked for. Resources are found by
raw path first (so `/a%2Fb` and `/a/b` can differ), then decoded path. Every request is
recorded (method, path, raw path, query, headers, body), and each streamed body's fate:
`streamed(path)` tells how many bytes were sent and whether the client left before the end.
Served by a real uvicorn in a background thread; safe to drive from any thread.
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
    chunk_delay: float = 0.0  # pause between the chunks of a streamed body
    revalidate: bool = False  # answer matching conditional requests with a 304
    not_modified_headers: list[tuple[str, str]] | None = None  # the 304's headers
    echo: bool = False  # the body is the raw path and query asked for
    chunked: bool = False  # send no Content-Length (chunked transfer encoding)


@dataclass
class Streamed:
    """What became of one streamed body."""

    sent: int = 0
    left_early: bool = False  # the client disconnected before the whole body was sent


@dataclass(frozen=True)
class Seen:
    """One request as the origin received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    raw_path: str = ""


class Origin:
    """The origin: resources by decoded path, request counters, a real HTTP server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resources: dict[str, Resource] = {}
        self._counts: Counter[str] = Counter()
        self.seen: list[Seen] = []
        self._streams: dict[str, list[Streamed]] = {}
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

    def streamed(self, path: str) -> list[Streamed]:
        """The streamed bodies sent for `path` so far."""
        with self._lock:
            return list(self._streams.get(path, []))

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        seen = Seen(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers={k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
            raw_path=raw_path,
        )
        with self._lock:
            self._counts[seen.path] += 1
            self.seen.append(seen)
            resource = self._resources.get(raw_path) or self._resources.get(seen.path)
        if resource is None:
            resource = Resource(b"not found", status=404, headers=[("Cache-Control", "no-store")])
        if resource.hold is not None:
            await asyncio.to_thread(resource.hold.wait, 30)
        if resource.delay:
            await asyncio.sleep(resource.delay)
        if resource.revalidate and _not_modified(seen.headers, resource.headers):
            headers = resource.not_modified_headers
            headers = resource.headers if headers is None else headers
            encoded = [(n.lower().encode(), v.encode()) for n, v in headers]
            await send({"type": "http.response.start", "status": 304, "headers": encoded})
            await send({"type": "http.response.body", "body": b""})
            return
        payload = resource.body
        if resource.echo:
            payload = f"{raw_path}?{seen.query}".encode("latin-1")
        headers = [(n.lower().encode(), v.encode()) for n, v in resource.headers]
        size = resource.stream_size if resource.stream_size is not None else len(payload)
        if not resource.chunked:
            headers.append((b"content-length", str(size).encode()))
        await send({"type": "http.response.start", "status": resource.status, "headers": headers})
        if resource.stream_size is None:
            await send({"type": "http.response.body", "body": payload})
            return
        await self._stream(seen.path, resource, receive, send)

    async def _stream(self, path: str, resource: Resource, receive: Any, send: Any) -> None:
        record = Streamed()
        with self._lock:
            self._streams.setdefault(path, []).append(record)
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        try:
            left = resource.stream_size or 0
            while left > 0:
                if gone.is_set():
                    record.left_early = True
                    return
                chunk = CHUNK[: min(left, len(CHUNK))]
                left -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
                record.sent += len(chunk)
                if resource.chunk_delay:
                    await asyncio.sleep(resource.chunk_delay)
        finally:
            watcher.cancel()


def _not_modified(request: dict[str, str], headers: list[tuple[str, str]]) -> bool:
    fields = {n.lower(): v for n, v in headers}
    if "if-none-match" in request:
        return fields.get("etag") is not None and fields["etag"] in request["if-none-match"]
    return (
        "if-modified-since" in request
        and fields.get("last-modified") is not None
        and request["if-modified-since"] == fields["last-modified"]
    )
