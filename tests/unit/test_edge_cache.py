"""EdgeCache: LRU byte bound, per-object limit, Vary variants, expiry, lazy purge, sweep."""

from __future__ import annotations

import pytest

from invalidator.domain.errors import InvalidArgument
from invalidator.edge.cache import EdgeCache
from invalidator.edge.freshness import Freshness

TTL60 = Freshness(storable=True, ttl=60)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def put(
    cache: EdgeCache,
    path: str,
    body: bytes = b"x",
    *,
    query: str = "",
    request: dict[str, str] | None = None,
    headers: list[tuple[str, str]] | None = None,
    born: int = 0,
    fresh: Freshness = TTL60,
    tags: frozenset[str] = frozenset(),
    dist: str = "D1",
) -> bool:
    return cache.store(dist, path, query, request or {}, status=200, headers=headers or [],
                       body=body, freshness=fresh, born_pos=born, tags=tags)  # fmt: skip


def get(cache: EdgeCache, path: str, query: str = "", dist: str = "D1", **req: str) -> bytes | None:
    hit = cache.lookup(dist, path, query, req)
    return None if hit is None else hit.body


def test_store_and_lookup_counts_hits_and_misses() -> None:
    """A stored object is served; stats count hits, misses, entries and bytes."""
    cache = EdgeCache(10_000, 1_000)
    assert get(cache, "/a") is None
    assert put(cache, "/a", b"hello")
    assert get(cache, "/a") == b"hello"
    stats = cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (1, 1, 1)
    assert stats.bytes > 5


def test_lru_eviction_keeps_the_byte_bound() -> None:
    """Storing past max_bytes evicts least recently used entries first."""
    cache = EdgeCache(max_bytes=3 * 1300, max_object_bytes=1300)
    for name in ("/a", "/b", "/c"):
        put(cache, name, b"x" * 1000)
    assert get(cache, "/a") is not None  # /a is now most recently used
    put(cache, "/d", b"x" * 1000)
    assert get(cache, "/b") is None
    assert all(get(cache, p) is not None for p in ("/a", "/c", "/d"))
    assert cache.stats().evictions == 1
    assert cache.stats().bytes <= cache.max_bytes


def test_per_object_limit() -> None:
    """Objects larger than max_object_bytes are not stored."""
    cache = EdgeCache(100_000, 2_000)
    assert not put(cache, "/big", b"x" * 2_000)
    assert put(cache, "/small", b"x" * 1_000)
    assert get(cache, "/big") is None


def test_expiry_counts_initial_age() -> None:
    """An entry expires ttl - initial age seconds after it was stored; Age grows."""
    clock = Clock()
    cache = EdgeCache(10_000, 1_000, monotonic=clock)
    put(cache, "/a", fresh=Freshness(storable=True, ttl=60, age=20))
    clock.now += 30
    hit = cache.lookup("D1", "/a", "", {})
    assert hit is not None and hit.age == 50
    clock.now += 10
    assert get(cache, "/a") is None
    assert cache.stats().entries == 0


def test_vary_variants_and_one_purge_removes_all() -> None:
    """Vary variants hang under one key; a purge of the path removes every variant."""
    cache = EdgeCache(100_000, 10_000)
    vary = [("Vary", "Accept-Encoding")]
    put(cache, "/v", b"gz", headers=vary, request={"accept-encoding": "gzip"})
    put(cache, "/v", b"plain", headers=vary)
    assert get(cache, "/v", **{"accept-encoding": "gzip"}) == b"gz"
    assert get(cache, "/v") == b"plain"
    assert get(cache, "/v", **{"accept-encoding": "br"}) is None
    assert cache.stats().variants == 2
    cache.purge("D1", ["/v"], pos=1)
    assert get(cache, "/v", **{"accept-encoding": "gzip"}) is None
    assert get(cache, "/v") is None
    assert cache.stats().variants == 0


def test_exact_purge_covers_query_variants_lazily() -> None:
    """`/a` purges `/a?v=1` and `/a?v=2`; `/a?v=1` only that one."""
    cache = EdgeCache(100_000, 10_000)
    for query in ("", "v=1", "v=2"):
        put(cache, "/a", query.encode(), query=query)
    cache.purge("D1", ["/a?v=1"], pos=1)
    assert get(cache, "/a", "v=1") is None
    assert get(cache, "/a", "v=2") == b"v=2"
    cache.purge("D1", ["/a"], pos=2)
    assert get(cache, "/a", "v=2") is None
    assert get(cache, "/a") is None


def test_wildcard_and_tag_purge_are_per_distribution() -> None:
    """Rules of one distribution never touch another's entries."""
    cache = EdgeCache(100_000, 10_000)
    put(cache, "/img/a", dist="D1", tags=frozenset({"t"}))
    put(cache, "/img/a", dist="D2", tags=frozenset({"t"}))
    cache.purge("D1", ["/img/*"], pos=1)
    cache.purge("D2", ["#nope"], pos=2)
    assert get(cache, "/img/a", dist="D1") is None
    assert get(cache, "/img/a", dist="D2") is not None
    cache.purge("D2", ["#T"], pos=3)
    assert get(cache, "/img/a", dist="D2") is None


def test_raced_fetch_is_born_stale() -> None:
    """A fetch stamped before a matching purge is refused at store time and never served."""
    cache = EdgeCache(100_000, 10_000)
    with cache.fetching(4):  # fetch starts at applied position 4
        cache.purge("D1", ["/race*"], pos=5)  # purge applied while in flight
        cache.sweep()  # compaction must keep the rule for the in-flight fetch
        cache.sweep()
        assert not put(cache, "/race/x", b"old", born=4)
    assert get(cache, "/race/x") is None
    assert put(cache, "/race/x", b"new", born=5)
    assert get(cache, "/race/x") == b"new"


def test_invalid_item_records_nothing() -> None:
    """An invalid item raises InvalidArgument and no rule of the batch is recorded."""
    cache = EdgeCache(100_000, 10_000)
    put(cache, "/a")
    with pytest.raises(InvalidArgument):
        cache.purge("D1", ["/b*", "no-slash"], pos=1)
    assert cache.stats().rules == 0


def test_sweep_removes_dead_entries_in_slices_and_compacts_rules() -> None:
    """sweep() removes expired and purged entries a slice at a time, then drops old rules."""
    clock = Clock()
    cache = EdgeCache(10**7, 10_000, monotonic=clock)
    for i in range(100):
        put(cache, f"/p/{i}", fresh=Freshness(storable=True, ttl=10 if i % 2 else 60))
    cache.purge("D1", ["/p/1*"], pos=1)  # /p/1, /p/10..19
    clock.now += 20
    removed = 0
    for _ in range(30):
        removed += cache.sweep(max_entries=10)
    assert removed == 50 + 5  # the odd ones expired, /p/10, 12, 14, 16, 18 purged
    assert cache.stats().entries == 45
    assert cache.stats().rules == 1  # entries born at 0 still live: the rule stays
    cache.clear()
    cache.sweep()
    assert cache.stats().rules == 0


def test_drop_distribution_and_clear() -> None:
    """drop_distribution forgets one distribution's entries and rules; clear forgets all."""
    cache = EdgeCache(100_000, 10_000)
    put(cache, "/a", dist="D1")
    put(cache, "/a", dist="D2")
    cache.purge("D1", ["/zzz"], pos=1)
    cache.drop_distribution("D1")
    assert get(cache, "/a", dist="D1") is None
    assert get(cache, "/a", dist="D2") is not None
    assert cache.stats().rules == 0
    cache.clear()
    assert cache.stats().entries == 0 and cache.stats().bytes == 0


def test_fetch_started_before_clear_is_not_stored() -> None:
    """clear() voids fetches under way: positions from before it mean nothing after."""
    cache = EdgeCache(100_000, 10_000)
    with cache.fetching(40) as epoch:
        cache.clear()  # e.g. the event log was reset and positions start again
        stored = cache.store("D1", "/a", "", {}, status=200, headers=[], body=b"old",
                             freshness=TTL60, born_pos=40, epoch=epoch)  # fmt: skip
    assert not stored
    assert get(cache, "/a") is None
