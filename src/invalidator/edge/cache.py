"""The edge's in-memory object cache: byte-bounded LRU, Vary variants, lazy purge.

Entries are keyed by (distribution id, decoded path, decoded query or ""); the variants a `Vary`
response header selects hang under one entry, so whatever removes the entry removes them all.
Purges are recorded as `PurgeRules` per distribution and applied when an entry is read (and by
the background `sweep`), so a purge never scans the cache. Every variant remembers `born_pos`,
the log position its origin fetch started under; a rule recorded at a later position makes it
stale, which is how a fetch that raced a purge is born stale.

Not thread-safe: one event loop owns it.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from invalidator.domain.paths import ItemKind, parse_item
from invalidator.edge.freshness import Freshness
from invalidator.edge.purge import PurgeRules

CacheKey = tuple[str, str, str]
_MISSING = "\x00"  # a Vary-ed request header that was absent
_OVERHEAD = 256  # bookkeeping bytes counted per stored variant
_ALL_POSITIONS = sys.maxsize


@dataclass(frozen=True)
class CachedResponse:
    """A stored response as served: `age` is its current age in seconds."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    age: int
    etag: str | None
    last_modified: str | None
    prepared: object = None  # what the caller passed to `store` (e.g. pre-encoded headers)


@dataclass(frozen=True)
class CacheStats:
    """Counters of one cache."""

    entries: int
    variants: int
    bytes: int
    hits: int
    misses: int
    evictions: int
    rules: int


@dataclass(frozen=True, slots=True)
class _Variant:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stored_at: float
    ttl: int
    initial_age: int
    born_pos: int
    tags: frozenset[str]
    etag: str | None
    last_modified: str | None
    size: int
    prepared: object = None

    def expired(self, now: float) -> bool:
        return now - self.stored_at + self.initial_age >= self.ttl


class _Entry:
    __slots__ = ("variants", "vary")

    def __init__(self, vary: tuple[str, ...]) -> None:
        self.vary = vary
        self.variants: dict[tuple[str, ...], _Variant] = {}


def _vary_names(headers: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    names = [v.strip().lower() for n, v in headers if n.lower() == "vary" for v in v.split(",")]
    return tuple(sorted({n for n in names if n}))


def _vary_values(vary: tuple[str, ...], request_headers: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(request_headers.get(name, _MISSING).strip() for name in vary)


class EdgeCache:
    """Byte-bounded LRU of origin responses with lazy, position-stamped purges."""

    def __init__(
        self,
        max_bytes: int,
        max_object_bytes: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes <= 0 or max_object_bytes <= 0:
            raise ValueError("max_bytes and max_object_bytes must be positive")
        self.max_bytes = max_bytes
        self.max_object_bytes = min(max_object_bytes, max_bytes)
        self._now = monotonic
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._by_distribution: dict[str, set[CacheKey]] = {}
        self._rules: dict[str, PurgeRules] = {}
        self._born: dict[int, int] = {}  # born_pos -> live variants born there
        self._in_flight: dict[int, int] = {}  # born_pos -> fetches under way
        self._bytes = 0
        self._variants = 0
        self._hits = self._misses = self._evictions = 0
        self._sweep_keys: list[CacheKey] = []
        self._sweep_at = 0
        self._epoch = 0

    # -- reads -----------------------------------------------------------------------------

    def lookup(
        self, distribution_id: str, path: str, query: str, request_headers: Mapping[str, str]
    ) -> CachedResponse | None:
        """The fresh, unpurged variant for this request, or None (dropping a dead one)."""
        key = (distribution_id, path, query)
        entry = self._entries.get(key)
        variant = None
        now = 0.0
        if entry is not None:
            values = _vary_values(entry.vary, request_headers) if entry.vary else ()
            variant = entry.variants.get(values)
            if variant is not None:
                now = self._now()
                if self._dead(key, variant, now):
                    self._remove_variant(key, entry, values)
                    variant = None
        if variant is None:
            self._misses += 1
            return None
        self._entries.move_to_end(key)
        self._hits += 1
        return CachedResponse(
            status=variant.status,
            headers=variant.headers,
            body=variant.body,
            age=int(now - variant.stored_at) + variant.initial_age,
            etag=variant.etag,
            last_modified=variant.last_modified,
            prepared=variant.prepared,
        )

    def stats(self) -> CacheStats:
        """Current counters."""
        return CacheStats(
            entries=len(self._entries),
            variants=self._variants,
            bytes=self._bytes,
            hits=self._hits,
            misses=self._misses,
            evictions=self._evictions,
            rules=sum(len(r) for r in self._rules.values()),
        )

    # -- writes ----------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """How many times the cache was cleared: positions before a clear mean nothing after."""
        return self._epoch

    @contextmanager
    def fetching(self, born_pos: int) -> Iterator[int]:
        """Mark an origin fetch stamped `born_pos` as under way (compaction keeps its rules).

        Yields the current `epoch`; pass it to `store` so that a fetch started before a
        `clear()` (say, of a log that was reset) is never stored after it.
        """
        self._in_flight[born_pos] = self._in_flight.get(born_pos, 0) + 1
        try:
            yield self._epoch
        finally:
            _decrement(self._in_flight, born_pos)

    def store(
        self,
        distribution_id: str,
        path: str,
        query: str,
        request_headers: Mapping[str, str],
        *,
        status: int,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        freshness: Freshness,
        born_pos: int,
        tags: frozenset[str] = frozenset(),
        epoch: int | None = None,
        prepared: object = None,
    ) -> bool:
        """Store a response whose fetch started at `born_pos`; False when it may not be kept.

        Not stored: not storable, larger than max_object_bytes, `Vary: *`, already purged by a
        rule recorded after `born_pos`, or fetched in an `epoch` before the last `clear()`.
        `prepared` is kept opaque and handed back in every `CachedResponse` of this variant
        (the proxy keeps the response headers it sends, encoded once).
        """
        if not freshness.storable or (epoch is not None and epoch != self._epoch):
            return False
        size = len(body) + sum(len(n) + len(v) for n, v in headers) + _OVERHEAD
        if size > self.max_object_bytes:
            return False
        vary = _vary_names(headers)
        if "*" in vary:
            return False
        rules = self._rules.get(distribution_id)
        if rules is not None and rules.is_stale(path, query, tags, born_pos):
            return False
        key = (distribution_id, path, query)
        entry = self._entries.get(key)
        if entry is not None and entry.vary != vary:
            self._remove_entry(key)
            entry = None
        if entry is None:
            entry = self._entries[key] = _Entry(vary)
            self._by_distribution.setdefault(distribution_id, set()).add(key)
        values = _vary_values(vary, request_headers)
        if values in entry.variants:
            self._remove_variant(key, entry, values, keep_entry=True)
        fields = {n.lower(): v for n, v in headers}
        entry.variants[values] = _Variant(
            status=status,
            headers=tuple(headers),
            body=body,
            stored_at=self._now(),
            ttl=freshness.ttl,
            initial_age=freshness.age,
            born_pos=born_pos,
            tags=tags,
            etag=fields.get("etag"),
            last_modified=fields.get("last-modified"),
            size=size,
            prepared=prepared,
        )
        self._entries.move_to_end(key)
        self._bytes += size
        self._variants += 1
        self._born[born_pos] = self._born.get(born_pos, 0) + 1
        while self._bytes > self.max_bytes and self._entries:
            oldest = next(iter(self._entries))
            self._remove_entry(oldest)
            self._evictions += 1
        return True

    def purge(self, distribution_id: str, items: Sequence[str], pos: int) -> None:
        """Record the invalidation at log position `pos`: O(1) per item, no scan.

        Items are parsed with `parse_item(raw, tags_allowed=True)`; an invalid one raises
        InvalidArgument before any rule is recorded. Record the purge *before* the edge's
        applied position reaches `pos`, so no fetch can be stamped at `pos` while older.
        """
        parsed = [parse_item(raw, tags_allowed=True) for raw in items]
        rules = self._rules.setdefault(distribution_id, PurgeRules())
        for item in parsed:
            rules.add(item, pos)
            if item.kind is ItemKind.EXACT:  # free eager removal of the keyed entry
                key = (distribution_id, item.key, item.query or "")
                if key in self._entries:
                    self._remove_entry(key)

    def drop_distribution(self, distribution_id: str) -> None:
        """Forget a distribution's entries and rules."""
        for key in self._by_distribution.pop(distribution_id, set()):
            entry = self._entries.pop(key)
            for variant in entry.variants.values():
                self._forget(variant)
        self._rules.pop(distribution_id, None)

    def clear(self) -> None:
        """Forget everything, and void the fetches under way (hit/miss counters stay)."""
        self._epoch += 1
        self._entries.clear()
        self._by_distribution.clear()
        self._rules.clear()
        self._born.clear()
        self._bytes = self._variants = 0
        self._sweep_keys, self._sweep_at = [], 0

    def sweep(self, max_entries: int = 10_000) -> int:
        """Remove expired and purged variants among the next `max_entries` entries.

        Walks a snapshot of the keys across calls. A call that finds the walk finished compacts
        the purge rules no live entry or in-flight fetch still needs and takes a new snapshot
        (about 12 ms per million entries), and does nothing else. Returns the variants removed.
        """
        if self._sweep_at >= len(self._sweep_keys):
            self.compact()
            # the plain dict view: walking the LRU links of 1M keys is 50x slower
            self._sweep_keys, self._sweep_at = list(dict.keys(self._entries)), 0
            return 0  # the snapshot is this call's slice of work
        now = self._now()
        removed = 0
        end = min(self._sweep_at + max_entries, len(self._sweep_keys))
        for key in self._sweep_keys[self._sweep_at : end]:
            entry = self._entries.get(key)
            if entry is None:
                continue
            for values, variant in list(entry.variants.items()):
                if self._dead(key, variant, now):
                    self._remove_variant(key, entry, values)
                    removed += 1
        self._sweep_at = end
        return removed

    def compact(self) -> int:
        """Drop purge rules older than every live entry and in-flight fetch; rules dropped."""
        floor = min((*self._born, *self._in_flight), default=_ALL_POSITIONS)
        dropped = 0
        for distribution_id, rules in list(self._rules.items()):
            dropped += rules.compact(floor)
            if not len(rules):
                del self._rules[distribution_id]
        return dropped

    # -- internals -------------------------------------------------------------------------

    def _dead(self, key: CacheKey, variant: _Variant, now: float) -> bool:
        if variant.expired(now):
            return True
        rules = self._rules.get(key[0])
        return rules is not None and rules.is_stale(key[1], key[2], variant.tags, variant.born_pos)

    def _remove_variant(
        self, key: CacheKey, entry: _Entry, values: tuple[str, ...], *, keep_entry: bool = False
    ) -> None:
        self._forget(entry.variants.pop(values))
        if not entry.variants and not keep_entry:
            del self._entries[key]
            _discard(self._by_distribution, key)

    def _remove_entry(self, key: CacheKey) -> None:
        entry = self._entries.pop(key)
        for variant in entry.variants.values():
            self._forget(variant)
        _discard(self._by_distribution, key)

    def _forget(self, variant: _Variant) -> None:
        self._bytes -= variant.size
        self._variants -= 1
        _decrement(self._born, variant.born_pos)


def _decrement(counts: dict[int, int], pos: int) -> None:
    left = counts[pos] - 1
    if left:
        counts[pos] = left
    else:
        del counts[pos]


def _discard(index: dict[str, set[CacheKey]], key: CacheKey) -> None:
    keys = index.get(key[0])
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[key[0]]
