"""Fill: a download paced by its source alone, read by any number of readers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from invalidator.edge.fill import Fill, FillFailed


class Source:
    """Chunks released one by one by the test (a stand-in for an origin body)."""

    def __init__(self, chunks: list[bytes], fail_at: int | None = None) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.gate = asyncio.Queue[None]()
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            await self.gate.get()
            if index == self.fail_at:
                raise ConnectionResetError
            self.sent += 1
            yield chunk

    def release(self, count: int) -> None:
        for _ in range(count):
            self.gate.put_nowait(None)


class Budget:
    def __init__(self, left: int) -> None:
        self.left = left

    def __call__(self, size: int) -> bool:
        if size > self.left:
            return False
        self.left -= size
        return True


async def start(fill: Fill, source: Source, *, relay: bool = False) -> list[bytes]:
    stored: list[bytes] = []

    async def ended(_: Fill) -> None:
        pass

    fill.start(source.__aiter__(), stored.append, ended, relay=relay)
    return stored


async def read_all(fill: Fill, **kw: object) -> bytes:
    return b"".join([chunk async for chunk in fill.read(**kw)])  # type: ignore[arg-type]


async def test_download_completes_without_any_reader_and_shares_the_body() -> None:
    """Nobody reads: the body still arrives and is stored; late readers get all of it."""
    fill = Fill(100, 9, Budget(100))
    assert fill.begin()
    source = Source([b"abc", b"def", b"ghi"])
    stored = await start(fill, source)
    source.release(3)
    await asyncio.wait_for(fill.done.wait(), 5)
    assert stored == [b"abcdefghi"] and fill.body == b"abcdefghi"
    assert await read_all(fill) == b"abcdefghi"
    assert await read_all(fill, start=2, end=5) == b"cde"


async def test_a_stalled_reader_does_not_hold_back_the_download_or_others() -> None:
    """One reader takes a chunk and stops; the download and a second reader go on."""
    fill = Fill(100, 6, Budget(100))
    assert fill.begin()
    source = Source([b"ab", b"cd", b"ef"])
    await start(fill, source, relay=True)
    stalled = fill.read(relay=True)
    source.release(1)
    assert await asyncio.wait_for(stalled.__anext__(), 5) == b"ab"
    source.release(2)
    assert await asyncio.wait_for(read_all(fill), 5) == b"abcdef"
    assert source.sent == 3
    await stalled.aclose()


async def test_readers_see_a_failed_download() -> None:
    """The origin dropping mid-body: readers raise FillFailed, nothing is stored."""
    fill = Fill(100, 6, Budget(100))
    assert fill.begin()
    source = Source([b"ab", b"cd", b"ef"], fail_at=1)
    stored = await start(fill, source)
    reader = asyncio.create_task(read_all(fill))
    source.release(2)
    with pytest.raises(FillFailed):
        await asyncio.wait_for(reader, 5)
    assert stored == [] and fill.failed


async def test_a_declared_length_beyond_the_bound_is_refused() -> None:
    """A Content-Length over the object limit, or that cannot be reserved, is not filled."""
    assert not Fill(10, 11, Budget(100)).begin()
    assert not Fill(100, 50, Budget(40)).begin()
    budget = Budget(40)
    fill = Fill(100, 30, budget)
    assert fill.begin() and budget.left == 10 and fill.release_reservation() == 30


async def test_an_overflowing_body_goes_on_to_the_relay_only() -> None:
    """Unknown length, too large: not stored; the relay reader gets every byte, paced."""
    fill = Fill(4, None, Budget(100))
    assert fill.begin()
    source = Source([b"ab", b"cd", b"ef", b"gh"])
    stored = await start(fill, source, relay=True)
    relay = asyncio.create_task(read_all(fill, relay=True))
    other = asyncio.create_task(read_all(fill))
    source.release(4)
    assert await asyncio.wait_for(relay, 5) == b"abcdefgh"
    with pytest.raises(FillFailed):
        await asyncio.wait_for(other, 5)
    assert stored == [] and fill.overflowed


async def test_an_overflow_without_relay_stops_the_download() -> None:
    """Too large and the relay gone (a HEAD, a viewer that left): the download stops."""
    fill = Fill(4, None, Budget(100))
    assert fill.begin()
    source = Source([b"ab", b"cd", b"ef", b"gh"])
    await start(fill, source, relay=True)
    source.release(4)
    await asyncio.sleep(0.05)
    assert source.sent == 3 and not fill.done.is_set()  # waiting for its relay
    fill.leave()
    await asyncio.wait_for(fill.done.wait(), 5)
    assert source.sent == 3 and fill.failed
