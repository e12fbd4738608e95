"""EdgeCache: LRU byte bound, per-object limit, Vary variants, expiry, lazy purge, sweep."""

from __future__ import annotations

import gc
import tracemalloc
from urllib.parse import quote, unquote

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
    probe = EdgeCache(10**6, 10**5)
    put(probe, "/z", b"x" * 1000)
    one = probe.stats().bytes  # what one such object really costs, bookkeeping included
    cache = EdgeCache(max_bytes=3 * one + one // 2, max_object_bytes=one + 100)
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


@pytest.mark.parametrize("item", ["/日本.png", "/%E6%97%A5%E6%9C%AC.png", "/€?q=é", "/é"])
def test_purge_of_non_latin1_items(item: str) -> None:
    """Items are text (any UTF-8), keys the normalized wire spelling of its UTF-8 bytes: a purge
    with characters beyond Latin-1 removes the object (it once raised UnicodeEncodeError, and
    the edge stopped applying the log there)."""
    cache = EdgeCache(100_000, 10_000)
    path, _, query = item.partition("?")
    wire = quote(unquote(path), safe="/")
    wire_query = quote(unquote(query), safe="=&")
    put(cache, wire, b"old", query=wire_query)
    put(cache, "/other", b"keep")
    cache.purge("D1", [item], pos=1)
    assert get(cache, wire, wire_query) is None
    assert get(cache, "/other") == b"keep"


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
    # the survivors passed the check and were re-stamped past the rule: compaction dropped it
    assert cache.stats().rules == 0
    assert get(cache, "/p/0") is not None and get(cache, "/p/10") is None
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


def _fill_like_an_origin(cache: EdgeCache, count: int, size: int) -> None:
    for i in range(count):
        headers = [("date", "Mon, 01 Jan 2024 00:00:00 GMT"), ("server", "uvicorn"),
                   ("cache-control", "max-age=600"), ("content-type", "text/html"),
                   ("etag", f'"e{i}"')]  # fmt: skip
        cache.store("D1", f"/o/{i}.html", "", {}, status=200, headers=headers,
                    body=bytes(size), freshness=TTL60, born_pos=0, variant="gzip")  # fmt: skip


@pytest.mark.parametrize(("count", "size"), [(20_000, 100), (200, 100_000)])
def test_accounted_bytes_match_what_python_allocates(count: int, size: int) -> None:
    """The byte bound counts what is really held: within 1.5x of tracemalloc's figure."""
    cache = EdgeCache(1 << 40, 1 << 30)
    gc.collect()
    tracemalloc.start()
    try:
        _fill_like_an_origin(cache, count, size)
        gc.collect()
        allocated, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    accounted = cache.stats().bytes
    assert allocated / 1.5 <= accounted <= allocated * 1.5, (accounted, allocated)


def test_a_long_lived_entry_does_not_keep_every_rule() -> None:
    """The sweep re-stamps entries that passed the check, so compaction can drop old rules."""
    cache = EdgeCache(10**8, 10_000)
    put(cache, "/hot", b"hot", born=0)
    for pos in range(1, 2001):
        cache.purge("D1", [f"/other/{pos}", f"/img/{pos}/*"], pos)
        if pos % 100 == 0:
            for _ in range(3):  # a full walk, then compaction
                cache.sweep()
    assert cache.stats().rules == 0  # before: all 4,000 kept for the one entry born at 0
    assert get(cache, "/hot") == b"hot"
    cache.purge("D1", ["/hot"], 2001)
    assert get(cache, "/hot") is None


def test_rules_count_against_the_bound() -> None:
    """Purge rules are memory too: recording many evicts cached objects to stay in bounds."""
    cache = EdgeCache(60_000, 10_000)
    for i in range(20):
        put(cache, f"/k/{i}", b"x" * 1000)
    before = cache.stats().entries
    cache.purge("D1", [f"/unrelated/{i}/*" for i in range(300)], 1)
    stats = cache.stats()
    assert stats.rule_bytes > 0 and stats.entries < before
    assert stats.bytes + stats.rule_bytes <= cache.max_bytes


def test_reserved_downloads_count_against_the_bound() -> None:
    """Bytes reserved by downloads in flight evict LRU entries; what cannot fit is refused."""
    cache = EdgeCache(50_000, 20_000)
    for i in range(10):
        put(cache, f"/r/{i}", b"x" * 3000)
    assert cache.reserve(20_000)
    assert cache.stats().in_flight_bytes == 20_000
    assert cache.stats().bytes + 20_000 <= cache.max_bytes
    assert get(cache, "/r/0") is None and get(cache, "/r/9") is not None
    assert not cache.reserve(20_001)  # larger than an object may be
    assert cache.reserve(20_000) and not cache.reserve(20_000)  # the bound is full
    cache.release(40_000)
    assert cache.stats().in_flight_bytes == 0


def test_expired_copy_with_a_validator_is_kept_for_revalidation() -> None:
    """Expired with an ETag: no hit, but `stale` hands it out and `refresh` brings it back."""
    clock = Clock()
    cache = EdgeCache(100_000, 10_000, monotonic=clock)
    put(cache, "/v", b"body", headers=[("ETag", '"1"')], fresh=Freshness(True, ttl=10))
    clock.now += 11
    assert get(cache, "/v") is None
    stale = cache.stale("D1", "/v", "", {})
    assert stale is not None and stale.etag == '"1"'
    fresh = cache.refresh("D1", "/v", "", stale, headers=[("ETag", '"1"'), ("X-New", "y")],
                          freshness=Freshness(True, ttl=100), born_pos=3)  # fmt: skip
    assert fresh is not None and fresh.body == b"body" and fresh.age == 0
    hit = cache.lookup("D1", "/v", "", {})
    assert hit is not None and ("x-new", "y") in hit.header_pairs()


def test_a_purged_stale_copy_is_never_refreshed() -> None:
    """A purge recorded before or during revalidation: `stale` and `refresh` give None."""
    clock = Clock()
    cache = EdgeCache(100_000, 10_000, monotonic=clock)
    put(cache, "/p", b"old", headers=[("ETag", '"1"')], fresh=Freshness(True, ttl=10))
    clock.now += 11
    stale = cache.stale("D1", "/p", "", {})
    assert stale is not None
    cache.purge("D1", ["/p*"], pos=1)  # while the conditional request is in flight
    refreshed = cache.refresh("D1", "/p", "", stale, headers=[("ETag", '"1"')],
                              freshness=TTL60, born_pos=0)  # fmt: skip
    assert refreshed is None
    assert cache.stale("D1", "/p", "", {}) is None and get(cache, "/p") is None


@pytest.mark.parametrize("sweeps", [0, 2, 3])
def test_a_304_adding_a_tag_never_revives_a_copy_cached_before_its_purge(sweeps: int) -> None:
    """Tagged `a`, the object gains tag `b` at the origin; `#b` is purged (the sweep may then
    re-stamp the copy, which had no `b` to match, and a third sweep compacts the `#b` rule
    away); the 304 says `a,b`: the copy is not refreshed but removed, whatever the sweep
    did in between."""
    clock = Clock()
    cache = EdgeCache(100_000, 10_000, monotonic=clock)
    put(cache, "/t", b"old", headers=[("ETag", '"1"')], fresh=Freshness(True, ttl=10),
        tags=frozenset({"a"}))  # fmt: skip
    cache.purge("D1", ["#b"], pos=1)
    for _ in range(sweeps):  # a snapshot, the walk (re-stamps the copy to position 1),
        cache.sweep()  # then the compaction that drops the rule no live copy needs
    clock.now += 11
    stale = cache.stale("D1", "/t", "", {})
    assert stale is not None
    refreshed = cache.refresh("D1", "/t", "", stale, headers=[("ETag", '"1"')],
                              freshness=TTL60, born_pos=2, tags=frozenset({"a", "b"}))  # fmt: skip
    assert refreshed is None
    assert cache.stale("D1", "/t", "", {}) is None and get(cache, "/t") is None


def _refresh_gaining_b(dist: str, purges: list[tuple[str, list[str], int]], sweeps: int) -> bool:
    """A copy tagged `a` in `dist`, the given purges and sweeps, then a 304 naming `a,b`:
    whether the copy came back (its body intact)."""
    clock = Clock()
    cache = EdgeCache(100_000, 10_000, monotonic=clock)
    put(cache, "/t", b"old", headers=[("ETag", '"1"')], fresh=Freshness(True, ttl=10),
        tags=frozenset({"a"}), dist=dist)  # fmt: skip
    for purged_in, items, pos in purges:
        cache.purge(purged_in, items, pos=pos)
    for _ in range(sweeps):
        cache.sweep()
    clock.now += 11
    stale = cache.stale(dist, "/t", "", {})
    assert stale is not None
    fresh = cache.refresh(dist, "/t", "", stale, headers=[("ETag", '"1"')],
                          freshness=TTL60, born_pos=9, tags=frozenset({"a", "b"}))  # fmt: skip
    return fresh is not None and fresh.body == b"old"


def test_a_304_adding_a_tag_after_unrelated_compactions_refreshes() -> None:
    """Compaction of another distribution's rules, or of path rules, drops no tag rule this
    copy could need: the 304 that adds a tag is still a RefreshHit."""
    purges = [("D1", ["#b", "/unrelated"], 1), ("D2", ["/other"], 2)]
    assert _refresh_gaining_b("D2", purges, sweeps=3)


def test_a_304_adding_a_tag_nobody_purged_refreshes() -> None:
    """A tag gained with no purge of it since the copy was fetched: a RefreshHit as ever."""
    assert _refresh_gaining_b("D1", [("D1", ["#c", "/other"], 1)], sweeps=0)


def test_a_304_with_the_same_or_fewer_tags_refreshes() -> None:
    """Tags unchanged, or one dropped: the copy comes back (nothing new to check)."""
    clock = Clock()
    cache = EdgeCache(100_000, 10_000, monotonic=clock)
    put(cache, "/t", b"old", headers=[("ETag", '"1"')], fresh=Freshness(True, ttl=10),
        tags=frozenset({"a", "b"}))  # fmt: skip
    for tags in (frozenset({"a", "b"}), frozenset({"a"})):
        clock.now += 11
        stale = cache.stale("D1", "/t", "", {})
        assert stale is not None
        fresh = cache.refresh("D1", "/t", "", stale, headers=[("ETag", '"1"')],
                              freshness=Freshness(True, ttl=10), born_pos=1, tags=tags)  # fmt: skip
        assert fresh is not None and fresh.body == b"old"


def test_expired_copy_without_validator_is_dropped() -> None:
    """Without ETag or Last-Modified there is nothing to revalidate: it goes."""
    clock = Clock()
    cache = EdgeCache(100_000, 10_000, monotonic=clock)
    put(cache, "/n", fresh=Freshness(True, ttl=10))
    clock.now += 11
    assert cache.stale("D1", "/n", "", {}) is None
    assert get(cache, "/n") is None and cache.stats().entries == 0


def test_variants_and_normalized_spellings() -> None:
    """The variant string separates copies under one entry; purges match decoded spellings."""
    cache = EdgeCache(100_000, 10_000)
    cache.store("D1", "/a%20b", "", {}, status=200, headers=[], body=b"gz", freshness=TTL60,
                born_pos=0, variant="gzip")  # fmt: skip
    cache.store("D1", "/a%20b", "", {}, status=200, headers=[], body=b"id", freshness=TTL60,
                born_pos=0, variant="")  # fmt: skip
    assert cache.stats().entries == 1 and cache.stats().variants == 2
    gz = cache.lookup("D1", "/a%20b", "", {}, "gzip")
    assert gz is not None and gz.body == b"gz"
    cache.purge("D1", ["/a b"], pos=1)
    assert cache.lookup("D1", "/a%20b", "", {}, "") is None
    assert cache.stats().variants == 0
