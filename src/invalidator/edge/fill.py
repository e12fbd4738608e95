"""An origin body downloaded for the cache by a task of its own, read by any number of viewers.

The download is paced by the origin alone, never by a viewer: a viewer that reads slowly (or
stops) delays nobody else, and the body still reaches the cache. Readers stream what has arrived
and wait for the rest. Memory is bounded: the body is buffered only up to the object limit,
with the bytes reserved in the cache's bound (all of a declared Content-Length at once, else
chunk by chunk). A body that turns out larger *overflows*: it will not be cached, and one
reader, the relay (the viewer whose request started the download), gets the rest, now paced by
that viewer; once the relay has left (or when there is none), the download stops.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger("invalidator.edge")
CHUNK = 65536


class FillFailed(Exception):
    """The download ended before the whole body arrived (or it cannot be read any more)."""


class Fill:
    """One body being downloaded into memory; `done` is set once it is complete or failed."""

    def __init__(self, limit: int, declared: int | None, reserve: Callable[[int], bool]) -> None:
        self.declared = declared  # the origin's Content-Length, when it sent one
        self.body: bytes | None = None  # the whole body, once complete
        self.failed = False
        self.overflowed = False
        self.done = asyncio.Event()
        self._limit = limit
        self._reserve = reserve
        self._reserved = 0
        self._buffer: io.BytesIO | None = io.BytesIO()
        self._size = 0
        self._changed = asyncio.Event()
        self._relay: deque[bytes] = deque()
        self._relay_reading = False
        self._relay_done = False
        self.task: asyncio.Task[None] | None = None

    @property
    def reserved(self) -> int:
        """Bytes this download holds reserved in the cache's bound."""
        return self._reserved

    def begin(self) -> bool:
        """Reserve a declared length up front; False when it cannot be cached at all."""
        if self.declared is None:
            return True
        if self.declared > self._limit or not self._reserve(self.declared):
            return False
        self._reserved = self.declared
        return True

    def start(
        self,
        chunks: AsyncIterator[bytes],
        on_complete: Callable[[bytes], None],
        on_end: Callable[[Fill], Awaitable[None]],
        *,
        relay: bool = False,
    ) -> None:
        """Run the download in its own task; `on_complete(body)` stores it, `on_end` cleans up.

        `relay`: a relay reader will read (`read(relay=True)`) or `leave()`; until then an
        overflow waits for it.
        """
        self._relay_reading = relay
        self.task = asyncio.create_task(self._download(chunks, on_complete, on_end))

    def leave(self) -> None:
        """The relay reader is gone (or never came): an overflow stops the download."""
        self._relay_reading = False
        self._notify()

    async def _download(
        self,
        chunks: AsyncIterator[bytes],
        on_complete: Callable[[bytes], None],
        on_end: Callable[[Fill], Awaitable[None]],
    ) -> None:
        try:
            async for chunk in chunks:
                if not self.overflowed and self._take(chunk):
                    continue
                if not self._relay_reading:
                    return  # too large to keep and nobody reading the rest
                self._relay.append(chunk)
                self._notify()
                while self._relay and self._relay_reading:
                    await self._changed_event()
                if not self._relay_reading:
                    return
            if self.overflowed:
                self._relay_done = True
                return
            assert self._buffer is not None
            self.body = self._buffer.getvalue()  # shares the buffer: no copy
            self._buffer = None
            on_complete(self.body)
        except Exception as exc:  # the origin failed mid-body: readers must know
            log.warning("origin body failed: %s", type(exc).__name__)
            self.failed = True
        finally:
            if self.body is None:  # nothing will read the buffer any more
                self.failed = self.failed or not self._relay_done
                self._buffer, self._size = None, 0
            self.done.set()
            self._notify()
            await on_end(self)

    def release_reservation(self) -> int:
        """Hand back what is reserved (the caller releases it in the cache); the bytes."""
        reserved, self._reserved = self._reserved, 0
        return reserved

    def _take(self, chunk: bytes) -> bool:
        """Buffer `chunk`; False (and overflowed) when the body is too large to keep."""
        size = self._size + len(chunk)
        if size > self._limit or (size > self._reserved and not self._grow(size - self._reserved)):
            self.overflowed = True
            self._notify()
            return False
        assert self._buffer is not None
        self._buffer.write(chunk)
        self._size = size
        self._notify()
        return True

    def _grow(self, more: int) -> bool:
        if self.declared is not None or not self._reserve(more):
            return False
        self._reserved += more
        return True

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _changed_event(self) -> None:
        await self._changed.wait()

    async def read(self, start: int = 0, end: int | None = None, *, relay: bool = False,
                   ) -> AsyncIterator[bytes]:  # fmt: skip
        """Bytes [start, end) of the body as they arrive; FillFailed if it never completes.

        `relay`: this reader also gets the bytes after an overflow (one reader at most).
        """
        pos = start
        if relay:
            assert start == 0 and end is None, "the relay reads the whole body"
        try:
            while True:
                body = self.body
                if body is not None:
                    stop = len(body) if end is None else min(end, len(body))
                    while pos < stop:
                        piece = body[pos : min(stop, pos + CHUNK)]
                        pos += len(piece)
                        yield piece
                    return
                stop = self._size if end is None else min(end, self._size)
                if pos < stop:
                    assert self._buffer is not None
                    with self._buffer.getbuffer() as view:
                        piece = bytes(view[pos : min(stop, pos + CHUNK)])
                    pos += len(piece)
                    yield piece
                    continue
                if end is not None and pos >= end:
                    return
                if self.failed:
                    raise FillFailed
                if self.overflowed:
                    if not relay:
                        raise FillFailed
                    while self._relay:
                        piece = self._relay.popleft()
                        self._notify()  # the download may fetch the next one
                        yield piece
                    if self._relay_done:
                        return
                    if self.done.is_set():
                        raise FillFailed
                await self._changed_event()
        finally:
            if relay:
                self.leave()
