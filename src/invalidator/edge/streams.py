"""What a miss shares and streams: the flight of one fetch, the bodies answers read, and
the watch on a viewer that may leave.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from invalidator.edge.fill import Fill
from invalidator.edge.keys import HOP_BY_HOP
from invalidator.edge.responses import Head, http_date

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_ANSWER_DROPS = frozenset({b"content-length", b"age", b"via", b"x-cache"})


@dataclass
class Flight:
    """A fetch concurrent requests for one key share; `settled` once its outcome is known."""

    settled: asyncio.Event = field(default_factory=asyncio.Event)
    fill: Fill | None = None
    head: Head | None = None
    vary: tuple[str, ...] = ()
    vary_values: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    born_pos: int = 0


class Viewer:
    """Notices when the viewer disconnects mid-response (watching `receive`) and then cancels
    its handler, so an origin download nobody wants stops at once."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[None] | None = None
        self._handler = asyncio.current_task()
        self.gone = False
        self.finished = False

    def tracking(self, send: Send) -> Send:
        """Start watching (the request body, if any, has been read); `send` that notes the
        end of the response."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.finished = True
            await send(message)

        return tracked

    async def _run(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                if not self.finished:  # uvicorn also says so once the response is complete
                    self.gone = True
                    if self._handler is not None:
                        self._handler.cancel("viewer gone")
                return

    def close(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()

    def is_gone(self) -> bool:
        """Whether the viewer has left."""
        return self.gone


@dataclass(frozen=True, slots=True)
class FillBody:
    """A body read from a download in progress."""

    fill: Fill
    relay: bool = False

    async def chunks(self, start: int, end: int | None) -> AsyncIterator[bytes]:
        async for chunk in self.fill.read(
            start, end, relay=self.relay and not start and end is None
        ):
            yield chunk


@dataclass(frozen=True, slots=True)
class OriginBody:
    """A body streamed from the origin as it arrives (bytes outside [start, end) skipped)."""

    response: httpx.Response

    async def chunks(self, start: int, end: int | None) -> AsyncIterator[bytes]:
        pos = 0
        async for chunk in self.response.aiter_raw():
            lo, hi = pos, pos + len(chunk)
            pos = hi
            if hi <= start:
                continue
            piece = chunk[max(0, start - lo) : len(chunk) if end is None else max(0, end - lo)]
            if piece:
                yield piece
            if end is not None and pos >= end:
                return


def origin_head(
    status: int, pairs: list[tuple[str, str]], length: int | None, *, keep_cookies: bool
) -> Head:
    """The head of an origin answer as the viewer gets it (Set-Cookie only when cookies are
    forwarded)."""
    headers = []
    via = None
    age = 0
    etag = last_modified = None
    for name, value in pairs:
        raw_name, raw_value = name.encode("latin-1"), value.encode("latin-1")
        if raw_name == b"via":
            via = raw_value if via is None else via + b", " + raw_value
        elif raw_name == b"age":
            age = int(value) if value.strip().isdigit() else 0
        elif raw_name in _ANSWER_DROPS or (raw_name == b"set-cookie" and not keep_cookies):
            continue
        else:
            headers.append((raw_name, raw_value))
            if raw_name == b"etag":
                etag = value
            elif raw_name == b"last-modified":
                last_modified = value
    return Head(status, tuple(headers), via, etag, last_modified, length, age)


def response_pairs(response: httpx.Response) -> list[tuple[str, str]]:
    """The origin's end-to-end headers (lowercased names), with a Date when it sent none."""
    pairs = [(n.lower(), v) for n, v in response.headers.multi_items()]
    listed = {t.strip().lower() for n, v in pairs if n == "connection" for t in v.split(",")}
    pairs = [(n, v) for n, v in pairs if n not in HOP_BY_HOP and n not in listed]
    if not any(n == "date" for n, _ in pairs):
        pairs.append(("date", http_date()))
    return pairs


def vary_names(fields: dict[str, str]) -> tuple[str, ...]:
    """The request headers a response varies on (lowercased, sorted)."""
    names = {v.strip().lower() for v in fields.get("vary", "").split(",") if v.strip()}
    return tuple(sorted(names))


def declared_length(fields: dict[str, str]) -> int | None:
    """The response's Content-Length, when it sent a valid one."""
    try:
        return int(fields["content-length"])
    except (KeyError, ValueError):
        return None
